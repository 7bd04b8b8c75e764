"""Inspection plan and run API (OPS-1): roles, problem+json, run lifecycle, sign-off immutability."""

from __future__ import annotations

from cityops.core.timeutil import local, utcnow
from cityops.inspections import plan_service


def test_plans_and_runs_over_the_api(client, auth_headers, db):
    mgr, duty, auditor = auth_headers("manager"), auth_headers("duty"), auth_headers("auditor")
    r = client.post("/api/v1/inspection-plans", headers=mgr, json={"name": "午间巡检", "at_time": "12:5"})
    assert r.status_code == 422 and "HH:MM" in r.json()["detail"]
    assert client.post("/api/v1/inspection-plans", headers=duty, json={"name": "x"}).status_code == 403
    r = client.post("/api/v1/inspection-plans", headers=mgr, json={"name": "午间巡检", "at_time": "12:00",
                                                                   "manual_items": ["检查大屏", "检查备份"]})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["schedule"] == "daily" and plan["created_at"].endswith("+08:00")
    r = client.patch(f"/api/v1/inspection-plans/{plan['id']}", headers=mgr, json={"schedule": "monthly"})
    assert r.status_code == 422 and "每月" in r.json()["detail"]
    with db.session() as s:
        p = plan_service.get_plan(s, plan["id"])
        run_id = plan_service.start_run(s, p, plan_service.slot_of(p, local(utcnow()).date()), now=utcnow()).id
    runs = client.get("/api/v1/inspection-runs", headers=auditor).json()
    assert [x["id"] for x in runs] == [run_id] and runs[0]["missing"] == ["人工检查项「检查大屏」", "人工检查项「检查备份」"]
    assert client.post(f"/api/v1/inspection-runs/{run_id}/manual", headers=auditor, json={"index": 0, "ok": True}).status_code == 403
    r = client.post(f"/api/v1/inspection-runs/{run_id}/manual", headers=duty, json={"index": 5, "ok": True})
    assert r.status_code == 404
    for i in (0, 1):
        assert client.post(f"/api/v1/inspection-runs/{run_id}/manual", headers=duty, json={"index": i, "ok": True}).status_code == 200
    r = client.post(f"/api/v1/inspection-runs/{run_id}/sign", headers=duty, json={"conclusion": "maybe"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/inspection-runs/{run_id}/sign", headers=duty, json={"name": "张三", "conclusion": "normal"})
    assert r.status_code == 200 and r.json()["state"] == "signed" and r.json()["signed_at"].endswith("+08:00")
    r = client.post(f"/api/v1/inspection-runs/{run_id}/sign", headers=duty, json={"name": "李四", "conclusion": "normal"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/v1/inspection-runs/{run_id}", headers=auditor).json()["signed_by"] == "张三"
    assert client.get("/api/v1/inspection-runs/99999", headers=auditor).status_code == 404
