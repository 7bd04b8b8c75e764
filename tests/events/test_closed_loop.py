"""The closed loop of issue #5 across every piece, with real HTTP between the platform and the
simulated dispatch platform (IOT-5, IOT-6, IOT-7, SYS-DISPATCH): a waterlogging sensor's
alarm → city event → routed → work order at the platform → signed callbacks with the result →
automatic verification → closed, every step on the event's timeline."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from cityops.core.timeutil import utcnow
from cityops.devices import service as devices
from cityops.dispatch import outbox
from cityops.dispatch import service as dispatch
from cityops.events import intake, service
from cityops.events.intake_jobs import run_intake, run_verify
from cityops.events.models import CityEvent
from cityops.monitoring import service as monitoring
from cityops.sim.dispatch import DispatchSim, serve
from tests.conftest import PASSWORD
from tests.events.helpers import street_point


def _wait(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_waterlogging_alarm_to_closed_event(db, live_server, client, make_user):
    sim = DispatchSim(api_key="loop-key", seed=5, time_scale=0.0002, return_rate=0.0, callback_secret="loop-secret")
    with serve(sim) as server:
        with db.session() as s:
            dispatch.create_platform(s, name="区智能派单平台", kind="open311",
                                     settings={"base_url": server.url, "api_key": "loop-key", "timeout_s": 2},
                                     callback_secret="loop-secret", callback_base_url=live_server)
            _, lon, lat = street_point(s, 2)
            dev = devices.create_device(s, name="延安西路积水监测", external_id="loop-1", lon=lon, lat=lat,
                                        product_id=devices.product_by_code(s, "WATER-ONENET").id)
            t0 = utcnow() - timedelta(minutes=3)
            monitoring.record_transition(s, device_id=dev.id, old="never_seen", new="online", reason="data", at=t0)
            alarm = monitoring.raise_alarm(s, device_id=dev.id, alarm_type="积水超限", severity="critical",
                                           source="rule", message="积水深度 23.5 cm，超过 15 cm", at=t0)
            alarm_id, device_id = alarm.id, dev.id
        assert run_intake(db).created == 1  # older than the policy's 60 s: taken now
        with db.session() as s:
            ev = s.scalar(select(CityEvent).where(CityEvent.source_ref == f"alarm:{alarm_id}"))
            eid, number = ev.id, ev.number
            assert ev.state == "dispatched" and ev.unit_id is not None and ev.category_id
        assert outbox.deliver(db)["sent"] == 1
        order = sim.order_for_key(f"{number}/1")
        assert order is not None and order.attributes["event_no"] == number
        assert _wait(lambda: _state(db, eid) == "disposed"), _state(db, eid)

        with db.session() as s:  # the water recedes: the rule clears the alarm
            monitoring.auto_clear(s, device_id, "积水超限", "条件已恢复：积水深度 0 cm")
        hold = _hold(db)
        assert run_verify(db, now=utcnow() + timedelta(minutes=1))["waiting"] == 1
        assert run_verify(db, now=utcnow() + timedelta(minutes=hold + 1))["passed"] == 1
        assert _state(db, eid) == "closed"

    with db.session() as s:
        actions = [t.action for t in service.transitions_of(s, eid)]
    assert actions == ["report", "accept", "dispatch", "start", "dispose", "verify", "close"]
    name = make_user("duty")
    client.post("/login", data={"username": name, "password": PASSWORD})
    page = client.get(f"/console/events/{eid}").text
    for text in ("工单已送达派单平台", "平台回调", "处置完成", "核查通过", "结案", order.id):
        assert text in page, text


def _state(db, eid):
    with db.session() as s:
        return s.get(CityEvent, eid).state


def _hold(db) -> int:
    with db.session() as s:
        return next(p.verify_hold_min for p in intake.list_policies(s) if p.name == "道路积水超限")
