"""Automatic verification of disposed alarm events and the callback hook (IOT-6, IOT-7,
SYS-DISPATCH): pass → verified + closed, fail → returned, hold period → waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict
from cityops.devices import service as devices
from cityops.devices import sync, upstream
from cityops.events import intake, lifecycle, service, verify
from cityops.events.intake_models import EventVerification
from cityops.ingest import service as ingest
from cityops.monitoring import service as monitoring
from cityops.monitoring.models import Alarm
from tests.events.helpers import street_point

T0 = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
CLEAR = T0 + timedelta(hours=1)


def _disposed_alarm_event(db, ext="v-1", connection_id=None, street=0):
    """A waterlogging alarm → event (auto-dispatched) → in progress → disposed; the device is
    online and the alarm cleared at CLEAR. Returns (event id, alarm id, device id)."""
    with db.session() as s:
        intake.seed_intake(s)
        _, lon, lat = street_point(s, street)
        dev = devices.create_device(s, name=f"积水监测{ext}", product_id=devices.product_by_code(s, "WATER-ONENET").id,
                                    external_id=ext, lon=lon, lat=lat, connection_id=connection_id)
        monitoring.record_transition(s, device_id=dev.id, old="never_seen", new="online", reason="data", at=T0)
        alarm = monitoring.raise_alarm(s, device_id=dev.id, alarm_type="积水超限", severity="critical",
                                       source="vendor", at=T0)
        intake.process_alarms(s, T0 + timedelta(minutes=2))
        ev = s.scalar(select(service.CityEvent).where(service.CityEvent.source_ref == f"alarm:{alarm.id}"))
        assert ev.state == "dispatched"
        lifecycle.transition(s, ev.id, "in_progress", actor="platform", role="system", at=T0 + timedelta(minutes=10))
        lifecycle.transition(s, ev.id, "disposed", actor="platform", role="system", at=T0 + timedelta(minutes=50))
        monitoring.clear(s, alarm.id, by="system", reason="条件已恢复")
        alarm.cleared_at = CLEAR
        return ev.id, alarm.id, dev.id


def _rows(s, event_id):
    return list(s.scalars(select(EventVerification).where(EventVerification.event_id == event_id)
                          .order_by(EventVerification.id)))


def test_hold_period_then_pass_closes_the_event(db):
    eid, _, _ = _disposed_alarm_event(db)
    with db.session() as s:  # the waterlogging policy holds 30 minutes
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=10))
        assert row.passed is None and "观察期还剩 20 分钟" in row.reason
        row2 = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=20))
        assert row2.id == row.id and "还剩 10 分钟" in row2.reason  # one row per wait, updated
        assert service.get_event(s, eid).state == "disposed"
    with db.session() as s:
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=31))
        assert row.passed is True and row.kind == "auto"
        assert row.checks["devices"][0]["run_state"] == "online"
        assert row.checks["devices"][0]["carrier"]["skipped"] is True  # no sync source for its connection
        ev = service.get_event(s, eid)
        assert ev.state == "closed" and ev.verified_at == CLEAR + timedelta(minutes=31)
        trs = service.transitions_of(s, eid)[-2:]
        assert [(t.action, t.actor) for t in trs] == [("verify", "system:verify"), ("close", "system:verify")]
        assert trs[0].details["verification"]["passed"] is True
        assert [r.passed for r in _rows(s, eid)] == [None, True]


def test_alarm_again_returns_the_event(db):
    eid, _, dev_id = _disposed_alarm_event(db, "v-2")
    with db.session() as s:
        monitoring.raise_alarm(s, device_id=dev_id, alarm_type="积水超限", severity="critical", source="vendor",
                               at=CLEAR + timedelta(minutes=5))
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=40))
        assert row.passed is False and "再次告警" in row.reason
        ev = service.get_event(s, eid)
        assert ev.state == "accepted"
        tr = service.transitions_of(s, eid)[-1]
        assert (tr.action, tr.actor) == ("return", "system:verify") and tr.reason.startswith("自动核查未通过")
        assert tr.details["verification"]["passed"] is False


def test_new_alarm_that_cleared_restarts_the_hold(db):
    eid, _, dev_id = _disposed_alarm_event(db, "v-3")
    with db.session() as s:
        again = monitoring.raise_alarm(s, device_id=dev_id, alarm_type="积水超限", severity="critical",
                                       source="vendor", at=CLEAR + timedelta(minutes=5))
        monitoring.clear(s, again.id, by="system", reason="条件已恢复")
        again.cleared_at = CLEAR + timedelta(minutes=20)
        s.flush()
        assert verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=40)).passed is None
        assert verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=51)).passed is True


def test_offline_device_and_uncleared_alarm_fail(db):
    eid, _, dev_id = _disposed_alarm_event(db, "v-4")
    with db.session() as s:
        monitoring.record_transition(s, device_id=dev_id, old="online", new="offline", reason="timeout",
                                     at=CLEAR + timedelta(minutes=1))
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(hours=2))
        assert row.passed is False and "离线" in row.reason and row.checks["devices"][0]["run_state"] == "offline"
    eid2, alarm2, _ = _disposed_alarm_event(db, "v-5", street=3)
    with db.session() as s:
        a = s.get(Alarm, alarm2)
        a.state, a.cleared_at = "active", None  # still raised when the platform says "done"
        s.flush()
        row = verify.verify_event(s, eid2, now=CLEAR + timedelta(hours=2))
        assert row.passed is False and "仍未消除" in row.reason
        assert service.get_event(s, eid2).state == "accepted"


def test_carrier_is_asked_where_the_adapter_can(db, monkeypatch):
    with db.session() as s:
        conn = ingest.create_connection(s, kind="ctwing", name="电信AEP-积水")
        sync.configure_source(s, conn.id, settings={"base_url": "http://127.0.0.1:9"})
        conn_id = conn.id
    eid, _, _ = _disposed_alarm_event(db, "v-6", connection_id=conn_id)
    with db.session() as s:  # the shipped http_json adapter lists whole fleets only: skipped, with the reason
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=5))  # still waiting: no carrier call
        assert row.passed is None
        carrier = verify.carrier_check(s, s.get(devices.Device, row.checks["devices"][0]["device_id"]))
        assert carrier["skipped"] and "不支持单设备查询" in carrier["reason"]
    asked = []

    def device_online(settings, external_id):
        asked.append((settings.base_url, external_id))
        return False

    monkeypatch.setattr(upstream.SOURCES["http_json"], "device_online", device_online, raising=False)
    with db.session() as s:
        row = verify.verify_event(s, eid, now=CLEAR + timedelta(minutes=31))
        assert asked == [("http://127.0.0.1:9", "v-6")]
        assert row.passed is False and "运营商平台显示设备" in row.reason
        assert service.get_event(s, eid).state == "accepted"


def test_callback_result_hook(db):
    with db.session() as s:
        _, lon, lat = street_point(s)
        ids = []
        for i in range(2):
            ev = service.create_event(s, category_code="020101", title=f"热线：无证设摊 {i}", lon=lon + i * 0.01,
                                      lat=lat, source_kind="hotline", created_by="hotline")
            for to in ("accepted", "dispatched", "in_progress", "disposed"):
                lifecycle.transition(s, ev.id, to, actor="duty1", role="duty")
            ids.append(ev.id)
        with pytest.raises(Conflict, match="不是设备告警"):
            verify.verify_event(s, ids[0])
        ok = verify.record_callback_result(s, ids[0], satisfied=True, note="已清理", actor="callout")
        assert ok.kind == "callback" and ok.passed is True and service.get_event(s, ids[0]).state == "closed"
        bad = verify.record_callback_result(s, ids[1], satisfied=False, note="摊位还在", actor="callout")
        assert bad.passed is False and bad.reason == "回访不满意：摊位还在"
        ev = service.get_event(s, ids[1])
        tr = service.transitions_of(s, ev.id)[-1]
        assert ev.state == "accepted" and tr.action == "return" and tr.reason == "回访不满意：摊位还在"
        assert tr.details["verification"]["kind"] == "callback"
        with pytest.raises(Conflict):
            verify.record_callback_result(s, ids[1], satisfied=True, note="", actor="callout")


def test_verify_job_picks_disposed_alarm_events(db):
    from cityops.events import intake_jobs

    eid, _, _ = _disposed_alarm_event(db, "v-7")
    out = intake_jobs.run_verify(db, now=CLEAR + timedelta(minutes=45))
    assert out["passed"] == 1
    with db.session() as s:
        assert service.get_event(s, eid).state == "closed"


def test_alarm_event_without_links_is_left_to_people(db):
    with db.session() as s:
        _, lon, lat = street_point(s, 2)
        ev = service.create_event(s, category_code="040101", title="值班员登记：积水", lon=lon, lat=lat,
                                  source_kind="iot_alarm", created_by="duty1")
        for to in ("accepted", "dispatched", "in_progress", "disposed"):
            lifecycle.transition(s, ev.id, to, actor="duty1", role="duty")
        assert ev.id not in verify.due_events(s)
        with pytest.raises(Conflict, match="没有关联的设备告警"):
            verify.verify_event(s, ev.id)
        assert service.get_event(s, ev.id).state == "disposed"
