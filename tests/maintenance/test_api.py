"""Maintenance over HTTP (OPS-2, SVC-2): roles, problem+json on bad input, plans and their
preview, tasks done/skipped by duty staff, the log's search, day view, CSV, corrections,
admin-only delete (audited), the half-year book downloads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.core.timeutil import local, utcnow
from cityops.maintenance import tasks
from cityops.maintenance.log import add_entry

PLAN = {"name": "门户巡查", "layer": "application", "system_code": "SYS-EYE", "title": "城区之眼门户巡查",
        "steps": ["登录门户", "抽查 3 路视频"], "frequency": "weekly", "weekdays": [1, 4], "at_time": "09:30"}


def test_plans_roles_validation_and_preview(client, auth_headers):
    mgr, duty, street = auth_headers("manager"), auth_headers("duty"), auth_headers("street", "310105010")
    assert client.get("/api/v1/maintenance-plans").status_code == 401
    assert client.get("/api/v1/maintenance-plans", headers=street).status_code == 403
    assert client.post("/api/v1/maintenance-plans", json=PLAN, headers=duty).status_code == 403
    r = client.post("/api/v1/maintenance-plans", json=PLAN, headers=mgr)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["schedule"] == "每周一、四 09:30" and plan["weekdays"] == [1, 4]
    assert plan["active_from"].endswith("+08:00")
    bad = client.post("/api/v1/maintenance-plans", json={**PLAN, "name": "x", "at_time": "9点"}, headers=mgr)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "HH:MM" in bad.json()["detail"]
    dup = client.post("/api/v1/maintenance-plans", json=PLAN, headers=mgr)
    assert dup.status_code == 409
    pv = client.get(f"/api/v1/maintenance-plans/{plan['id']}/preview", headers=duty).json()
    assert len(pv["slots"]) == 5 and all(s.endswith("+08:00") and "T09:30:00" in s for s in pv["slots"])
    r = client.patch(f"/api/v1/maintenance-plans/{plan['id']}", json={"enabled": False}, headers=mgr)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert client.get("/api/v1/maintenance-plans/9999", headers=duty).status_code == 404
    assert client.post("/api/v1/maintenance-plans/seed", headers=mgr).json() == {"added": 7}
    assert client.delete(f"/api/v1/maintenance-plans/{plan['id']}", headers=mgr).status_code == 204


def test_tasks_done_and_skip_over_http(client, auth_headers, db):
    mgr, tech, auditor = auth_headers("manager"), auth_headers("technician"), auth_headers("auditor")
    client.post("/api/v1/maintenance-plans", json={**PLAN, "frequency": "daily", "weekdays": []}, headers=mgr)
    with db.session() as s:
        # the plan started now; generate as of tomorrow 12:00 Beijing so today's/tomorrow's slots exist
        tomorrow_noon = local(utcnow()).replace(hour=12, minute=0) + timedelta(days=1)
        made = tasks.generate(s, now=tomorrow_noon)
    assert made >= 1
    listed = client.get("/api/v1/maintenance-tasks?state=open", headers=auditor).json()
    assert listed["total"] == made
    tid = listed["items"][0]["id"]
    assert client.post(f"/api/v1/maintenance-tasks/{tid}/complete", json={"result": "ok"},
                       headers=auditor).status_code == 403
    bad = client.post(f"/api/v1/maintenance-tasks/{tid}/complete", json={"result": ""}, headers=tech)
    assert bad.status_code == 422 and "处理结果" in bad.json()["detail"]
    r = client.post(f"/api/v1/maintenance-tasks/{tid}/complete",
                    json={"result": "门户正常", "ticks": [0, 1], "actual_minutes": 12}, headers=tech)
    assert r.status_code == 200 and r.json()["state"] == "done" and r.json()["ticks"] == [0, 1]
    again = client.post(f"/api/v1/maintenance-tasks/{tid}/skip", json={"reason": "x"}, headers=tech)
    assert again.status_code == 409
    assert client.post("/api/v1/maintenance-tasks/999999/skip", json={"reason": "x"}, headers=tech).status_code == 404
    log = client.get("/api/v1/maintenance-log?kind=task", headers=auditor).json()
    assert log["total"] == 1 and "城区之眼门户巡查" in log["items"][0]["summary"]
    assert log["items"][0]["system_name"] == "城区之眼" and log["items"][0]["at"].endswith("+08:00")
    due = client.get("/api/v1/maintenance-tasks/due-today", headers=tech)
    assert due.status_code == 200 and all(t["state"] == "open" for t in due.json())


def test_log_search_day_view_csv_corrections_and_delete(client, auth_headers, db):
    duty, admin, mgr = auth_headers("duty"), auth_headers("admin"), auth_headers("manager")
    street = auth_headers("street", "310105010")
    at = utcnow() - timedelta(days=2)
    with db.session() as s:
        first = add_entry(s, kind="ticket", source="ticket", source_ref="41", summary="门户 502，重启 Nginx 后恢复",
                          author="li", at=at, system_code="SYS-DUTY").id
        add_entry(s, kind="inspection", source="checklist", source_ref="9", summary="机房巡检正常", at=at)
    day = local(at).date().isoformat()
    r = client.post("/api/v1/maintenance-log", json={"summary": "  ", "detail": "x"}, headers=duty)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/api/v1/maintenance-log", json={"summary": "x", "system_code": "SYS-NONE"}, headers=duty)
    assert r.status_code == 422
    assert client.post("/api/v1/maintenance-log", json={"summary": "x"}, headers=street).status_code == 403
    free = client.post("/api/v1/maintenance-log", json={"summary": "协助街道核对视频点位", "system_code": "SYS-EYE"},
                       headers=duty)
    assert free.status_code == 201 and free.json()["kind"] == "free"

    view = client.get(f"/api/v1/maintenance-log/days/{day}", headers=duty).json()
    assert view["total"] == 2 and [g["kind"] for g in view["groups"]] == ["ticket", "inspection"]
    found = client.get("/api/v1/maintenance-log?q=nginx", headers=duty).json()
    assert found["total"] == 1 and found["items"][0]["id"] == first
    assert client.get(f"/api/v1/maintenance-log?from={day}&to={day}", headers=duty).json()["total"] == 2
    assert client.get("/api/v1/maintenance-log?system=SYS-EYE", headers=duty).json()["total"] == 1
    assert client.get("/api/v1/maintenance-log?q=%25", headers=duty).json()["total"] == 0, "% is literal"
    bad = client.get("/api/v1/maintenance-log?from=2026-13-01", headers=duty)
    assert bad.status_code == 422
    assert client.get("/api/v1/maintenance-log?kind=gossip", headers=duty).status_code == 422

    fix = client.post(f"/api/v1/maintenance-log/{first}/corrections", json={"summary": "实为 504，原因同上"},
                      headers=duty)
    assert fix.status_code == 201 and fix.json()["corrects_id"] == first and fix.json()["kind"] == "ticket"

    exported = client.get("/api/v1/maintenance-log/export.csv?q=504", headers=mgr)
    assert exported.status_code == 200 and "filename*=UTF-8''" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "日期", "时间", "类别"] and len(rows) == 2 and rows[1][-1] == str(first)

    assert client.delete(f"/api/v1/maintenance-log/{first}?reason=重复", headers=mgr).status_code == 403
    assert client.delete(f"/api/v1/maintenance-log/{first}", headers=admin).status_code == 422
    assert client.delete(f"/api/v1/maintenance-log/{first}?reason=重复录入", headers=admin).status_code == 204
    with db.session() as s:
        trail = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "maintenance_log_entries",
                                                        AuditEntry.entity_id == str(first))))
        assert {"delete", "delete-reason"} <= {a.action for a in trail}


def test_half_year_downloads(client, auth_headers, db):
    duty = auth_headers("duty")
    with db.session() as s:
        add_entry(s, kind="free", summary="夜间巡检无异常", at=utcnow().replace(year=2026, month=3, day=2))
    r = client.get("/api/v1/maintenance-log/half-year.pdf?year=2026&half=1", headers=duty)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    assert "maintenance-log-2026-H1.pdf" in r.headers["content-disposition"]
    r = client.get("/api/v1/maintenance-log/half-year.docx?year=2026&half=2&period=service", headers=duty)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert client.get("/api/v1/maintenance-log/half-year.pdf?year=2026&half=3", headers=duty).status_code == 422
    assert client.get("/api/v1/maintenance-log/half-year.odt?year=2026&half=1", headers=duty).status_code == 422
    assert client.get("/api/v1/maintenance-log/half-year.pdf?year=2026&half=1").status_code == 401
