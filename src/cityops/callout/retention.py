"""Retention of call data (CALL-2): call records, their dialogue steps, finished tasks, the call
ledger and the gate log older than `callout_retention_days` are deleted in batches. The daily and
monthly statistics rollups are never touched, so the statistics survive their records.

The cut-off is a Beijing midnight, so the oldest day left keeps all its records and
`stats.rebuild()` (which starts at the oldest record's day) recomputes it whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.list_models import CallLedger, GateLog
from cityops.core.db import Database
from cityops.core.errors import Invalid
from cityops.core.timeutil import local, utcnow

BATCH = 5000
FINISHED_TASKS = ("done", "skipped", "failed")


@dataclass
class Purged:
    records: int = 0
    steps: int = 0
    tasks: int = 0
    ledger: int = 0
    gate_log: int = 0

    def add(self, other: Purged) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


def cutoff(*, days: int, now: datetime | None = None) -> datetime:
    """Beijing midnight `days` days before today: rows started before it are past retention."""
    if days < 1:
        raise Invalid("保留天数至少为 1 天")
    today = local(now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def _ids(session: Session, column, where, limit: int) -> list[int]:
    return list(session.scalars(select(column).where(where).order_by(column).limit(limit)))


def purge_batch(session: Session, *, before: datetime, limit: int = BATCH) -> Purged:
    """Delete at most `limit` rows of each kind older than `before` (one transaction's worth)."""
    out = Purged()
    ids = _ids(session, CallRecord.id, CallRecord.started_at < before, limit)
    if ids:
        task_ids = {t for t in session.scalars(select(CallRecord.task_id).where(CallRecord.id.in_(ids))) if t}
        out.steps = session.execute(delete(CallStep).where(CallStep.record_id.in_(ids))).rowcount
        out.records = session.execute(delete(CallRecord).where(CallRecord.id.in_(ids))).rowcount
        if task_ids:
            # A finished task whose calls are all gone is history too (rolling campaigns never end).
            out.tasks += session.execute(delete(CallTask).where(
                CallTask.id.in_(task_ids), CallTask.state.in_(FINISHED_TASKS),
                ~exists().where(CallRecord.task_id == CallTask.id))).rowcount
    # Finished tasks of campaigns finished before the cut-off (also those that never dialled).
    old = _ids(session, CallTask.id, CallTask.state.in_(FINISHED_TASKS) & CallTask.campaign_id.in_(
        select(Campaign.id).where(Campaign.state == "done", Campaign.finished_at < before))
        & ~exists().where(CallRecord.task_id == CallTask.id), limit)
    if old:
        out.tasks += session.execute(delete(CallTask).where(CallTask.id.in_(old))).rowcount
    ledger = _ids(session, CallLedger.id, CallLedger.at < before, limit)
    if ledger:
        out.ledger = session.execute(delete(CallLedger).where(CallLedger.id.in_(ledger))).rowcount
    gate = _ids(session, GateLog.id, GateLog.at < before, limit)
    if gate:
        out.gate_log = session.execute(delete(GateLog).where(GateLog.id.in_(gate))).rowcount
    return out


def purge(db: Database, *, days: int, now: datetime | None = None, batch: int = BATCH) -> dict:
    """Run batches, each in its own transaction, until nothing is past retention; the summary
    goes to the audit chain (CALL-2)."""
    before = cutoff(days=days, now=now)
    total = Purged()
    while True:
        with db.session() as s:
            got = purge_batch(s, before=before, limit=batch)
        total.add(got)
        if got.total == 0:
            break
    result = {"before": before.isoformat(), "days": days, **asdict(total)}
    if total.total:
        with db.session() as s:
            audit.record(s, "purge", "callout_records", "retention", after=result)
    return result
