"""The dispatch link over HTTP (IOT-7, SYS-DISPATCH): signed callbacks into the running
app, the platform/outbox API with its roles, the console page and the event page."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from cityops.dispatch import outbox, signing
from cityops.dispatch.models import DispatchOutbox, DispatchUpdate, WorkOrder
from cityops.events.models import CityEvent
from cityops.ingest.models import DeadLetter
from tests.conftest import PASSWORD

from .conftest import API_KEY, SECRET
from .link_helpers import accepted_event, add_platform, dispatched


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _state(db, eid):
    with db.session() as s:
        return s.get(CityEvent, eid).state


def test_signed_callbacks_drive_the_event_to_disposed(db, server, sim, live_server):
    add_platform(db, server.url, callback_base_url=live_server)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    assert _wait(lambda: _state(db, eid) == "disposed"), _state(db, eid)
    with db.session() as s:
        ups = list(s.scalars(select(DispatchUpdate).where(DispatchUpdate.order_id == oid)))
        assert {u.source for u in ups} == {"callback"}
        assert [u.state for u in sorted(ups, key=lambda u: u.at)] == ["accepted", "in_progress", "disposed"]
        assert s.get(WorkOrder, oid).result_text
    assert all(r.status_code == 200 for r in sim.callbacks)


def _callback_body(sim, eid_key="X/1"):
    return json.dumps({"update_id": "U900001", "service_request_id": "CN-UNKNOWN", "status": "IN_PROGRESS",
                       "updated_datetime": "2026-11-25T10:00:00+08:00", "description": "处置中",
                       "idempotency_key": eid_key}, ensure_ascii=False).encode()


def test_callback_with_a_bad_signature_is_refused_and_kept(client, db, server):
    pid = add_platform(db, server.url)
    body = _callback_body(None)
    r = client.post(f"/hooks/dispatch/{pid}", content=body, headers={signing.HEADER: "0" * 64})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    with db.session() as s:
        dl = s.get(DeadLetter, r.json()["dead_letter_id"])
        assert dl.transport == "dispatch" and dl.raw == body and "签名" in dl.reason
    r = client.post("/hooks/dispatch/999", content=body, headers={signing.HEADER: signing.sign(SECRET, body)})
    assert r.status_code == 404


def test_callback_malformed_or_repeated(client, db, server):
    pid = add_platform(db, server.url)
    bad = b'{"status": "FIXED"}'
    r = client.post(f"/hooks/dispatch/{pid}", content=bad, headers={signing.HEADER: signing.sign(SECRET, bad)})
    assert r.status_code == 400 and "无法解析" in r.json()["detail"]
    body = _callback_body(None)
    h = {signing.HEADER: signing.sign(SECRET, body)}
    first = client.post(f"/hooks/dispatch/{pid}", content=body, headers=h)
    again = client.post(f"/hooks/dispatch/{pid}", content=body, headers=h)
    assert first.status_code == again.status_code == 200
    assert first.json()["stored"] is True and again.json()["stored"] is False
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DispatchUpdate)) == 1
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 1  # only the malformed one


def test_platform_api_roles_and_masked_secrets(client, auth_headers, server):
    admin, duty = auth_headers("admin"), auth_headers("duty")
    body = {"name": "派单平台", "kind": "open311", "settings": {"base_url": server.url, "api_key": API_KEY},
            "callback_base_url": "http://10.0.0.5:8000"}
    assert client.post("/api/v1/dispatch/platforms", json=body, headers=duty).status_code == 403
    r = client.post("/api/v1/dispatch/platforms", json=body, headers=admin)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["settings"]["api_key"] == "******" and p["is_default"] is True
    assert p["callback_url"] == f"http://10.0.0.5:8000/hooks/dispatch/{p['id']}" and p["state"]["breaker"] == "closed"
    r = client.patch(f"/api/v1/dispatch/platforms/{p['id']}", headers=admin,
                     json={"settings": {"base_url": server.url, "api_key": "******", "timeout_s": 3}})
    assert r.status_code == 200 and r.json()["settings"]["timeout_s"] == 3
    r = client.post("/api/v1/dispatch/platforms", json=body, headers=admin)
    assert r.status_code == 409  # the name is taken
    r = client.post("/api/v1/dispatch/platforms", json={**body, "name": "另一个", "settings": {"api_key": "k"}},
                    headers=admin)
    assert r.status_code == 422 and "base_url" in r.text
    r = client.patch(f"/api/v1/dispatch/platforms/{p['id']}", json={"poll_interval_s": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"] == "poll_interval_s 须在 5–3600 秒之间"
    r = client.get("/api/v1/dispatch/platforms/999999", headers=admin)
    assert r.status_code == 404 and r.json()["detail"] == "派单平台 999999 不存在"
    assert client.get("/api/v1/dispatch/platforms", headers=duty).status_code == 200
    assert client.get("/api/v1/dispatch/platforms", headers=auth_headers("street", "310105001")).status_code == 403


def test_event_dispatch_api_outbox_and_retry(client, auth_headers, db, server, sim):
    add_platform(db, server.url)
    h = auth_headers("duty")
    eid = accepted_event(db)
    r = client.post(f"/api/v1/events/{eid}/dispatch", json={}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "pending", r.text
    assert client.post(f"/api/v1/events/{eid}/dispatch", json={}, headers=h).status_code == 409
    sim.down = True
    outbox.deliver(db)
    stuck = client.get("/api/v1/dispatch/outbox?stuck=true", headers=h).json()
    assert len(stuck) == 1 and stuck[0]["attempts"] == 1 and "503" in stuck[0]["last_error"]
    sim.down = False
    r = client.post(f"/api/v1/dispatch/outbox/{stuck[0]['id']}/retry", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "pending"
    outbox.deliver(db)
    link = client.get(f"/api/v1/events/{eid}/dispatch", headers=auth_headers("auditor")).json()
    assert link["orders"][0]["state"] == "submitted" and link["messages"][0]["state"] == "sent"
    r = client.post(f"/api/v1/dispatch/outbox/{stuck[0]['id']}/cancel", json={"reason": "x"}, headers=h)
    assert r.status_code == 409  # already sent


def test_transition_to_dispatched_queues_the_work_order(client, auth_headers, db, server):
    from cityops.events.routing_models import RoutingDecision

    add_platform(db, server.url)
    eid = accepted_event(db)
    with db.session() as s:
        street = s.get(CityEvent, eid).street_code
    r = client.post(f"/api/v1/events/{eid}/transition", json={"to": "dispatched"},
                    headers=auth_headers("street", street))
    assert r.status_code == 403  # street offices do not dispatch; refused before routing writes anything
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RoutingDecision)) == 0
    r = client.post(f"/api/v1/events/{eid}/transition", json={"to": "dispatched"}, headers=auth_headers("manager"))
    assert r.status_code == 200 and r.json()["state"] == "dispatched"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DispatchOutbox).where(DispatchOutbox.event_id == eid)) == 1


def _login(client, make_user, role):
    name = make_user(role)
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def test_console_dispatch_page_and_event_page(client, make_user, db, server, sim):
    pid = add_platform(db, server.url)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    sim.fail("503")
    outbox.deliver(db)
    _login(client, make_user, "manager")
    page = client.get("/console/dispatch")
    assert page.status_code == 200 and "区智能派单平台" in page.text and "滞留的派单消息（1）" in page.text
    assert "******" not in page.text or API_KEY not in page.text
    assert API_KEY not in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    with db.session() as s:
        mid = s.scalar(select(DispatchOutbox.id).where(DispatchOutbox.order_id == oid))
    r = client.post(f"/console/dispatch/outbox/{mid}", data={"csrf": csrf, "action": "retry"}, follow_redirects=True)
    assert "已安排立即重发" in r.text
    outbox.deliver(db)
    dispatched(db, accepted_event(db, 1))
    outbox.deliver(db)
    assert "处置中工单 2 件" in client.get("/console/dispatch").text  # work orders, not platforms
    ev_page = client.get(f"/console/events/{eid}")
    assert "派单对接" in ev_page.text and "工单已送达派单平台" in ev_page.text and "智能派单" in ev_page.text
    # edit form keeps the secret when given back masked
    r = client.post("/console/dispatch", data={"csrf": csrf, "platform_id": str(pid), "name": "区智能派单平台",
                                               "settings": json.dumps({"base_url": server.url, "api_key": "******"}),
                                               "enabled": "1", "poll_interval_s": "30",
                                               "status_check_after_min": "30"}, follow_redirects=True)
    assert "已保存派单平台" in r.text
    with db.session() as s:
        from cityops.dispatch.models import DispatchPlatform

        p = s.get(DispatchPlatform, pid)
        assert p.settings["api_key"] == API_KEY and p.poll_interval_s == 30


def test_console_dispatch_page_is_read_only_for_duty_and_closed_to_street(client, make_user, db, server):
    add_platform(db, server.url)
    _login(client, make_user, "technician")
    page = client.get("/console/dispatch")
    assert page.status_code == 200 and 'id="platform-form"' not in page.text
    client.cookies.clear()
    name = make_user("street", "310105001")
    client.post("/login", data={"username": name, "password": PASSWORD})
    assert client.get("/console/dispatch").status_code == 403


def test_a_callback_that_fails_midway_leaves_nothing_and_is_applied_when_repeated(client, db, server, sim,
                                                                                   monkeypatch):
    """The stored update and its effect on the event are one unit of work (on SQLite too, where
    a savepoint's RELEASE would otherwise commit the row alone): a failure answers 503, the
    platform calls again, and the update is applied then."""
    from cityops.dispatch import results

    pid = add_platform(db, server.url)
    eid = accepted_event(db)
    oid = dispatched(db, eid)
    outbox.deliver(db)
    with db.session() as s:
        ext = s.get(WorkOrder, oid).external_id
    body = json.dumps({"update_id": "U-mid", "service_request_id": ext, "status": "IN_PROGRESS",
                       "updated_datetime": "2026-11-25T10:00:00+08:00", "description": "已派员"}).encode()
    h = {signing.HEADER: signing.sign(SECRET, body)}
    real_apply = results.apply

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(results, "apply", broken)
    assert client.post(f"/hooks/dispatch/{pid}", content=body, headers=h).status_code == 503
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DispatchUpdate)) == 0
    monkeypatch.setattr(results, "apply", real_apply)
    r = client.post(f"/hooks/dispatch/{pid}", content=body, headers=h)
    assert r.status_code == 200 and r.json()["stored"] is True
    assert _state(db, eid) == "in_progress"
