"""Retention of call data (CALL-2): records, steps, finished tasks, ledger and gate log past
`callout_retention_days` are deleted in batches; the statistics rollups stay."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.audit.models import AuditEntry
from cityops.callout import data_jobs, retention, stats
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.list_models import CallLedger, GateLog
from cityops.callout.stats_models import CallStatDaily, CallStatMonthly
from cityops.core.errors import Invalid
from cityops.core.jobs import Scheduler
from cityops.core.settings import Settings
from cityops.core.timeutil import utcnow

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def _count(s, model):
    return s.scalar(select(func.count()).select_from(model))


def _call(s, task, at, steps=2):
    rec = CallRecord(task_id=task.id if task else None, campaign_id=task.campaign_id if task else None,
                     scenario="hotline_callback", number_e164="+8613912345678", started_at=at, result="answered",
                     satisfaction="满意", duration_s=30.0, adapter="sim")
    s.add(rec)
    s.flush()
    s.add_all([CallStep(record_id=rec.id, seq=i, step="q", prompt="您满意吗", at=at) for i in range(steps)])
    stats.record_call(s, rec)
    return rec


@pytest.fixture
def world(db):
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    with db.session() as s:
        live = Campaign(name="滚动回访", scenario="hotline_callback", state="running", rolling=True)
        done = Campaign(name="旧任务", scenario="notice", state="done", finished_at=old)
        s.add_all([live, done])
        s.flush()
        t_old = CallTask(campaign_id=live.id, number_e164="+8613900000001", state="done")
        t_mixed = CallTask(campaign_id=live.id, number_e164="+8613900000002", state="done")
        t_pending = CallTask(campaign_id=live.id, number_e164="+8613900000003", state="pending")
        t_skipped = CallTask(campaign_id=done.id, number_e164="+8613900000004", state="skipped")
        s.add_all([t_old, t_mixed, t_pending, t_skipped])
        s.flush()
        for _ in range(3):
            _call(s, t_old, old)
        _call(s, t_mixed, old)
        _call(s, t_mixed, recent)
        _call(s, t_pending, old)
        _call(s, None, recent)
        s.add_all([CallLedger(number_e164="+8613900000001", scenario="notice", at=old),
                   CallLedger(number_e164="+8613900000001", scenario="notice", at=recent),
                   GateLog(number="+8613900000001", scenario="notice", at=old, allowed=True),
                   GateLog(number="+8613900000001", scenario="notice", at=old, allowed=False),
                   GateLog(number="+8613900000001", scenario="notice", at=recent, allowed=True)])
        return {"t_old": t_old.id, "t_mixed": t_mixed.id, "t_pending": t_pending.id, "t_skipped": t_skipped.id}


def test_cutoff_is_a_beijing_midnight():
    assert retention.cutoff(days=30, now=NOW).isoformat() == "2026-11-06T00:00:00+08:00"
    # 2026-12-05 17:00 UTC is already the 6th in Beijing
    assert retention.cutoff(days=1, now=datetime(2026, 12, 5, 17, tzinfo=UTC)).day == 5
    with pytest.raises(Invalid):
        retention.cutoff(days=0, now=NOW)


def test_purge_deletes_old_call_data_and_keeps_statistics(db, world):
    with db.session() as s:
        before = sorted((r.day, r.calls) for r in s.scalars(select(CallStatDaily)))
        monthly = _count(s, CallStatMonthly)
    result = retention.purge(db, days=30, now=NOW, batch=2)
    assert (result["records"], result["steps"], result["ledger"], result["gate_log"]) == (5, 10, 1, 2)
    assert result["tasks"] == 2  # the finished task whose calls are gone + the done campaign's skipped task
    with db.session() as s:
        assert _count(s, CallRecord) == 2 and _count(s, CallStep) == 4
        assert s.scalar(select(func.min(CallRecord.started_at))) >= retention.cutoff(days=30, now=NOW)
        assert {t.id for t in s.scalars(select(CallTask))} == {world["t_mixed"], world["t_pending"]}
        assert _count(s, CallLedger) == 1 and _count(s, GateLog) == 1
        assert sorted((r.day, r.calls) for r in s.scalars(select(CallStatDaily))) == before
        assert _count(s, CallStatMonthly) == monthly
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).one()
        assert entry.entity == "callout_records" and entry.after["records"] == 5
        # a rebuild afterwards keeps the statistics of the deleted records too
        stats.rebuild(s)
        assert sorted((r.day, r.calls) for r in s.scalars(select(CallStatDaily))) == before
    # nothing left to do: a second run deletes nothing and writes no audit entry
    again = retention.purge(db, days=30, now=NOW)
    assert again["records"] == again["tasks"] == again["ledger"] == again["gate_log"] == 0
    with db.session() as s:
        assert _count(s, AuditEntry.__table__) >= 1
        assert s.scalar(select(func.count()).where(AuditEntry.action == "purge")) == 1


def test_nothing_inside_retention_is_touched(db, world):
    result = retention.purge(db, days=60, now=NOW)
    assert result["records"] == result["ledger"] == result["gate_log"] == result["tasks"] == 0
    with db.session() as s:
        assert _count(s, CallRecord) == 7 and _count(s, CallTask) == 4


def test_job_reads_the_setting_and_is_daily(db):
    old = utcnow() - timedelta(days=20)
    with db.session() as s:
        _call(s, None, old)
        _call(s, None, utcnow() - timedelta(hours=1))
    assert data_jobs.retention_job(db, Settings(callout_retention_days=30))["records"] == 0
    assert data_jobs.retention_job(db, Settings(callout_retention_days=10))["records"] == 1
    with db.session() as s:
        assert _count(s, CallRecord) == 1 and s.scalar(select(func.sum(CallStatDaily.calls))) == 2
    scheduler = Scheduler(db)
    data_jobs.register(scheduler)
    job = scheduler.jobs[data_jobs.JOB]
    assert job.interval_s == 24 * 3600 and job.singleton
