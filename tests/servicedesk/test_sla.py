"""SLA clocks of service-desk tickets (OPS-3) on a virtual clock: 7×24 and working-day
calendars with the 2026 National Day holiday and its make-up day, pauses while pending."""

from datetime import UTC, datetime, timedelta

import pytest

from cityops.core.errors import Invalid
from cityops.servicedesk import service as desk
from cityops.servicedesk import sla, workflow
from tests.servicedesk.conftest import T0


def bj(*args) -> datetime:
    """A Beijing wall-clock time as UTC."""
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)


def test_priority_matrix_is_itil_style():
    assert sla.priority_of(1, 1) == "P1"
    assert sla.priority_of(1, 2) == sla.priority_of(2, 1) == "P2"
    assert sla.priority_of(1, 3) == sla.priority_of(2, 2) == sla.priority_of(3, 1) == "P3"
    assert sla.priority_of(2, 3) == sla.priority_of(3, 3) == "P4"
    with pytest.raises(Invalid):
        sla.priority_of(0, 2)
    assert len(sla.matrix()["cells"]) == 9


def test_p3_opened_before_national_day_counts_holiday_and_makeup_day(db):
    # Wed 2026-09-30 14:00 Beijing. Response 2 working hours → 16:00 the same day. Resolution 3 working
    # days (1350 min): 210 min on 9-30, nothing 10-01..10-07 (holiday), 450 on Thu 10-08, 450 on Fri 10-09,
    # and the rest (240 min) on Saturday 10-10, a make-up working day: 09:00-12:00 + 13:00-14:00.
    with db.session() as s:
        t = desk.open_ticket(s, title="网格系统打不开", impact=2, urgency=2, now=T0)
        assert t.priority == "P3"
        c = sla.sla_status(t, T0, session=s)
        assert c["response"].due_at == bj(2026, 9, 30, 16, 0)
        assert c["resolution"].due_at == bj(2026, 10, 10, 14, 0)
        # During the holiday nothing elapses beyond the 210 minutes of 9-30.
        mid = sla.sla_status(t, bj(2026, 10, 4, 10, 0), session=s)["resolution"]
        assert mid.elapsed == timedelta(minutes=210)
        assert mid.state == "ok"
        # Sunday 10-11 is not a working day; by then the clock has run out.
        late = sla.sla_status(t, bj(2026, 10, 10, 14, 1), session=s)["resolution"]
        assert late.state == "breached" and late.remaining == timedelta(minutes=-1)
        # 80 % of 1350 = 1080 working minutes: 210 + 450 (10-08) + 420 (180 in the morning, 240 from 13:00) → Fri 10-09 17:00.
        assert sla.sla_status(t, bj(2026, 10, 9, 16, 59), session=s)["resolution"].state == "ok"
        assert sla.sla_status(t, bj(2026, 10, 9, 17, 0), session=s)["resolution"].state == "warning"


def test_p1_runs_round_the_clock(db):
    with db.session() as s:
        t = desk.open_ticket(s, title="城区之眼全部黑屏", impact=1, urgency=1, now=T0)
        c = sla.sla_status(t, T0 + timedelta(minutes=12), session=s)
        assert c["response"].due_at == T0 + timedelta(minutes=15)
        assert c["response"].state == "warning" and round(c["response"].pct) == 80
        assert c["resolution"].due_at == T0 + timedelta(hours=4)
        assert sla.sla_status(t, T0 + timedelta(minutes=16), session=s)["response"].state == "breached"


def test_resolution_clock_pauses_while_pending_and_response_is_met(db, team):
    with db.session() as s:
        t = desk.open_ticket(s, title="视频调阅失败", impact=1, urgency=2, now=T0)  # P2: 30 min / 8 h, 7×24
        workflow.start(s, t.id, actor=team["leader"], now=T0 + timedelta(minutes=10))
        workflow.pend(s, t.id, reason="等待厂商", actor=team["leader"], now=T0 + timedelta(hours=1))
        during = sla.sla_status(t, T0 + timedelta(hours=3), session=s)
        assert during["response"].state == "met"
        res = during["resolution"]
        assert res.paused and res.elapsed == timedelta(hours=1) and res.due_at is None
        workflow.resume(s, t.id, actor=team["leader"], now=T0 + timedelta(hours=5))
        after = sla.sla_status(t, T0 + timedelta(hours=6), session=s)["resolution"]
        assert after.elapsed == timedelta(hours=2)
        assert after.due_at == T0 + timedelta(hours=12)  # 8 h + the 4 h paused
        assert not after.paused
        workflow.resolve(s, t.id, solution="厂商重启转发节点", actor=team["leader"], now=T0 + timedelta(hours=7))
        done = sla.sla_status(t, T0 + timedelta(days=3), session=s)["resolution"]
        assert done.state == "met" and done.elapsed == timedelta(hours=3)


def test_pause_on_a_working_day_calendar(db, team):
    # P4 on workdays: pending from 9-30 15:00 to 10-08 10:00 (Beijing) removes the rest of 9-30 and 10-08 morning.
    with db.session() as s:
        t = desk.open_ticket(s, title="申请新增账号", nature="request", impact=3, urgency=3, now=T0)
        workflow.start(s, t.id, actor=team["member"], now=T0 + timedelta(minutes=5))
        workflow.pend(s, t.id, reason="等待用户", actor=team["member"], now=bj(2026, 9, 30, 15, 0))
        workflow.resume(s, t.id, actor=team["member"], now=bj(2026, 10, 8, 10, 0))
        c = sla.sla_status(t, bj(2026, 10, 8, 11, 0), session=s)["resolution"]
        assert c.elapsed == timedelta(minutes=60 + 60)  # 14:00-15:00 on 9-30, 10:00-11:00 on 10-08
        # 2250 - 60 = 2190 min left from 10-08 10:00: 120 (to 12:00) + 270 (to 17:30) = 390 → 1800 left;
        # 10-09 450 → 1350; 10-10 (make-up) 450 → 900; 10-12 450 → 450; 10-13 full 450 → 10-13 17:30.
        assert c.due_at == bj(2026, 10, 13, 17, 30)


def test_targets_are_editable_and_validated(db):
    with db.session() as s:
        assert sla.targets(s)["P1"].response_min == 15
        sla.update_target(s, "P1", actor="m", response_min=10, warn_at_pct=70)
        assert sla.targets(s)["P1"].response_min == 10
        with pytest.raises(Invalid):
            sla.update_target(s, "P2", actor="m", response_min=600, resolution_min=60)
        with pytest.raises(Invalid):
            sla.update_target(s, "P2", actor="m", calendar_mode="weekly")
