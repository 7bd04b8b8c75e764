"""Notification API (IOT-5 / OPS-3): channels (secrets never returned), policies with
escalation chains, the notification log with retry, the test send, role checks."""

from __future__ import annotations

from datetime import timedelta

from cityops.core.timeutil import utcnow
from cityops.monitoring import service as alarms
from cityops.notify import jobs
from tests.notify.conftest import T0, chain


def test_channels_hide_secrets_and_keep_them_on_update(client, auth_headers, notify_sim, sim):
    _, url = notify_sim
    admin = auth_headers("admin")
    body = {"kind": "wecom", "name": "值班群", "settings": {"webhook_key": "duty-room",
                                                          "base_url": url + "/cgi-bin/webhook/send"}}
    r = client.post("/api/v1/notify/channels", json=body, headers=admin)
    assert r.status_code == 201, r.text
    ch = r.json()
    assert ch["settings"]["webhook_key"] == "******" and "duty-room" not in r.text
    assert client.post("/api/v1/notify/channels", json=body, headers=admin).status_code == 409
    bad = client.post("/api/v1/notify/channels", json={**body, "name": "x", "settings": {"webhook_key": ""}},
                      headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"]
    # a masked secret sent back keeps the stored one
    r = client.patch(f"/api/v1/notify/channels/{ch['id']}", json={"settings": {**ch["settings"], "msgtype": "text"}},
                     headers=admin)
    assert r.status_code == 200 and r.json()["settings"]["msgtype"] == "text"
    r = client.post("/api/v1/notify/test", json={"channel_id": ch["id"]}, headers=admin)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert sim.wecom[0]["key"] == "duty-room" and "渠道测试" in sim.wecom[0]["text"]["content"]
    sim.fail("wecom", "invalid_key")
    r = client.post("/api/v1/notify/test", json={"channel_id": ch["id"]}, headers=admin)
    assert r.json()["ok"] is False and r.json()["retryable"] is False and "93000" in r.json()["error"]

    listed = client.get("/api/v1/notify/channels", headers=auth_headers("auditor"))
    assert listed.status_code == 200 and "duty-room" not in listed.text
    assert client.get("/api/v1/notify/channels", headers=auth_headers("technician")).status_code == 403
    assert client.post("/api/v1/notify/test", json={"channel_id": ch["id"]},
                       headers=auth_headers("duty")).status_code == 403
    assert client.get("/api/v1/notify/channels").status_code == 401


def test_policy_crud_and_validation(client, auth_headers, world):
    admin = auth_headers("admin")
    body = chain(world, quiet_start="22:00", quiet_end="07:00", min_severity="warning")
    r = client.post("/api/v1/notify/policies", json=body, headers=admin)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["steps"][2]["targets"] == [{"kind": "manager", "team": "centre"}]
    r = client.patch(f"/api/v1/notify/policies/{pid}", json={"repeat": 2, "street_code": world["street"]},
                     headers=admin)
    assert r.status_code == 200 and r.json()["repeat"] == 2 and r.json()["quiet_start"] == "22:00"
    for broken in ({"quiet_start": "22:00", "quiet_end": ""}, {"min_severity": "fatal"},
                   {"steps": [{"targets": [{"kind": "team", "team": "nope"}], "channels": [world["sms"]]}]},
                   {"steps": [{"targets": [{"kind": "contact", "contact_id": world["li"]}], "channels": [999]}]},
                   {"street_code": "999"}):
        r = client.patch(f"/api/v1/notify/policies/{pid}", json=broken, headers=admin)
        assert r.status_code == 422, (broken, r.text)
    # a channel in use cannot be deleted
    assert client.delete(f"/api/v1/notify/channels/{world['sms']}", headers=admin).status_code == 409
    manager = auth_headers("manager")
    assert client.get("/api/v1/notify/policies", headers=auth_headers("duty")).json()[0]["id"] == pid
    assert client.patch(f"/api/v1/notify/policies/{pid}", json={"repeat": 0},
                        headers=auth_headers("duty")).status_code == 403
    assert client.get("/api/v1/notify/policies", headers=auth_headers("street", "310105001")).status_code == 403
    assert client.delete(f"/api/v1/notify/policies/{pid}", headers=manager).status_code == 204


def test_notification_log_masks_and_retries(client, auth_headers, db, world, sim):
    admin = auth_headers("admin")
    assert client.post("/api/v1/notify/policies", json={**chain(world), "steps": [
        {"targets": [{"kind": "team", "team": "centre"}], "channels": [world["sms"]], "wait_minutes": 5}]},
        headers=admin).status_code == 201
    with db.session() as s:
        aid = alarms.raise_alarm(s, device_id=world["device"], alarm_type="smoke_alarm", severity="critical",
                                 source="vendor", message="烟雾报警", at=T0).id
    sim.fail("sms", "invalid_key", times=2)
    jobs.run(db, now=T0)
    duty = auth_headers("duty")
    page = client.get("/api/v1/notifications", params={"alarm_id": aid}, headers=duty).json()
    assert page["total"] == 2
    assert {i["recipient"] for i in page["items"]} == {"张三 138****1111", "李四 139****2222"}
    assert all(i["state"] == "failed" and i["created_at"].endswith("+08:00") for i in page["items"])
    assert "13800001111" not in client.get("/api/v1/notifications", headers=duty).text
    failed = client.get("/api/v1/notifications", params={"state": "failed"}, headers=duty).json()["items"]
    assert len(failed) == 2
    assert client.get("/api/v1/notifications", params={"state": "lost"}, headers=duty).status_code == 422

    r = client.post(f"/api/v1/notifications/{failed[0]['id']}/retry", headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0
    assert client.post(f"/api/v1/notifications/{failed[0]['id']}/retry", headers=duty).status_code == 409
    assert client.post(f"/api/v1/notifications/{failed[1]['id']}/retry",
                       headers=auth_headers("auditor")).status_code == 403
    assert client.get("/api/v1/notifications", headers=auth_headers("auditor")).status_code == 200
    assert client.get("/api/v1/notifications", headers=auth_headers("technician")).status_code == 403
    jobs.run(db, now=utcnow() + timedelta(seconds=1))  # the API queues the retry at the real "now"
    sent = client.get("/api/v1/notifications", params={"state": "sent"}, headers=duty).json()["items"]
    assert len(sent) == 1 and len(sim.sms) == 1


def test_problem_details_are_chinese(client, auth_headers):
    admin = auth_headers("admin")
    r = client.get("/api/v1/notify/policies/999999", headers=admin)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "通知策略 999999 不存在"
    r = client.get("/api/v1/notifications", params={"state": "lost"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"] == "state 应为以下之一：pending、sent、failed、cancelled"
    bad = client.post("/api/v1/notify/channels", json={"kind": "wecom", "name": "空密钥", "settings": {"webhook_key": " "}},
                      headers=admin)
    assert bad.status_code == 422 and any("webhook_key 不能为空" in e["msg"] for e in bad.json()["errors"])
