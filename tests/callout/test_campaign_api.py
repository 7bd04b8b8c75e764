"""Campaigns, tasks and call records over HTTP (CALL-1, CALL-2): create from a list or a scenario,
start / pause / stop, add a number, paged tasks and records with masked numbers, one record with
its dialogue steps and business link, role checks and problem+json errors."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cityops.audit.models import AuditEntry
from cityops.callout import dialer, lists
from cityops.callout.script import DEFAULT_SCRIPTS
from cityops.callout.telephony import SimCall, SimTelephony
from tests.callout.test_dialer import MORNING, A, B, e164, make_campaign

API = "/api/v1/callout"


def _list(db, scenario="hotline_callback"):
    csv = "姓名,电话,业务编号\n张三,13900000001,event:1\n李四,13900000002,\n坏号,4008123123,\n".encode()
    with db.session() as s:
        return lists.import_list(s, csv, "l.csv", name="名单", scenario=scenario, created_by="t").list_id


def test_create_from_a_list_and_drive_it(client, auth_headers, db):
    duty = auth_headers("duty")
    list_id = _list(db)
    r = client.post(f"{API}/campaigns", json={"name": "11月回访", "list_id": list_id, "priority": "high",
                                              "max_attempts": 2, "concurrency": 2, "caller_id": "02161234567",
                                              "retry_policy": {"busy": 5}}, headers=duty)
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["name"], c["scenario"], c["scenario_label"], c["state"], c["trigger"]) == (
        "11月回访", "hotline_callback", "热线回访", "draft", "manual")
    assert (c["priority"], c["max_attempts"], c["concurrency"], c["caller_id"]) == ("high", 2, 2, "02161234567")
    assert c["retry_policy"] == {"busy": 5} and c["script"]["name"] == "热线回访"
    assert c["progress"] == {"tasks": 2, "by_state": {"pending": 2, "in_progress": 0, "done": 0, "skipped": 0,
                                                      "failed": 0}, "results": {}, "percent": 0.0}
    assert c["created_at"].endswith(("Z", "+00:00"))  # ISO 8601 with an offset
    cid = c["id"]
    assert client.post(f"{API}/campaigns/{cid}/pause", headers=duty).status_code == 409
    r = client.post(f"{API}/campaigns/{cid}/start", headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "running" and r.json()["started_at"]
    assert client.post(f"{API}/campaigns/{cid}/pause", headers=duty).json()["state"] == "paused"
    assert client.post(f"{API}/campaigns/{cid}/start", headers=duty).json()["state"] == "running"
    r = client.post(f"{API}/campaigns/{cid}/stop", headers=duty)
    assert r.status_code == 200 and r.json()["state"] == "done" and r.json()["progress"]["by_state"]["skipped"] == 2
    r = client.post(f"{API}/campaigns/{cid}/start", headers=duty)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    tasks = client.get(f"{API}/campaigns/{cid}/tasks", headers=duty).json()["items"]
    assert {t["note"] for t in tasks} == {"任务已终止"}
    with db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity == "callout_campaigns",
                                                                  AuditEntry.entity_id == str(cid))))
    assert actions == ["callout.campaign.create", "callout.campaign.start", "callout.campaign.pause",
                       "callout.campaign.start", "callout.campaign.stop"]


def test_create_with_a_scenario_a_script_and_a_schedule(client, auth_headers):
    h = auth_headers("manager")
    script = DEFAULT_SCRIPTS["hotline_callback"].to_dict() | {"name": "自定义回访"}
    r = client.post(f"{API}/campaigns", json={"scenario": "hotline_callback", "script": script,
                                              "scheduled_at": "2026-12-01T09:30:00"}, headers=h)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["name"] == "热线回访" and c["list_id"] is None and c["script"]["name"] == "自定义回访"
    assert c["trigger"] == "schedule"  # no offset given: Beijing time
    assert datetime.fromisoformat(c["scheduled_at"]) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert c["progress"]["percent"] == 100.0 and c["progress"]["tasks"] == 0


def test_bad_input_is_a_problem(client, auth_headers, db):
    h = auth_headers("duty")
    for body, text in (({"name": "x"}, "名单或场景"), ({"scenario": "moon"}, "未知场景"),
                       ({"scenario": "hotline_callback", "priority": "urgent"}, "未知优先级"),
                       ({"scenario": "hotline_callback", "concurrency": 0}, "大于 0"),
                       ({"scenario": "hotline_callback", "script": {"start": "x", "steps": []}}, "起始步骤"),
                       ({"list_id": _list(db, "notice"), "scenario": "hotline_callback"}, "不符")):
        r = client.post(f"{API}/campaigns", json=body, headers=h)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", body
        assert text in r.json()["detail"], (body, r.json())
    r = client.get(f"{API}/campaigns/999", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "外呼任务 999 不存在"
    assert client.get(f"{API}/records/999", headers=h).json()["detail"] == "通话记录 999 不存在"
    assert client.get(f"{API}/campaigns", params={"state": "x"}, headers=h).status_code == 422
    assert client.get(f"{API}/records", params={"number": "12"}, headers=h).status_code == 422
    assert client.get(f"{API}/campaigns", params={"limit": 0}, headers=h).status_code == 422


def test_roles_and_masking(client, auth_headers, db):
    cid = make_campaign(db, [(A, "event:1")])
    tech, auditor, street = auth_headers("technician"), auth_headers("auditor"), auth_headers("street", "310105001")
    duty = auth_headers("duty")
    for h in (tech, auditor):
        assert client.get(f"{API}/campaigns", headers=h).status_code == 200
        assert client.post(f"{API}/campaigns/{cid}/pause", headers=h).status_code == 403
        assert client.post(f"{API}/campaigns", json={"scenario": "hotline_callback"}, headers=h).status_code == 403
        assert client.post(f"{API}/campaigns/{cid}/tasks", json={"number": B}, headers=h).status_code == 403
    assert client.get(f"{API}/campaigns", headers=street).status_code == 403
    assert client.get(f"{API}/records", headers=street).status_code == 403
    assert client.get(f"{API}/campaigns/{cid}/tasks", headers=tech).json()["items"][0]["number"] == "139****0001"
    assert client.get(f"{API}/campaigns/{cid}/tasks", headers=duty).json()["items"][0]["number"] == A


def test_add_a_number_and_page_the_tasks(client, auth_headers, db):
    h = auth_headers("duty")
    cid = client.post(f"{API}/campaigns", json={"scenario": "hotline_callback"}, headers=h).json()["id"]
    r = client.post(f"{API}/campaigns/{cid}/tasks", json={"number": "139 0000 0001", "business_ref": "event:7",
                                                         "contact_name": "张三"}, headers=h)
    assert r.status_code == 201 and r.json()["number"] == A and r.json()["state"] == "pending"
    dup = client.post(f"{API}/campaigns/{cid}/tasks", json={"number": A, "business_ref": "event:7"}, headers=h)
    assert dup.status_code == 409 and "已在此外呼任务中" in dup.json()["detail"]
    for i in range(3):
        client.post(f"{API}/campaigns/{cid}/tasks", json={"number": f"1390000010{i}"}, headers=h)
    page = client.get(f"{API}/campaigns/{cid}/tasks", params={"limit": 2, "offset": 2}, headers=h).json()
    assert page["total"] == 4 and page["limit"] == 2 and [t["number"] for t in page["items"]] == [
        "13900000101", "13900000102"]
    assert client.get(f"{API}/campaigns/{cid}/tasks", params={"state": "done"}, headers=h).json()["total"] == 0
    client.post(f"{API}/campaigns/{cid}/stop", headers=h)
    r = client.post(f"{API}/campaigns/{cid}/tasks", json={"number": B}, headers=h)
    assert r.status_code == 409 and "已结束" in r.json()["detail"]


def test_records_with_filters_and_the_transcript(client, auth_headers, db):
    sim = SimTelephony(scripted={e164(A): SimCall(["answered"], [None, "1"]), e164(B): SimCall(["busy"])})
    cid = make_campaign(db, [(A, "event:12"), (B, "")], max_attempts=1)
    dialer.run_due(db, telephony=sim, now=MORNING)
    tech = auth_headers("technician")
    page = client.get(f"{API}/records", params={"campaign_id": cid}, headers=tech).json()
    assert page["total"] == 2 and {r["number"] for r in page["items"]} == {"139****0001", "139****0002"}
    busy = client.get(f"{API}/records", params={"result": "busy"}, headers=tech).json()["items"]
    assert len(busy) == 1 and busy[0]["result_label"] == "忙线" and (busy[0]["sip_code"], busy[0]["q850_cause"]) == (
        486, 17) and busy[0]["link"] is None and busy[0]["adapter"] == "sim"
    day = MORNING.date().isoformat()
    assert client.get(f"{API}/records", params={"date_from": day, "date_to": day}, headers=tech).json()["total"] == 2
    nxt = (MORNING.date() + timedelta(days=1)).isoformat()
    assert client.get(f"{API}/records", params={"date_from": nxt}, headers=tech).json()["total"] == 0
    assert client.get(f"{API}/records", params={"number": "0001"}, headers=tech).json()["total"] == 1
    ok = client.get(f"{API}/records", params={"business_ref": "event:12"}, headers=tech).json()["items"][0]
    r = client.get(f"{API}/records/{ok['id']}", headers=tech).json()
    assert r["result"] == "answered" and r["result_label"] == "已接听" and r["satisfaction"] == "满意"
    assert r["link"] == {"kind": "event", "id": "12", "label": "事件 12", "api": "/api/v1/events/12",
                         "console": "/console/events/12"}
    assert [(s["seq"], s["step"], s["retry"], s["answer_dtmf"], s["matched"]) for s in r["steps"]] == [
        (1, "ask", 0, "", None), (2, "ask", 1, "1", "满意"), (3, "thanks", 0, "", None)]
    assert "满意请按1" in r["steps"][0]["prompt"] and r["number"] == "139****0001"
    assert client.get(f"{API}/records/{ok['id']}", headers=auth_headers("admin")).json()["number"] == A
