"""Maintenance plans and tasks (OPS-2): schedules in Beijing time, working-day rules, the
generate job's idempotency, done/skip with log lines, overdue, due_today."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import local
from cityops.duty import service as duty
from cityops.maintenance import jobs, plans, tasks
from cityops.maintenance.log_models import LogEntry
from cityops.maintenance.models import MaintenancePlan, MaintenanceTask

T0 = datetime(2026, 9, 28, 0, 0, tzinfo=UTC)  # Monday 28 Sep 2026, 08:00 Beijing


def _plan(s, **kw):
    values = dict(name="测试计划", layer="database", title="备份校验", steps=["核对备份", "检查校验和"],
                  frequency="daily", at_time="09:00")
    values.update(kw)
    return plans.create_plan(s, now=kw.pop("now", T0 - timedelta(days=60)), **values)


def _bj(t):
    return local(t).strftime("%Y-%m-%d %H:%M")


def test_daily_weekly_monthly_quarterly_slots(db):
    with db.session() as s:
        daily = _plan(s)
        weekly = _plan(s, name="周", frequency="weekly", weekdays=[1, 3], at_time="10:30")
        monthly = _plan(s, name="月", frequency="monthly", month_day=31, at_time="14:00")
        quarterly = _plan(s, name="季", frequency="quarterly", month_day=15)
        end = T0 + timedelta(days=100)
        assert [_bj(t) for t in plans.slots(daily, T0, T0 + timedelta(days=2))] == ["2026-09-28 09:00",
                                                                                     "2026-09-29 09:00"]
        assert [_bj(t) for t in plans.slots(weekly, T0, T0 + timedelta(days=7))] == ["2026-09-28 10:30",
                                                                                      "2026-09-30 10:30"]
        # day 31 falls back to the month's last day
        assert [_bj(t) for t in plans.slots(monthly, T0, end)][:3] == ["2026-09-30 14:00", "2026-10-31 14:00",
                                                                        "2026-11-30 14:00"]
        assert [_bj(t) for t in plans.slots(quarterly, T0, end + timedelta(days=60))] == ["2026-10-15 09:00",
                                                                                            "2027-01-15 09:00"]
        assert plans.describe(weekly) == "每周一、三 10:30"


def test_workdays_only_skips_daily_and_moves_the_others(db):
    """National Day 2026: 1–7 October are off; Sunday 27 Sep... (State Council data) — OPS-2."""
    from cityops.events.sla import calendar_for

    with db.session() as s:
        cal = calendar_for(s, "workdays")
        daily = _plan(s, workdays_only=True)
        monthly = _plan(s, name="月初", frequency="monthly", month_day=1, workdays_only=True)
        start, end = datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 12, 16, tzinfo=UTC)
        days = [local(t).date() for t in plans.slots(daily, start, end, cal)]
        assert all(cal.day_info(d).working for d in days)
        assert not any(d.month == 10 and d.day <= 7 for d in days), "no daily slot in the holiday"
        first_working = next(d for d in (datetime(2026, 10, 1).date() + timedelta(days=i) for i in range(20))
                             if cal.day_info(d).working)
        assert [local(t).date() for t in plans.slots(monthly, start, end, cal)] == [first_working]
        assert len(plans.preview(s, monthly, now=start, n=5)) == 5


def test_plan_validation_errors_are_clear(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="层级"):
            _plan(s, layer="network")
        with pytest.raises(Invalid, match="HH:MM"):
            _plan(s, at_time="25:00")
        with pytest.raises(Invalid, match="星期"):
            _plan(s, frequency="weekly", weekdays="")
        with pytest.raises(Invalid, match="系统 SYS-NOPE 不存在"):
            _plan(s, system_code="SYS-NOPE")
        with pytest.raises(Invalid, match="用户 ghost"):
            _plan(s, assignee="ghost")
        p = _plan(s, module_id=1)
        assert p.system_code == "SYS-DUTY", "a module brings its system"
        with pytest.raises(Conflict):
            _plan(s)
        with pytest.raises(Invalid, match="不属于"):
            plans.update_plan(s, p.id, system_code="SYS-EYE")
        assert plans.get_plan(s, p.id).system_code == "SYS-DUTY"
        with pytest.raises(NotFound):
            plans.get_plan(s, 999)


def test_seed_plans_is_idempotent_and_covers_every_layer(db):
    with db.session() as s:
        assert plans.seed_plans(s, now=T0) == 7
        assert plans.seed_plans(s, now=T0) == 0
        layers = {p.layer for p in plans.list_plans(s)}
        assert layers == {"application", "middleware", "database", "os"}


def test_generate_is_idempotent_and_assigns_support_on_duty(db, make_user):
    make_user("technician", username="zhao")
    with db.session() as s:
        duty.create_team(s, code="tech", name="技术支撑组")
        c = duty.create_contact(s, name="赵工", team_code="tech", username="zhao", wecom_userid="zhaogong")
        duty.create_shift(s, contact_id=c.id, team_code="tech", role="support", starts_at=T0 - timedelta(hours=2),
                          ends_at=T0 + timedelta(hours=10))
        p = _plan(s)
        _plan(s, name="停用", enabled=False)
        fixed = _plan(s, name="指定人", assignee="", frequency="weekly", weekdays="1")
    for _ in range(2):
        with db.session() as s:
            tasks.generate(s, now=T0)
    assert jobs.generate(db, now=T0) == 0
    with db.session() as s:
        rows = list(s.scalars(select(MaintenanceTask).order_by(MaintenanceTask.slot_at)))
        # catch-up reaches Sunday 09:00; Monday 09:00 is later today
        assert [(r.plan_id, _bj(r.slot_at)) for r in rows] == [
            (p.id, "2026-09-27 09:00"), (p.id, "2026-09-28 09:00"), (fixed.id, "2026-09-28 09:00")]
        today = rows[1]
        assert today.assignee == "zhao" and _bj(today.due_at) == "2026-09-29 00:00"
        assert rows[0].assignee == "", "nobody was on duty on Sunday"
        assert today.steps == ["核对备份", "检查校验和"]


def test_done_and_skip_write_log_lines_and_overdue(db):
    with db.session() as s:
        p = _plan(s, system_code="SYS-EYE")
        tasks.generate(s, now=T0)
        yesterday, today = s.scalars(select(MaintenanceTask).order_by(MaintenanceTask.slot_at)).all()
        later = T0 + timedelta(hours=3)
        assert tasks.is_overdue(yesterday, later) and not tasks.is_overdue(today, later)
        due = tasks.due_today(s, now=later)
        assert [d["id"] for d in due] == [yesterday.id, today.id] and due[0]["overdue"] is True

        with pytest.raises(Invalid, match="处理结果"):
            tasks.complete(s, today.id, result=" ", by="tech1", now=later)
        with pytest.raises(Invalid, match="步骤序号"):
            tasks.complete(s, today.id, result="ok", ticks=[5], by="tech1", now=later)
        tasks.complete(s, today.id, result="备份正常", ticks=[0, 1], actual_minutes=25, by="tech1", now=later)
        with pytest.raises(Conflict):
            tasks.skip(s, today.id, reason="x", by="tech1", now=later)
        with pytest.raises(Invalid, match="原因"):
            tasks.skip(s, yesterday.id, reason="", by="duty1", now=later)
        tasks.skip(s, yesterday.id, reason="周日停机维护窗口，顺延", by="duty1", now=later)
        assert tasks.due_today(s, now=later) == []

        lines = {e.source_ref: e for e in s.scalars(select(LogEntry).where(LogEntry.source == "maintenance-task"))}
        done = lines[str(today.id)]
        assert done.kind == "task" and done.system_code == "SYS-EYE" and done.author == "tech1"
        assert "备份校验" in done.summary and "25 分钟" in done.summary and "☑ 核对备份" in done.detail
        assert "顺延" in lines[str(yesterday.id)].summary
        rows, total = tasks.list_tasks(s, now=later, state="done")
        assert total == 1 and rows[0].id == today.id
        with pytest.raises(Conflict, match="停用"):
            plans.delete_plan(s, p.id)


def test_plan_without_finished_tasks_can_be_deleted(db):
    with db.session() as s:
        p = _plan(s)
        tasks.generate(s, now=T0)
        plans.delete_plan(s, p.id)
        assert s.scalar(select(func.count()).select_from(MaintenanceTask)) == 0
        assert s.get(MaintenancePlan, p.id) is None


def test_a_plan_created_today_does_not_backfill(db):
    with db.session() as s:
        plans.create_plan(s, now=T0 + timedelta(hours=2), name="新计划", layer="os", title="补丁", at_time="09:00")
        assert tasks.generate(s, now=T0 + timedelta(hours=2)) == 0  # 09:00 Beijing today was before creation
        assert tasks.generate(s, now=T0 + timedelta(days=1)) == 1


def test_generate_job_is_a_registered_singleton(db):
    from cityops.core.jobs import Scheduler

    sched = Scheduler(db)
    jobs.register(sched)
    job = sched.jobs["maintenance.generate"]
    assert job.singleton and job.interval_s == 300
    with db.session() as s:
        _plan(s)
    assert sched.run_once("maintenance.generate") == "ok"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MaintenanceTask)) >= 1
