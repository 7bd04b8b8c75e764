"""Scenario templates, script checks and the broadcast over HTTP (CALL-1): roles, partial
updates, reset, validation errors as problem+json, the script simulator, masked numbers."""

from datetime import datetime

from sqlalchemy import select

from cityops.callout.campaign_models import CallTask, Campaign

API = "/api/v1/callout"


def test_list_and_read_scenarios(client, auth_headers):
    tech = auth_headers("technician")
    rows = client.get(f"{API}/scenarios", headers=tech).json()
    assert [r["scenario"] for r in rows] == ["hotline_callback", "emergency", "workorder_reminder", "duty_check",
                                             "iot_alert", "notice", "street_app"]
    assert all(r["script"] and not r["customised"] for r in rows)
    e = client.get(f"{API}/scenarios/emergency", headers=tech).json()
    assert (e["windows"], e["priority"], e["public_safety"]) == ([], "highest", True)
    h = client.get(f"{API}/scenarios/hotline_callback", headers=tech).json()
    assert h["windows"] == [["09:00", "12:00"], ["14:00", "20:00"]]
    assert h["triggers"] == {"event_closed": {"enabled": False, "delay_min": 30}}
    assert client.get(f"{API}/scenarios/marketing", headers=tech).status_code == 404
    assert client.get(f"{API}/scenarios").status_code == 401
    assert client.get(f"{API}/scenarios", headers=auth_headers("street", "310105002")).status_code == 403


def test_update_partially_then_reset(client, auth_headers):
    mgr = auth_headers("manager")
    r = client.put(f"{API}/scenarios/hotline_callback", headers=mgr,
                   json={"windows": [["10:00", "12:00"]], "max_attempts": 2,
                         "triggers": {"event_closed": {"enabled": True, "delay_min": 60}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customised"] and body["windows"] == [["10:00", "12:00"]] and body["max_attempts"] == 2
    assert body["triggers"]["event_closed"] == {"enabled": True, "delay_min": 60}
    assert body["updated_by"].startswith("manager") and datetime.fromisoformat(body["updated_at"]).tzinfo
    r = client.put(f"{API}/scenarios/hotline_callback", headers=mgr, json={"windows": None})
    assert r.json()["windows"] == [["09:00", "12:00"], ["14:00", "20:00"]] and r.json()["max_attempts"] == 2
    r = client.delete(f"{API}/scenarios/hotline_callback", headers=mgr)
    assert r.status_code == 200 and not r.json()["customised"] and r.json()["max_attempts"] == 3


def test_update_errors_are_problems(client, auth_headers):
    duty = auth_headers("duty")
    r = client.put(f"{API}/scenarios/emergency", headers=duty, json={"windows": [["08:00", "20:00"]]})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "不设呼叫时段" in r.json()["detail"]
    r = client.put(f"{API}/scenarios/notice", headers=duty, json={"windows": [["09:00", "12:00"], ["11:00", "13:00"]]})
    assert r.status_code == 422 and "重叠" in r.json()["detail"]
    r = client.put(f"{API}/scenarios/notice", headers=duty, json={"script": {"start": "a", "steps": [
        {"id": "a", "prompt": "x", "default": "b"}]}})
    assert r.status_code == 422 and "跳转目标" in r.json()["detail"] and r.json()["errors"]
    for role in ("technician", "auditor"):
        r = client.put(f"{API}/scenarios/notice", headers=auth_headers(role), json={"max_attempts": 2})
        assert r.status_code == 403
        assert client.delete(f"{API}/scenarios/notice", headers=auth_headers(role)).status_code == 403


def test_validate_and_simulate_a_script(client, auth_headers):
    tech = auth_headers("technician")
    script = client.get(f"{API}/scenarios/hotline_callback", headers=tech).json()["script"]
    assert client.post(f"{API}/scripts/validate", headers=tech, json={"script": script}).json() == {
        "ok": True, "errors": []}
    broken = {**script, "steps": [*script["steps"], {"id": "lost", "prompt": "没人来这里"}]}
    broken["steps"][0] = {**broken["steps"][0], "branches": {"满意": "nowhere", "不满意": "sorry"}}
    r = client.post(f"{API}/scripts/validate", headers=tech, json={"script": broken}).json()
    assert not r["ok"] and any("nowhere" in e for e in r["errors"])
    r = client.post(f"{API}/scripts/validate", headers=tech, json={"script": script, "scenario": "emergency"}).json()
    assert not r["ok"] and "{message}" in r["errors"][0]
    r = client.post(f"{API}/scripts/simulate", headers=tech, json={"script": script, "answers": [None, "非常满意"]})
    assert r.status_code == 200, r.text
    sim = r.json()
    assert sim["outcome"] == "hangup" and sim["recorded"] == {"satisfaction": "满意"}
    assert [(t["step"], t["retry"], t["matched"]) for t in sim["turns"]] == [("ask", 0, None), ("ask", 1, "满意"),
                                                                           ("thanks", 0, None)]
    r = client.post(f"{API}/scripts/simulate", headers=tech, json={"script": broken, "answers": []})
    assert r.status_code == 422


def test_broadcast_api(client, auth_headers, db):
    r = client.post(f"{API}/broadcasts", headers=auth_headers("technician"),
                    json={"message": "燃气泄漏，请立即撤离", "numbers": ["13900000001"]})
    assert r.status_code == 403
    r = client.post(f"{API}/broadcasts", headers=auth_headers("duty"),
                    json={"message": "燃气泄漏，请立即撤离", "numbers": ["13900000001", "13900000002", "12345"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["state"], body["priority"], body["tasks"]) == ("running", "highest", 3)
    assert body["invalid"][0]["number"] == "12345" and body["invalid"][0]["reason"]
    with db.session() as s:
        c = s.get(Campaign, body["campaign_id"])
        assert (c.scenario, c.trigger) == ("emergency", "broadcast") and c.created_by.startswith("duty")
        assert len(s.scalars(select(CallTask).where(CallTask.campaign_id == c.id)).all()) == 3
    r = client.post(f"{API}/broadcasts", headers=auth_headers("manager"), json={"message": "x"})
    assert r.status_code == 422 and "只选一种" in r.json()["detail"]
