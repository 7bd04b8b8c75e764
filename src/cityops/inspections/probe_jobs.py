"""Probe jobs (OPS-1): `inspections.probes.run` every 10 s claims the due probes in one short
transaction, runs them outside any transaction on a bounded thread pool and stores each result
in its own short transaction; `inspections.probes.retention` deletes results older than the
retention period (90 days by default) in batches, hourly. Both singletons."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.inspections import probe_service as svc

log = logging.getLogger(__name__)
RUN_INTERVAL_S = 10
MAX_PARALLEL = 8
CLAIM_BATCH = 64
RETENTION_DAYS = 90
PURGE_BATCH = 5000


def run_due(db: Database, now: datetime | None = None, *, max_workers: int = MAX_PARALLEL) -> dict[str, int]:
    started = now or utcnow()
    with db.session() as s:
        due = svc.claim_due(s, now=started, limit=CLAIM_BATCH)
    out = {"ran": 0, "ok": 0, "failed": 0}
    lock = threading.Lock()
    if not due:
        return out

    def one(snap: svc.Snapshot) -> None:
        at = now or utcnow()
        result = svc.execute(snap, at)
        try:
            with db.session() as s:
                svc.record(s, snap.id, result, now=at)
        except Exception:  # the probe may have been deleted meanwhile; keep the others
            log.exception("storing a probe result failed", extra={"probe_id": snap.id})
            return
        with lock:
            out["ran"] += 1
            out["ok" if result.ok else "failed"] += 1

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(due))), thread_name_prefix="probe") as pool:
        list(pool.map(one, due))
    return out


def purge(db: Database, now: datetime | None = None, *, days: int = RETENTION_DAYS, batch: int = PURGE_BATCH) -> int:
    before = (now or utcnow()) - timedelta(days=days)
    total = 0
    while True:  # one short transaction per batch, so a large backlog never holds a long lock
        with db.session() as s:
            n = svc.purge_results(s, before=before, batch=batch)
        total += n
        if n < batch:
            return total


def register(scheduler: Scheduler) -> None:
    days = scheduler.settings.probe_retention_days
    scheduler.register("inspections.probes.run", RUN_INTERVAL_S, run_due, singleton=True, initial_delay_s=15)
    scheduler.register("inspections.probes.retention", 3600, lambda db: purge(db, days=days), singleton=True,
                       initial_delay_s=300)
