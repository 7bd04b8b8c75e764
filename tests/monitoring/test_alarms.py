"""Alarms and liveness wired to the database (IOT-5): dedupe, escalation, ack/clear,
topology folding, state history, offline detection with a controllable clock."""

import pytest
from sqlalchemy import select

from cityops.core.bus import Bus
from cityops.core.errors import Conflict, Invalid
from cityops.devices import service as devices
from cityops.devices.models import Device
from cityops.monitoring import service
from cityops.monitoring.clock import ManualClock
from cityops.monitoring.runtime import MonitoringRuntime


def _device(s, ext, code="SMOKE-NB-CTW", **kw):
    return devices.create_device(s, name=ext, product_id=devices.product_by_code(s, code).id, external_id=ext, **kw)


def test_one_open_alarm_per_device_and_type(db):
    with db.session() as s:
        d = _device(s, "a1")
        a = service.raise_alarm(s, device_id=d.id, alarm_type="smoke", severity="warning", source="rule")
        b = service.raise_alarm(s, device_id=d.id, alarm_type="smoke", severity="critical", source="rule")
        assert a.id == b.id and b.count == 2 and b.severity == "critical"  # escalated, not duplicated
        c = service.raise_alarm(s, device_id=d.id, alarm_type="smoke", severity="info", source="rule")
        assert c.severity == "critical"
        with pytest.raises(Invalid):
            service.raise_alarm(s, device_id=d.id, alarm_type="x", severity="loud", source="rule")


def test_ack_and_clear_lifecycle(db):
    with db.session() as s:
        d = _device(s, "a2")
        a = service.raise_alarm(s, device_id=d.id, alarm_type="smoke", severity="critical", source="vendor")
        service.acknowledge(s, a.id, by="duty1", note="已电话联系物业")
        assert a.state == "acknowledged" and a.acked_by == "duty1"
        with pytest.raises(Conflict):
            service.acknowledge(s, a.id, by="duty1")
        with pytest.raises(Invalid):
            service.clear(s, a.id, by="duty1", reason=" ")
        service.clear(s, a.id, by="duty1", reason="现场确认误报")
        assert a.state == "cleared" and a.clear_reason == "现场确认误报"
        again = service.raise_alarm(s, device_id=d.id, alarm_type="smoke", severity="critical", source="vendor")
        assert again.id != a.id and again.count == 1  # a new episode after a clear


def test_children_offline_fold_under_the_gateway(db):
    with db.session() as s:
        nvr = _device(s, "10.1.1.1:0", code="NVR-HIK")
        cams = [_device(s, f"10.1.1.1:{i}", code="CAMERA-HIK", parent_id=nvr.id) for i in (1, 2)]
        early = service.raise_alarm(s, device_id=cams[0].id, alarm_type="offline", severity="warning",
                                    source="liveness")
        root = service.raise_alarm(s, device_id=nvr.id, alarm_type="offline", severity="warning", source="liveness")
        late = service.raise_alarm(s, device_id=cams[1].id, alarm_type="offline", severity="warning",
                                   source="liveness")
        s.refresh(early)
        assert early.root_alarm_id == root.id and early.suppressed
        assert late.root_alarm_id == root.id and late.suppressed and not root.suppressed
        rows, _ = service.list_alarms(s, open_only=True, include_suppressed=False)
        assert [a.id for a in rows] == [root.id]
        service.clear(s, root.id, by="system", reason="NVR 恢复")
        s.refresh(late)
        assert late.root_alarm_id is None and not late.suppressed


def test_runtime_detects_offline_at_the_deadline_and_recovers(db):
    clock, bus = ManualClock(), Bus()
    with db.session() as s:
        d = _device(s, "live-1")  # smoke product: 4 h interval
        s.flush()
        interval = devices.product_by_code(s, "SMOKE-NB-CTW").report_interval_s
        devices.update_device(s, d.id, report_interval_s=60, reason="测试周期")
        did = d.id
    rt = MonitoringRuntime(db, clock=clock, bus=bus)
    rt.load()
    bus.subscribe("device.message.*", rt.on_message)
    bus.publish("device.message.telemetry", {"device_id": did, "kind": "telemetry", "body": {}})
    timeout = rt.engine.timeout(60)
    clock.advance(timeout - 0.01)
    rt.engine.poll()
    rt.flush()
    with db.session() as s:
        assert service.open_alarm(s, did, "offline") is None, "not one tick early"
    clock.advance(0.02)
    rt.engine.poll()
    assert rt.flush() == 1
    with db.session() as s:
        alarm = service.open_alarm(s, did, "offline")
        assert alarm is not None and alarm.source == "liveness"
        assert s.get(Device, did).online is False
        hist = service.state_history(s, did)
        assert [(h.old, h.new, h.reason) for h in hist][:2] == [("online", "offline", "timeout"),
                                                                ("never_seen", "online", "data")]
    bus.publish("device.message.status", {"device_id": did, "kind": "status", "body": {"online": True}})
    bus.publish("device.message.telemetry", {"device_id": did, "kind": "telemetry", "body": {}})
    rt.flush()
    with db.session() as s:
        assert service.open_alarm(s, did, "offline") is None
        assert s.get(Device, did).online is True
    assert interval != 60


def test_runtime_restores_persisted_state_on_load(db):
    clock = ManualClock()
    with db.session() as s:
        d = _device(s, "persist-1")
        devices.update_device(s, d.id, report_interval_s=60)
        s.execute(Device.__table__.update().where(Device.id == d.id).values(online=False))
        did = d.id
    rt = MonitoringRuntime(db, clock=clock, bus=Bus())
    rt.load()
    assert rt.engine.state(did) == "never_seen"  # never seen: no last_seen_at
    from cityops.core.timeutil import utcnow

    with db.session() as s:
        s.execute(Device.__table__.update().where(Device.id == did).values(online=True, last_seen_at=utcnow()))
    rt2 = MonitoringRuntime(db, clock=clock, bus=Bus())
    rt2.load()
    assert rt2.engine.state(did) == "online"
    with db.session() as s:
        assert s.scalar(select(Device.online).where(Device.id == did)) is True


def test_rules_raise_and_clear_alarms_from_messages(db):
    """IOT-5: enum alarm state, low battery with hysteresis, vendor events → alarms, end to end."""
    clock, bus = ManualClock(), Bus()
    with db.session() as s:
        smoke = _device(s, "rule-smoke").id
        manhole = _device(s, "rule-mh", code="MANHOLE-NB-CTW").id
    rt = MonitoringRuntime(db, clock=clock, bus=bus)
    rt.load()
    bus.subscribe("device.message.*", rt.on_message)

    def push(did, kind="telemetry", **body):
        bus.publish(f"device.message.{kind}", {"device_id": did, "kind": kind, "external_id": "x", "body": body})
        rt.flush()

    push(smoke, properties={"status": "smoke_alarm", "battery": "15"})  # messy: number as text
    with db.session() as s:
        assert service.open_alarm(s, smoke, "烟雾报警").severity == "critical"
        assert service.open_alarm(s, smoke, "低电量") is not None
    push(smoke, properties={"status": "normal", "battery": 22})  # between 20 and 25: kept (hysteresis)
    with db.session() as s:
        assert service.open_alarm(s, smoke, "烟雾报警") is None
        assert service.open_alarm(s, smoke, "低电量") is not None
    push(smoke, properties={"battery": 30})
    with db.session() as s:
        assert service.open_alarm(s, smoke, "低电量") is None
    push(manhole, kind="event", event="illegal_move", event_state="active")
    with db.session() as s:
        a = service.open_alarm(s, manhole, "井盖异动")
        assert a is not None and a.source == "vendor"


def test_reading_at_a_lower_bound_is_normal():
    """0 %LEL gas or 0 cm water is the normal floor, not a 'below minimum' alarm (IOT-5)."""
    from cityops.monitoring.rules import RuleEngine, range_rules
    from cityops.ingest.message import DeviceMessage

    rules = range_rules([{"identifier": "gas_lel", "name": "可燃气体浓度", "min": 0, "max": 10}])
    engine = RuleEngine({1: rules}, ManualClock())
    assert engine.on_message(1, DeviceMessage(kind="telemetry", external_id="g", properties={"gas_lel": 0})) == []
    raised = engine.on_message(1, DeviceMessage(kind="telemetry", external_id="g", properties={"gas_lel": 12}))
    assert [s.alarm_type for s in raised] == ["可燃气体浓度超上限"]


def test_rule_state_survives_a_restart(db):
    """IOT-5: a low-battery alarm raised before a restart still clears on recovery after it;
    without the saved state the new process would not know it had raised it."""
    with db.session() as s:
        did = _device(s, "restart-1").id

    def runtime():
        rt = MonitoringRuntime(db, clock=ManualClock(), bus=Bus())
        rt.load()
        rt.restore_state()
        return rt

    def push(rt, **props):
        rt.on_message("device.message.telemetry", {"device_id": did, "kind": "telemetry", "external_id": "x",
                                                   "body": {"properties": props}})
        rt.flush()

    first = runtime()
    push(first, battery=15)
    push(first, battery=22)  # inside the hysteresis band: still raised
    first.save_state()
    second = runtime()
    push(second, battery=22)
    with db.session() as s:
        a = service.open_alarm(s, did, "低电量")
        assert a is not None and a.count == 1, "no second raise after the restart"
    push(second, battery=30)
    with db.session() as s:
        assert service.open_alarm(s, did, "低电量") is None, "the restored engine knew it was raised"


def test_flapping_device_gets_one_flapping_alarm_and_quiet_offline_alarms(db, client, auth_headers):
    """IOT-5: six online/offline changes in an hour make a device flapping; its offline alarms are suppressed."""
    from datetime import timedelta

    from cityops.core.timeutil import utcnow

    with db.session() as s:
        did = _device(s, "flappy").id
    t0 = utcnow() - timedelta(minutes=30)
    states = ["online", "offline"] * 4
    with db.session() as s:
        prev = "never_seen"
        for i, new in enumerate(states):
            service.record_transition(s, device_id=did, old=prev, new=new, reason="timeout",
                                      at=t0 + timedelta(minutes=i))
            prev = new
        flap = service.open_alarm(s, did, "flapping")
        assert flap is not None and flap.details["changes_per_hour"] >= 6
        off = service.open_alarm(s, did, "offline")
        assert off is not None and off.suppressed
    h = auth_headers("duty")
    top = client.get("/api/v1/kpi/flapping", headers=h).json()
    assert top[0]["device_id"] == did and top[0]["changes"] == 8
