"""The notification job (IOT-5 / OPS-3): one singleton run every few seconds — route and
escalate alarms, then drain the outbox. Sends happen outside any transaction (a slow
provider must not hold database locks); each outcome is recorded in its own short one."""

from __future__ import annotations

import logging
from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.notify import engine

log = logging.getLogger(__name__)

INTERVAL_S = 5
BATCH = 20
MAX_BATCHES = 25  # at most 500 sends per run; the rest waits for the next run


def run(db: Database, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    failure: Exception | None = None
    counts: dict[str, int] = {}
    try:
        with db.session() as s:
            counts = engine.escalate(s, now=now)
    except Exception as exc:  # still deliver what is queued; report the error afterwards
        log.exception("notify: escalation pass failed")
        failure = exc
    tried = 0
    for _ in range(MAX_BATCHES):
        with db.session() as s:
            batch = engine.claim_due(s, now=now, limit=BATCH)
        for claimed in batch:
            result = engine.send(claimed)
            with db.session() as s:
                engine.record(s, claimed, result, now=now)
        tried += len(batch)
        if len(batch) < BATCH:
            break
    if failure is not None:
        raise failure
    return {**counts, "delivered": tried}


def register(scheduler: Scheduler) -> None:
    scheduler.register("notify.escalate_and_deliver", INTERVAL_S, run, singleton=True, initial_delay_s=3)
