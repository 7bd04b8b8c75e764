"""Inspection plans (OPS-1): one run per plan and slot on a virtual clock, real TCP probes run
through engineer A's probe service, manual items, checklists, sign-off immutability, overdue."""

import socket
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid
from cityops.inspections import checklist_service as checklists
from cityops.inspections import findings, plan_service as svc, probe_service
from cityops.inspections.plan_models import InspectionRun
from cityops.maintenance.log_models import LogEntry

# 2026-12-07 is a Monday; 09:00 Beijing = 01:00 UTC
MON_0859 = datetime(2026, 12, 7, 0, 59, tzinfo=timezone.utc)
MON_0901 = datetime(2026, 12, 7, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def _probe(s, name, target):
    return probe_service.create_probe(s, {"name": name, "kind": "tcp", "target": target, "timeout_s": 2,
                                          "system_code": "SYS-EYE"}).id


def test_a_run_is_created_once_per_slot_and_runs_its_probes(db, listener, closed_port):
    with db.session() as s:
        up, down = _probe(s, "视频平台端口", listener), _probe(s, "已关闭端口", closed_port)
        plan = svc.create_plan(s, {"name": "每日巡检", "at_time": "09:00", "probe_ids": [up, down],
                                   "manual_items": ["大屏显示正常"]})
        assert svc.create_due_runs(s, now=MON_0859) == []
        made = svc.create_due_runs(s, now=MON_0901)
        assert len(made) == 1
        assert svc.create_due_runs(s, now=MON_0901 + timedelta(hours=3)) == []  # same slot: nothing new
        run = made[0]
        assert run.day == date(2026, 12, 7) and run.state == "open"
        by_name = {r["name"]: r for r in run.probe_results}
        assert by_name["视频平台端口"]["ok"] is True
        assert by_name["已关闭端口"]["ok"] is False and by_name["已关闭端口"]["detail"]
        assert s.scalar(select(InspectionRun).where(InspectionRun.plan_id == plan.id)).id == run.id
        # the next day has its own slot
        assert len(svc.create_due_runs(s, now=MON_0901 + timedelta(days=1))) == 1


def test_weekly_monthly_and_working_day_calendars(db):
    with db.session() as s:
        weekly = svc.create_plan(s, {"name": "周巡检", "schedule": "weekly", "weekdays": [2, 4], "at_time": "10:00",
                                     "manual_items": ["x"]})
        monthly = svc.create_plan(s, {"name": "月巡检", "schedule": "monthly", "month_day": 31, "manual_items": ["x"]})
        work = svc.create_plan(s, {"name": "工作日巡检", "workdays_only": True, "manual_items": ["x"]})
        cal = svc._workdays(s)
        assert not svc.runs_on_day(weekly, date(2026, 12, 7)) and svc.runs_on_day(weekly, date(2026, 12, 8))
        assert svc.runs_on_day(monthly, date(2026, 12, 31)) and not svc.runs_on_day(monthly, date(2026, 11, 30))
        assert not svc.runs_on_day(work, date(2026, 12, 6), cal)  # Sunday
        assert not svc.runs_on_day(work, date(2026, 10, 1), cal)  # National Day
        assert svc.runs_on_day(work, date(2026, 12, 7), cal)
        slots = svc.next_slots(s, weekly, date(2026, 12, 7), 7)
        assert [x.astimezone(timezone(timedelta(hours=8))).strftime("%a %H:%M") for x in slots] == ["Tue 10:00", "Thu 10:00"]


@pytest.mark.parametrize("data,message", [
    ({"name": "x", "at_time": "25:00", "manual_items": ["a"]}, "HH:MM"),
    ({"name": "x", "schedule": "hourly", "manual_items": ["a"]}, "周期"),
    ({"name": "x", "schedule": "weekly", "manual_items": ["a"]}, "至少选择一天"),
    ({"name": "x", "weekdays": [8], "manual_items": ["a"]}, "星期"),
    ({"name": "x"}, "至少需要一个"),
    ({"name": "x", "template_codes": ["nope"]}, "不存在"),
    ({"name": "", "manual_items": ["a"]}, "名称"),
])
def test_bad_plans_are_refused(db, data, message):
    with db.session() as s, pytest.raises(Invalid, match=message):
        svc.create_plan(s, data)


def test_sign_off_needs_the_work_done_and_freezes_the_record(db):
    with db.session() as s:
        assert svc.seed_plans(s) == 1 and svc.seed_plans(s) == 0
        plan = svc.list_plans(s)[0]
        run = svc.create_due_runs(s, now=MON_0901)[0]
        with pytest.raises(Invalid, match="尚未完成：检查表 room-daily"):
            svc.sign_run(s, run.id, name="张三", conclusion="normal", now=MON_0901)
        cr = svc.start_checklist(s, run.id, template_code="room-daily", performer="张三", now=MON_0901)
        assert cr.room == plan.room and cr.plan_run_id == run.id
        from tests.inspections.test_checklist_service import NORMAL

        for code, value in NORMAL.items():
            checklists.record_reading(s, cr.id, item_code=code, value=value, now=MON_0901)
        checklists.submit_run(s, cr.id, signature="张三", now=MON_0901)
        with pytest.raises(Invalid, match="异常时请说明"):
            svc.record_manual(s, run.id, index=0, ok=False, actor="张三", now=MON_0901)
        svc.record_manual(s, run.id, index=0, ok=False, note="3 号屏黑屏", actor="张三", now=MON_0901)
        assert findings.open_finding(s, f"plan:{plan.id}:manual:0").source == "plan"
        svc.record_manual(s, run.id, index=0, ok=True, actor="张三", now=MON_0901)
        assert findings.open_finding(s, f"plan:{plan.id}:manual:0") is None
        svc.record_manual(s, run.id, index=1, ok=True, actor="张三", now=MON_0901)
        with pytest.raises(Invalid, match="结论"):
            svc.sign_run(s, run.id, name="张三", conclusion="fine", now=MON_0901)
        with pytest.raises(Invalid, match="说明"):
            svc.sign_run(s, run.id, name="张三", conclusion="problem", now=MON_0901)
        svc.sign_run(s, run.id, name="张三", conclusion="normal", remarks="一切正常", now=MON_0901)
        assert (run.state, run.signed_by, run.signed_at) == ("signed", "张三", MON_0901)
        for attempt in (lambda: svc.sign_run(s, run.id, name="李四", conclusion="normal"),
                        lambda: svc.record_manual(s, run.id, index=0, ok=True, actor="x"),
                        lambda: svc.start_checklist(s, run.id, template_code="room-daily", performer="x"),
                        lambda: svc.rerun_probes(s, run.id, actor="x")):
            with pytest.raises(Conflict, match="不可再修改"):
                attempt()
        log = s.scalar(select(LogEntry).where(LogEntry.source == "inspection-run", LogEntry.source_ref == str(run.id)))
        assert log.kind == "inspection" and "正常" in log.summary
        today = svc.runs_on(s, date(2026, 12, 7))
        assert [(r["plan_name"], r["state"], r["signed_by"]) for r in today] == [("机房日常例行巡检", "signed", "张三")]


def test_unsigned_runs_become_overdue_after_their_day(db):
    with db.session() as s:
        svc.create_plan(s, {"name": "每日巡检", "manual_items": ["a"]})
        run = svc.create_due_runs(s, now=MON_0901)[0]
        assert svc.mark_overdue(s, now=MON_0901 + timedelta(hours=14)) == 0  # 23:01 Beijing, same day
        assert svc.mark_overdue(s, now=MON_0901 + timedelta(hours=15)) == 1  # 00:01 next day
        assert run.state == "overdue"
        assert svc.runs_on(s, date(2026, 12, 7))[0]["missing"] == ["人工检查项「a」"]
        svc.record_manual(s, run.id, index=0, ok=True, actor="张三")
        svc.sign_run(s, run.id, name="张三", conclusion="normal")
        log = s.scalar(select(LogEntry).where(LogEntry.source == "inspection-run"))
        assert "逾期" in log.detail


def test_plan_job_creates_runs(db):
    from cityops.inspections import plan_jobs

    with db.session() as s:
        svc.create_plan(s, {"name": "每日巡检", "manual_items": ["a"]})
    assert plan_jobs.create_due(db, now=MON_0901) == 1
    assert plan_jobs.create_due(db, now=MON_0901) == 0
    assert plan_jobs.overdue(db, now=MON_0901 + timedelta(days=1)) == 1
