"""Alarm → event intake (IOT-6, IOT-7, SYS-DISPATCH): policies decide which device alarms
become city events, with which category, and whether they are accepted and dispatched at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Invalid
from cityops.devices import service as devices
from cityops.events import intake, service
from cityops.events.intake_models import EventAlarmLink
from cityops.events.models import CityEvent
from cityops.monitoring import service as monitoring
from tests.events.helpers import offset_m, street_point

T0 = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def _device(s, ext, product="WATER-ONENET", point=None, **kw):
    if point is None:
        _, lon, lat = street_point(s)
        point = (lon, lat)
    return devices.create_device(s, name=f"测试设备{ext}", product_id=devices.product_by_code(s, product).id,
                                 external_id=ext, lon=point[0], lat=point[1], address="长宁路 100 号", **kw)


def _raise(s, device_id, alarm_type="积水超限", severity="critical", source="vendor", at=T0):
    return monitoring.raise_alarm(s, device_id=device_id, alarm_type=alarm_type, severity=severity, source=source,
                                  message=f"{alarm_type}：30 cm", at=at)


def _events(s):
    return list(s.scalars(select(CityEvent).where(CityEvent.source_kind == "iot_alarm").order_by(CityEvent.id)))


def test_waterlogging_alarm_becomes_a_dispatched_event_after_min_active(db):
    """IOT-6: 积水超限 → 防汛防台/道路积水, street from the device, accepted and dispatched (IOT-7)."""
    with db.session() as s:
        intake.seed_intake(s)
        dev = _device(s, "wl-1")
        alarm = _raise(s, dev.id)
        street = dev.street_code
        assert street
    with db.session() as s:  # the policy waits 60 s: a 10-second blip is no event
        r = intake.process_alarms(s, T0 + timedelta(seconds=10))
        assert (r.created, r.waiting) == (0, 1) and _events(s) == []
    with db.session() as s:
        r = intake.process_alarms(s, T0 + timedelta(seconds=61))
        assert r.created == 1
    with db.session() as s:
        [ev] = _events(s)
        assert service.get_category(s, ev.category_id).code == "040101"
        assert ev.street_code == street and ev.source_ref == f"alarm:{alarm.id}"
        assert ev.severity == "critical" and ev.title.startswith("积水超限") and "长宁路 100 号" in ev.description
        assert ev.state == "dispatched" and ev.unit_id is not None
        actions = [(t.action, t.actor) for t in service.transitions_of(s, ev.id)]
        assert actions == [("report", "system:intake"), ("accept", "system:intake"), ("dispatch", "system:intake")]
        link = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == alarm.id))
        assert (link.event_id, link.report_id, link.outcome) == (ev.id, ev.id, "event")
    with db.session() as s:  # second pass: nothing new
        r = intake.process_alarms(s, T0 + timedelta(seconds=120))
        assert r.created == 0 and len(_events(s)) == 1


def test_manhole_alarm_goes_to_the_cover_category(db):
    with db.session() as s:
        intake.seed_intake(s)
        dev = _device(s, "mh-1", product="MANHOLE-NB-CTW")
        _raise(s, dev.id, alarm_type="井盖异动", severity="major")
        intake.process_alarms(s, T0 + timedelta(seconds=1))
        [ev] = _events(s)
        assert service.get_category(s, ev.category_id).code == "030103"
        assert ev.severity == "critical"  # the policy's own severity wins over the alarm's


def test_offline_alarm_is_no_event_until_a_policy_takes_it(db):
    """Device offline is O&M, not a city event; a new policy re-weighs ignored open alarms."""
    with db.session() as s:
        intake.seed_intake(s)
        dev = _device(s, "off-1", product="SMOKE-NB-CTW")
        alarm = _raise(s, dev.id, alarm_type="offline", severity="warning", source="liveness")
        r = intake.process_alarms(s, T0 + timedelta(minutes=5))
        assert (r.created, r.ignored) == (0, 1)
        link = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == alarm.id))
        assert link.outcome == "ignored" and "不生成事件" in link.note
        assert intake.process_alarms(s, T0 + timedelta(minutes=6)).ignored == 0  # remembered
        intake.create_policy(s, name="离线烟感也立案", priority=200, alarm_type="offline", device_type="smoke",
                             category_code="050101")
        r = intake.process_alarms(s, T0 + timedelta(minutes=7))
        assert r.created == 1
        [ev] = _events(s)
        assert ev.state == "reported"  # no auto_accept: waits for the duty staff


def test_suppressed_and_cleared_alarms_are_left_alone(db):
    with db.session() as s:
        intake.seed_intake(s)
        a = _raise(s, _device(s, "sup-1").id)
        a.suppressed = True
        b = _raise(s, _device(s, "clr-1", point=offset_m(*street_point(s, 1)[1:], east_m=500)).id)
        monitoring.clear(s, b.id, by="duty", reason="现场确认无积水")
        s.flush()
        assert intake.process_alarms(s, T0 + timedelta(hours=1)).created == 0
        assert _events(s) == []


def test_second_alarm_nearby_is_merged_and_linked_to_the_parent(db):
    with db.session() as s:
        intake.seed_intake(s)
        _, lon, lat = street_point(s)
        d1 = _device(s, "m-1", point=(lon, lat))
        d2 = _device(s, "m-2", point=offset_m(lon, lat, east_m=30))
        a1 = _raise(s, d1.id)
        intake.process_alarms(s, T0 + timedelta(minutes=2))
        a2 = _raise(s, d2.id, at=T0 + timedelta(minutes=3))
        r = intake.process_alarms(s, T0 + timedelta(minutes=5))
        assert r.merged == 1
        parent, child = _events(s)
        assert child.state == "merged" and child.merged_into_id == parent.id and parent.report_count == 2
        l1 = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == a1.id))
        l2 = s.scalar(select(EventAlarmLink).where(EventAlarmLink.alarm_id == a2.id))
        assert (l1.event_id, l2.event_id, l2.report_id, l2.outcome) == (parent.id, parent.id, child.id, "merged")
        assert [ln.alarm_id for ln in intake.links(s, event_id=parent.id)] == [a2.id, a1.id]


def test_link_is_unique_per_alarm(db):
    """Two processes deciding the same alarm: the unique alarm_id makes the second one a no-op."""
    with db.session() as s:
        intake.seed_intake(s)
        dev = _device(s, "race-1")
        alarm = _raise(s, dev.id)
        policy = next(p for p in intake.list_policies(s) if p.name == "道路积水超限")
    with db.session() as s:
        s.add(EventAlarmLink(alarm_id=alarm.id, outcome="ignored", note="another process"))
    with db.session() as s:  # as if this process read the alarm before the other committed
        alarm = s.get(type(alarm), alarm.id)
        outcome = intake.take_alarm(s, alarm, s.get(type(dev), dev.id), s.get(type(policy), policy.id),
                                    T0 + timedelta(minutes=2))
        assert outcome == "taken"
        assert s.scalar(select(func.count()).select_from(CityEvent)
                        .where(CityEvent.source_ref == f"alarm:{alarm.id}")) == 0


def test_policy_matching_by_prefix_severity_street_tag_source(db):
    with db.session() as s:
        intake.seed_intake(s)
        code, lon, lat = street_point(s)
        dev = _device(s, "match-1", product="GAS-ONENET", point=(lon, lat))
        low = _raise(s, dev.id, alarm_type="燃气低限报警", severity="warning")
        pols = intake.list_policies(s)
        assert intake.match(pols, low, dev, ()).name == "燃气低限/浓度超限"
        low.severity = "critical"
        assert intake.match(pols, low, dev, ()).name == "燃气高限报警"
        p = intake.create_policy(s, name="本街燃气", priority=300, alarm_type="燃气*", street_code=code, tag_id=999,
                                 source="vendor", category_code="060101", auto_dispatch=True)
        assert p.auto_accept is True  # dispatching implies accepting
        pols = intake.list_policies(s)
        assert intake.match(pols, low, dev, ()).name == "燃气高限报警"  # tag missing
        assert intake.match(pols, low, dev, (999,)).name == "本街燃气"
        low.source = "rule"
        assert intake.match(pols, low, dev, (999,)).name == "燃气高限报警"
        assert intake.type_matches("积水*", "积水深度超上限") and not intake.type_matches("积水", "积水深度超上限")


def test_policy_validation(db):
    with db.session() as s:
        intake.seed_intake(s)
        with pytest.raises(Invalid, match="不是细类"):
            intake.create_policy(s, name="x", alarm_type="烟雾报警", category_code="0501")
        with pytest.raises(Invalid, match="末尾"):
            intake.create_policy(s, name="y", alarm_type="烟*报警", category_code="050101")
        with pytest.raises(Invalid):
            intake.create_policy(s, name="z", alarm_type="烟雾报警", category_code="050101", min_severity="huge")
        ignore = intake.create_policy(s, name="忽略低电量", alarm_type="低电量", action="ignore")
        assert ignore.category_code == ""
        assert intake.seed_intake(s) == 0  # idempotent


def test_jobs_registered_and_woken_by_alarm_raise(db):
    from cityops.core.bus import bus
    from cityops.core.jobs import Scheduler
    from cityops.events import intake_jobs

    sched = Scheduler(db)
    intake_jobs.register(sched)
    assert sched.jobs["events.intake"].interval_s == 2 and sched.jobs["events.verify"].interval_s == 30
    assert sched.jobs["events.intake"].singleton and sched.jobs["events.verify"].singleton
    woken = []
    sched.wake = woken.append  # the real wake needs a running scheduler thread
    try:
        bus.publish("alarm.raise", {"device_id": 1, "alarm_type": "烟雾报警"})
    finally:
        sched.stop()
    assert woken == ["events.intake"]
    with db.session() as s:
        intake.seed_intake(s)
        _raise(s, _device(s, "job-1", product="SMOKE-NB-CTW").id, alarm_type="烟雾报警")
    r = intake_jobs.run_intake(db, T0 + timedelta(seconds=5))
    assert r.created == 1
    with db.session() as s:
        [ev] = _events(s)
        assert ev.state == "dispatched" and service.get_category(s, ev.category_id).code == "050101"


def test_waiting_alarms_do_not_hide_newer_ones(db, monkeypatch):
    """A page full of alarms still inside min_active_s must not starve the alarms after it."""
    from cityops.events import intake_jobs

    monkeypatch.setattr(intake, "BATCH", 2)
    with db.session() as s:
        intake.seed_intake(s)
        for i in range(3):  # garbage bins wait 30 minutes
            _raise(s, _device(s, f"bin-{i}", product="BIN-ALIYUN", point=offset_m(*street_point(s)[1:],
                                                                                north_m=300 * i)).id,
                   alarm_type="垃圾满溢", severity="warning", at=T0 + timedelta(minutes=4))
        _raise(s, _device(s, "smoke-late", product="SMOKE-NB-CTW").id, alarm_type="烟雾报警",
               at=T0 + timedelta(minutes=4))
    r = intake_jobs.run_intake(db, T0 + timedelta(minutes=5))
    assert (r.created, r.waiting, r.seen) == (1, 3, 4)
