"""Call triggers from domain events (CALL-1), with real domain objects made through the domain
services: a hotline event disposed through `events.lifecycle` gets a 回访 whose answer reaches
the event; an overdue dispatch work order calls its unit once a day; an unacknowledged critical
alarm calls whoever is on duty. Every pass is idempotent and its counts are kept."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.callout import dialer, templates, trigger_jobs, triggers
from cityops.callout.campaign_models import CallTask, Campaign
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import SHANGHAI
from cityops.devices import service as devices
from cityops.dispatch import service as dispatch
from cityops.duty import service as duty
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.geo import service as geo
from cityops.monitoring import service as monitoring
from tests.events.helpers import offset_m, street_point

DISPOSED = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
CITIZEN, OTHER, UNIT_PHONE, ON_DUTY, ON_DUTY2 = "13900000001", "13900000002", "02162345678", "13800000011", \
    "13800000012"


def enable(db, scenario, **triggers_):
    with db.session() as s:
        templates.update(s, scenario, triggers=triggers_, actor="demo")


def tasks_of(db, scenario):
    with db.session() as s:
        return [(t.number_e164, t.business_ref, t.state, t.next_attempt_at, t.note) for t in s.scalars(
            select(CallTask).join(Campaign, Campaign.id == CallTask.campaign_id)
            .where(Campaign.scenario == scenario).order_by(CallTask.id))]


def disposed_event(db, *, phone, index=0, source="hotline", at=DISPOSED):
    with db.session() as s:
        _, lon, lat = street_point(s)
        lon, lat = offset_m(lon, lat, east_m=index * 400)
        ev = events.create_event(s, category_code="020101", title=f"热线：噪声扰民 {index}", lon=lon, lat=lat,
                                 source_kind=source, reporter_name="王先生", reporter_phone=phone, created_by="hotline",
                                 reported_at=at - timedelta(hours=3), merge=False)
        for i, to in enumerate(("accepted", "dispatched", "in_progress", "disposed")):
            lifecycle.transition(s, ev.id, to, actor="duty1", role="duty", at=at - timedelta(minutes=3 - i))
        return ev.id


def test_triggers_are_off_by_default(db):
    disposed_event(db, phone=CITIZEN)
    assert trigger_jobs.run_all(db, now=DISPOSED + timedelta(hours=1)) == {
        "event_closed": None, "workorder_overdue": None, "alarm_unacked": None}
    assert tasks_of(db, "hotline_callback") == []


def test_disposed_event_gets_a_callback_that_reaches_the_event(db):
    enable(db, "hotline_callback", event_closed={"enabled": True, "delay_min": 30})
    good = disposed_event(db, phone=CITIZEN, index=0)
    disposed_event(db, phone="", index=1)  # no reporter phone: counted, not called
    disposed_event(db, phone=OTHER, index=2, source="iot_alarm")  # verified automatically instead
    now = DISPOSED + timedelta(minutes=1)
    out = trigger_jobs.run_callbacks(db, now=now)["event_closed"]
    assert out == {"created": 1, "no_number": 1, "invalid_number": 0, "duplicate": 0}
    assert tasks_of(db, "hotline_callback") == [("+86" + CITIZEN, f"event:{good}", "pending",
                                                 DISPOSED + timedelta(minutes=30), "")]
    # idempotent: the next pass (or a wake-up from the bus) adds nothing
    assert trigger_jobs.run_callbacks(db, now=now)["event_closed"]["created"] == 0
    with db.session() as s:
        c = s.scalar(select(Campaign).where(Campaign.scenario == "hotline_callback"))
        assert (c.trigger, c.rolling, c.state) == ("event_closed", True, "running")
        run = triggers.last_runs(s)["event_closed"]
        assert run.counts["no_number"] == 1 and run.at == now
    sim = SimTelephony(scripted={"+86" + CITIZEN: SimCall(["answered"], ["1"])})
    assert dialer.run_due(db, telephony=sim, now=now) == {}  # the delay has not passed
    assert dialer.run_due(db, telephony=sim, now=DISPOSED + timedelta(minutes=30)) == {"answered": 1}
    assert tasks_of(db, "hotline_callback")[0][4] == "回访结果已登记到事件（满意）"
    with db.session() as s:
        ev = events.get_event(s, good)
        assert ev.state == "closed"
        assert [t.actor for t in events.transitions_of(s, good) if t.action == "close"] == ["callout"]


def test_old_disposals_are_not_called_back_when_the_trigger_is_switched_on(db):
    disposed_event(db, phone=CITIZEN, at=DISPOSED - timedelta(days=10))
    enable(db, "hotline_callback", event_closed={"enabled": True})
    assert trigger_jobs.run_callbacks(db, now=DISPOSED)["event_closed"]["created"] == 0


@pytest.fixture
def overdue_order(db):
    """A work order queued on an Open311 platform for an event dispatched at DISPOSED; its
    unit's contact phone is UNIT_PHONE. Returns (order id, unit id)."""
    with db.session() as s:
        dispatch.create_platform(s, name="区智能派单平台", kind="open311", settings={
            "base_url": "http://127.0.0.1:9/open311/v2", "api_key": "k"})
        _, lon, lat = street_point(s)
        ev = events.create_event(s, category_code="030101", title="井盖缺失", lon=lon, lat=lat, address="长宁路1号",
                                 created_by="duty1", merge=False, reported_at=DISPOSED - timedelta(hours=1))
        lifecycle.transition(s, ev.id, "accepted", actor="duty1", role="duty", at=DISPOSED - timedelta(minutes=50))
        order = dispatch.dispatch_event(s, ev.id, actor="duty1", role="duty", now=DISPOSED)
        geo.update_unit(s, order.unit_id, contact_name="李科长", contact_phone=UNIT_PHONE)
        return order.id, order.unit_id


def test_overdue_work_order_calls_the_unit_once_a_day(db, overdue_order):
    order_id, _ = overdue_order
    enable(db, "workorder_reminder", workorder_overdue={"enabled": True})
    assert trigger_jobs.run_scan(db, now=DISPOSED + timedelta(minutes=10))["workorder_overdue"]["created"] == 0
    later = DISPOSED + timedelta(days=20)  # well past any dispose limit
    out = trigger_jobs.run_scan(db, now=later)
    assert out["workorder_overdue"]["created"] == 1 and out["alarm_unacked"] is None
    assert trigger_jobs.run_scan(db, now=later + timedelta(hours=2))["workorder_overdue"]["created"] == 0
    day = later.astimezone(SHANGHAI).date()
    assert [(n, ref) for n, ref, *_ in tasks_of(db, "workorder_reminder")] == [
        ("+862162345678", f"workorder:{order_id}:{day.isoformat()}")]
    trigger_jobs.run_scan(db, now=later + timedelta(days=1))  # still overdue the next day: once more
    assert len(tasks_of(db, "workorder_reminder")) == 2


def test_overdue_work_order_without_a_phone_is_counted(db, overdue_order):
    _, unit_id = overdue_order
    with db.session() as s:
        geo.update_unit(s, unit_id, contact_phone="", duty_phone="")
    enable(db, "workorder_reminder", workorder_overdue={"enabled": True})
    out = trigger_jobs.run_scan(db, now=DISPOSED + timedelta(days=20))["workorder_overdue"]
    assert out["created"] == 0 and out["no_number"] == 1


def _device(s, ext):
    return devices.create_device(s, name=ext, product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                 external_id=ext)


def test_unacknowledged_critical_alarm_calls_the_people_on_duty(db):
    t0 = DISPOSED
    with db.session() as s:
        duty.create_team(s, code="night", name="夜班")
        for name, phone, role in (("张三", ON_DUTY, "leader"), ("李四", ON_DUTY2, "member")):
            c = duty.create_contact(s, name=name, phone=phone, team_code="night")
            duty.create_shift(s, contact_id=c.id, team_code="night", role=role, starts_at=t0 - timedelta(hours=4),
                              ends_at=t0 + timedelta(hours=8))
        crit = monitoring.raise_alarm(s, device_id=_device(s, "smk-1").id, alarm_type="smoke", severity="critical",
                                      source="vendor", at=t0).id
        monitoring.raise_alarm(s, device_id=_device(s, "smk-2").id, alarm_type="smoke", severity="warning",
                               source="vendor", at=t0)
        acked = monitoring.raise_alarm(s, device_id=_device(s, "smk-3").id, alarm_type="smoke", severity="critical",
                                       source="vendor", at=t0).id
        monitoring.acknowledge(s, acked, by="duty1")
    enable(db, "iot_alert", alarm_unacked={"enabled": True, "minutes": 15, "min_severity": "critical"})
    assert trigger_jobs.run_scan(db, now=t0 + timedelta(minutes=10))["alarm_unacked"]["created"] == 0
    out = trigger_jobs.run_scan(db, now=t0 + timedelta(minutes=16))["alarm_unacked"]
    assert out["created"] == 2
    assert [(n, ref) for n, ref, *_ in tasks_of(db, "iot_alert")] == [("+86" + ON_DUTY, f"alarm:{crit}"),
                                                                      ("+86" + ON_DUTY2, f"alarm:{crit}")]
    assert trigger_jobs.run_scan(db, now=t0 + timedelta(minutes=17))["alarm_unacked"]["created"] == 0
    with db.session() as s:
        c = s.scalar(select(Campaign).where(Campaign.scenario == "iot_alert"))
        assert (c.priority, c.trigger) == ("high", "alarm_unacked")
    sim = SimTelephony(scripted={"+86" + ON_DUTY: SimCall(["answered"], ["1"]), "+86" + ON_DUTY2: SimCall(["busy"])})
    night = t0.replace(hour=2) + timedelta(days=1)  # 物联感知 has no calling window
    assert dialer.run_due(db, telephony=sim, now=night) == {"answered": 1, "busy": 1}
    with db.session() as s:  # acknowledged before the retry: the busy person is not called again
        monitoring.acknowledge(s, crit, by="duty2")
    assert dialer.run_due(db, telephony=sim, now=night + timedelta(hours=1)) == {"skipped": 1}
    second = tasks_of(db, "iot_alert")[1]
    assert (second[2], second[4]) == ("skipped", "告警已确认或已恢复，不再呼叫")


def test_nobody_on_duty_is_counted(db):
    with db.session() as s:
        monitoring.raise_alarm(s, device_id=_device(s, "smk-9").id, alarm_type="smoke", severity="critical",
                               source="vendor", at=DISPOSED)
    enable(db, "iot_alert", alarm_unacked={"enabled": True, "minutes": 5})
    out = trigger_jobs.run_scan(db, now=DISPOSED + timedelta(minutes=6))["alarm_unacked"]
    assert out["created"] == 0 and out["no_one_on_duty"] == 1


def test_jobs_are_registered_and_woken_by_event_transitions(db):
    from cityops.core.bus import bus

    sched = Scheduler(db)
    trigger_jobs.register(sched)
    assert {trigger_jobs.CALLBACK_JOB, trigger_jobs.SCAN_JOB} <= set(sched.jobs)
    woken = []
    sched.wake = woken.append  # the scheduler is not running here; see that the bus reaches it
    try:
        bus.publish(lifecycle.TOPIC, {"event_id": 1, "to": "disposed"})
        assert woken == [trigger_jobs.CALLBACK_JOB]
    finally:
        sched.stop()
