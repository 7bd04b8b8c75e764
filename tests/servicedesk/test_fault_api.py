"""Fault API (OPS-4): roles, problem+json on bad input, the flow over HTTP, brief downloads."""

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import docx
import pytest
from sqlalchemy import select

from cityops.servicedesk import fault_grades
from cityops.servicedesk.fault_models import FaultGrade


@pytest.fixture
def grades(db):
    with db.session() as s:
        fault_grades.seed_grades(s)
        return {g.level: g.id for g in s.scalars(select(FaultGrade))}


def recent(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def new_fault(client, headers, grade_id, **kw):
    body = {"title": "智能派单平台推送失败", "grade_id": grade_id, "occurred_at": recent(20),
            "system_codes": ["SYS-DISPATCH"], **kw}
    return client.post("/api/v1/faults", json=body, headers=headers)


def test_grades_read_by_staff_edited_by_managers(client, auth_headers, grades):
    duty = auth_headers("duty")
    r = client.get("/api/v1/fault-grades", headers=duty)
    assert r.status_code == 200 and [g["name"] for g in r.json()] == ["一级", "二级", "三级", "四级"]
    assert client.get("/api/v1/fault-grades", headers=auth_headers("street", "310105002")).status_code == 403
    assert client.patch(f"/api/v1/fault-grades/{grades[1]}", json={"response_minutes": 10},
                        headers=duty).status_code == 403
    mgr = auth_headers("manager")
    r = client.patch(f"/api/v1/fault-grades/{grades[1]}", json={"response_minutes": 10}, headers=mgr)
    assert r.status_code == 200 and r.json()["response_minutes"] == 10
    r = client.patch(f"/api/v1/fault-grades/{grades[1]}", json={"notify_teams": ["ghost"]}, headers=mgr)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "ghost" in r.json()["detail"]
    r = client.post("/api/v1/fault-grades", json={"level": 1, "name": "x", "response_minutes": 1,
                                                  "restore_minutes": 2}, headers=mgr)
    assert r.status_code == 409
    r = client.post("/api/v1/fault-grades", json={"level": 5, "name": "五级", "response_minutes": 0,
                                                  "restore_minutes": 2}, headers=mgr)
    assert r.status_code == 422
    r = client.post("/api/v1/fault-grades", json={"level": 5, "name": "五级", "label": "轻微", "response_minutes": 240,
                                                  "restore_minutes": 2880}, headers=mgr)
    assert r.status_code == 201
    assert client.delete(f"/api/v1/fault-grades/{r.json()['id']}", headers=mgr).status_code == 204
    assert client.delete("/api/v1/fault-grades/9999", headers=mgr).status_code == 404


def test_fault_flow_over_http(client, auth_headers, grades):
    duty, tech, auditor = auth_headers("duty"), auth_headers("technician"), auth_headers("auditor")
    assert new_fault(client, auditor, grades[3]).status_code == 403
    r = new_fault(client, duty, grades[3], description="派单平台接口返回 502")
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["number"].startswith("GZ") and len(f["number"]) == 13 and f["state"] == "open"
    assert f["grade"] == "三级" and f["occurred_at"].endswith("+08:00")
    assert f["status"]["response_overdue"] is False and f["timeline"][0]["kind"] == "state"
    fid = f["id"]
    r = client.post(f"/api/v1/faults/{fid}/entries", json={"text": "已联系派单平台运维"}, headers=tech)
    assert r.status_code == 201 and r.json()["text"] == "已联系派单平台运维"
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "responding"}, headers=tech)
    assert r.status_code == 200 and r.json()["state"] == "responding" and r.json()["status"]["response_met"]
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "closed"}, headers=tech)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    client.post(f"/api/v1/faults/{fid}/transition", json={"to": "restored"}, headers=tech)
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "closed"}, headers=tech)
    assert r.status_code == 422 and "原因分析" in r.json()["detail"]
    r = client.patch(f"/api/v1/faults/{fid}", json={"cause": "证书过期", "impact": "派单延迟 20 分钟",
                                                    "recovery": "更新证书并重推"}, headers=tech)
    assert r.status_code == 200
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "closed", "note": "复核完毕"}, headers=tech)
    assert r.status_code == 200 and r.json()["closed_at"]
    listing = client.get("/api/v1/faults?state=closed", headers=auditor).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == fid
    assert client.get("/api/v1/faults?open=true", headers=auditor).json()["total"] == 0
    assert client.get("/api/v1/faults/summary", headers=auditor).json()["open"] == 0


def test_fault_bad_input_is_problem_json(client, auth_headers, grades):
    duty = auth_headers("duty")
    r = new_fault(client, duty, grades[3], system_codes=["SYS-NOPE"])
    assert r.status_code == 422 and "SYS-NOPE" in r.json()["detail"]
    r = new_fault(client, duty, grades[3], occurred_at="2026-01-01T10:00:00")
    assert r.status_code == 422 and "时区" in r.json()["detail"]
    r = new_fault(client, duty, 9999)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/api/v1/faults", json={"title": ""}, headers=duty)
    assert r.status_code == 422 and r.json()["errors"]
    assert client.get("/api/v1/faults/9999", headers=duty).status_code == 404
    assert client.get("/api/v1/faults?state=weird", headers=duty).status_code == 422
    fid = new_fault(client, duty, grades[4]).json()["id"]
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "open"}, headers=duty)
    assert r.status_code == 422  # not a target state
    r = client.post(f"/api/v1/faults/{fid}/transition", json={"to": "responding", "at": recent(-30)}, headers=duty)
    assert r.status_code == 422 and "晚于" in r.json()["detail"]


def test_grade_change_over_http_is_on_the_timeline(client, auth_headers, grades):
    duty = auth_headers("duty")
    fid = new_fault(client, duty, grades[4]).json()["id"]
    r = client.patch(f"/api/v1/faults/{fid}", json={"grade_id": grades[2]}, headers=duty)
    assert r.status_code == 200 and r.json()["grade"] == "二级"
    kinds = [e["kind"] for e in r.json()["timeline"]]
    assert kinds.count("notified") == 2 and "grade" in kinds


def test_brief_downloads(client, auth_headers, grades):
    duty = auth_headers("duty")
    fid = new_fault(client, duty, grades[2]).json()["id"]
    number = client.get(f"/api/v1/faults/{fid}", headers=duty).json()["number"]
    r = client.get(f"/api/v1/faults/{fid}/brief.pdf", headers=auth_headers("auditor"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and b"/FontFile2" in r.content
    disposition = unquote(r.headers["content-disposition"])
    assert f"故障处理简报-{number}.pdf" in disposition and r.headers["cache-control"] == "no-store"
    r = client.get(f"/api/v1/faults/{fid}/brief.docx", headers=duty)
    assert r.status_code == 200 and "wordprocessingml" in r.headers["content-type"]
    word = docx.Document(io.BytesIO(r.content))
    assert "一、故障概况" in [p.text for p in word.paragraphs]
    assert client.get(f"/api/v1/faults/{fid}/brief.txt", headers=duty).status_code == 404
    assert client.get("/api/v1/faults/9999/brief.pdf", headers=duty).status_code == 404
    assert client.get(f"/api/v1/faults/{fid}/brief.pdf").status_code == 401
    assert client.get(f"/api/v1/faults/{fid}/brief.pdf", headers=auth_headers("street", "310105002")).status_code == 403
