"""Service-desk API (OPS-3): roles, problem+json on bad input and invalid transitions, masking,
the backup-channel intake, SLA targets and escalation policy editing."""

from datetime import timedelta

from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.monitoring import service as monitoring

PROBLEM = "application/problem+json"


def test_hotline_ticket_through_its_life(client, auth_headers):
    duty = auth_headers("duty", username="duty-a")
    tech = auth_headers("technician", username="tech-a")
    r = client.post("/api/v1/tickets", headers=duty, json={
        "title": "热线：网格平台登录失败", "description": "华阳路街道反映", "impact": 1, "urgency": 2,
        "reporter": "陈先生", "reporter_phone": "13812345678"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["number"].startswith("GD") and t["priority"] == "P2" and t["state"] == "new"
    assert t["sla"]["response"]["target_min"] == 30 and t["sla"]["response"]["due_at"].endswith("+08:00")
    assert t["reporter_phone"] == "13812345678"
    tid = t["id"]
    # Technicians do not see the caller's full number.
    assert client.get(f"/api/v1/tickets/{tid}", headers=tech).json()["reporter_phone"] == "138****5678"
    # Technicians cannot assign; duty can.
    assert client.post(f"/api/v1/tickets/{tid}/assign", headers=tech, json={"assignee": "tech-a"}).status_code == 403
    r = client.post(f"/api/v1/tickets/{tid}/assign", headers=duty, json={"assignee": "tech-a"})
    assert r.status_code == 200 and r.json()["state"] == "assigned"
    # Invalid transition → 409 problem+json in Chinese.
    r = client.post(f"/api/v1/tickets/{tid}/resume", headers=tech)
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert "不能恢复处理" in r.json()["detail"]
    assert client.post(f"/api/v1/tickets/{tid}/start", headers=tech).json()["state"] == "in_progress"
    r = client.post(f"/api/v1/tickets/{tid}/pend", headers=tech, json={"reason": "其他"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert client.post(f"/api/v1/tickets/{tid}/pend", headers=tech, json={"reason": "等待厂商"}).json()["state"] == "pending"
    assert client.post(f"/api/v1/tickets/{tid}/resume", headers=tech).json()["state"] == "in_progress"
    assert client.post(f"/api/v1/tickets/{tid}/comment", headers=tech, json={"text": "已联系厂商"}).status_code == 200
    r = client.post(f"/api/v1/tickets/{tid}/resolve", headers=tech, json={"solution": "清理会话缓存"})
    assert r.json()["state"] == "resolved" and r.json()["sla"]["resolution"]["state"] == "met"
    assert client.post(f"/api/v1/tickets/{tid}/close", headers=tech).status_code == 403
    assert client.post(f"/api/v1/tickets/{tid}/close", headers=duty).json()["state"] == "closed"
    r = client.post(f"/api/v1/tickets/{tid}/reopen", headers=duty, json={"reason": "再次出现"})
    assert r.json()["state"] == "assigned"
    full = client.get(f"/api/v1/tickets/{tid}", headers=tech).json()
    assert [e["kind"] for e in full["timeline"]][-1] == "reopened"
    assert all(e["at"].endswith("+08:00") for e in full["timeline"])


def test_list_filters_and_sla_order(client, auth_headers, db):
    duty = auth_headers("duty", username="duty-b")
    ids = {}
    for title, i, u in (("低", 3, 3), ("紧急", 1, 1), ("中", 2, 2)):
        ids[title] = client.post("/api/v1/tickets", headers=duty,
                                 json={"title": title, "impact": i, "urgency": u}).json()["id"]
    r = client.get("/api/v1/tickets", headers=duty)
    assert r.status_code == 200 and r.json()["total"] == 3
    assert r.json()["items"][0]["id"] == ids["紧急"], "least remaining time first"
    assert [x["title"] for x in client.get("/api/v1/tickets?priority=P4", headers=duty).json()["items"]] == ["低"]
    assert client.get("/api/v1/tickets?q=紧", headers=duty).json()["total"] == 1
    assert client.get("/api/v1/tickets?sla=breached", headers=duty).json()["total"] == 0
    r = client.get("/api/v1/tickets?sla=soon", headers=duty)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/v1/tickets?state=bogus", headers=duty).status_code == 422
    board = client.get("/api/v1/tickets/board", headers=duty).json()
    assert board[0]["number"] and board[0]["remaining_s"] > 0
    counts = client.get("/api/v1/tickets/counts", headers=duty).json()
    assert counts["open"] == 3 and counts["by_sla"]["ok"] == 3
    assert client.get("/api/v1/tickets/priority-matrix", headers=duty).json()["cells"][0]["priority"] == "P1"


def test_roles_and_bad_input(client, auth_headers):
    street = auth_headers("street", street_code="310105002")
    auditor = auth_headers("auditor")
    assert client.get("/api/v1/tickets", headers=street).status_code == 403
    assert client.get("/api/v1/tickets", headers=auditor).status_code == 200
    assert client.post("/api/v1/tickets", headers=auditor, json={"title": "x"}).status_code == 403
    assert client.get("/api/v1/tickets").status_code == 401
    duty = auth_headers("duty")
    r = client.post("/api/v1/tickets", headers=duty, json={"title": "x", "impact": 9})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = client.post("/api/v1/tickets", headers=duty, json={"title": "x", "system_code": "SYS-NONE"})
    assert r.status_code == 422 and "没有系统" in r.json()["detail"]
    r = client.get("/api/v1/tickets/999999", headers=duty)
    assert r.status_code == 404 and "工单 999999 不存在" in r.json()["detail"]


def test_backup_channel_and_alarm_intake(client, auth_headers, db):
    duty = auth_headers("duty", username="bridge")
    r = client.post("/api/v1/tickets/intake/email", headers=duty, json={
        "from": "wang@changning.gov.cn", "subject": "热线故障，改用邮件报修", "body": "城区之眼无法调阅",
        "received_at": (utcnow() - timedelta(minutes=3)).isoformat()})
    assert r.status_code == 201 and r.json()["source"] == "backup"
    again = client.post("/api/v1/tickets/intake/email", headers=duty, json={
        "from": "wang@changning.gov.cn", "subject": "热线故障，改用邮件报修", "body": "城区之眼无法调阅",
        "received_at": r.json()["created_at"]})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    w = client.post("/api/v1/tickets/intake/wecom", headers=duty, json={
        "FromUserName": "lisi", "Content": "大屏数据不刷新", "CreateTime": int(utcnow().timestamp())})
    assert w.status_code == 201 and w.json()["title"] == "大屏数据不刷新"
    assert client.post("/api/v1/tickets/intake/wecom", headers=duty, json={"FromUserName": "x"}).status_code == 422
    with db.session() as s:
        dev = devices.create_device(s, name="液位-1", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                    external_id="sd-api-1")
        alarm_id = monitoring.raise_alarm(s, device_id=dev.id, alarm_type="offline", severity="major",
                                          source="liveness").id
    a = client.post(f"/api/v1/tickets/from-alarm/{alarm_id}", headers=duty)
    assert a.status_code == 201 and a.json()["alarm_id"] == alarm_id
    assert client.post(f"/api/v1/tickets/from-alarm/{alarm_id}", headers=duty).status_code == 200


def test_sla_targets_and_escalation_policies_are_manager_only(client, auth_headers):
    duty = auth_headers("duty")
    mgr = auth_headers("manager")
    assert len(client.get("/api/v1/tickets/sla-targets", headers=duty).json()) == 4
    assert client.put("/api/v1/tickets/sla-targets/P1", headers=duty, json={"response_min": 10}).status_code == 403
    r = client.put("/api/v1/tickets/sla-targets/P1", headers=mgr, json={"response_min": 10})
    assert r.status_code == 200 and r.json()["response_min"] == 10
    assert client.put("/api/v1/tickets/sla-targets/P9", headers=mgr, json={}).status_code == 404
    assert client.put("/api/v1/tickets/sla-targets/P2", headers=mgr, json={"warn_at_pct": 0}).status_code == 422
    pols = client.get("/api/v1/tickets/escalation-policies", headers=duty).json()
    assert pols[0]["priority"] == "P1" and pols[0]["described"]
    r = client.put("/api/v1/tickets/escalation-policies/P3", headers=mgr,
                   json={"steps": [{"level": 1, "target": "resolution", "after_breach_min": 10, "action": "raise"}]})
    assert r.status_code == 200 and r.json()["steps"][0]["after_breach_min"] == 10
    r = client.put("/api/v1/tickets/escalation-policies/P3", headers=mgr, json={"steps": [{"level": 1}]})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


def test_links(client, auth_headers):
    duty = auth_headers("duty")
    a = client.post("/api/v1/tickets", headers=duty, json={"title": "A"}).json()
    b = client.post("/api/v1/tickets", headers=duty, json={"title": "B"}).json()
    r = client.post(f"/api/v1/tickets/{a['id']}/links", headers=duty, json={"other": b["number"]})
    assert r.status_code == 201
    assert client.post(f"/api/v1/tickets/{a['id']}/links", headers=duty, json={"other": b["number"]}).status_code == 409
    assert client.get(f"/api/v1/tickets/{b['id']}/links", headers=duty).json()[0]["number"] == a["number"]
    assert client.delete(f"/api/v1/tickets/{a['id']}/links/{r.json()['id']}", headers=duty).status_code == 204
