"""Jobs of event intake and verification (IOT-6, IOT-7): `events.intake` every 2 s and at once
when an alarm is raised in this process (bus `alarm.raise`), `events.verify` every 30 s.
Both singletons. Each alarm / event is its own transaction, so one failure never holds up
the rest, and transitions are announced on the bus as they commit."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from cityops.audit.context import acting_as
from cityops.core.db import Database
from cityops.core.errors import Problem
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.events import intake, verify

log = logging.getLogger(__name__)
INTAKE_JOB = "events.intake"
VERIFY_JOB = "events.verify"


def run_intake(db: Database, now: datetime | None = None) -> intake.IntakeResult:
    """Intake pages through every pending alarm, one transaction per batch."""
    total = intake.IntakeResult()
    with acting_as(intake.ACTOR):
        for _ in range(40):  # bounded: the rest of a flood is finished by the next turns
            with db.session() as s:
                r = intake.process_alarms(s, now or utcnow(), limit=intake.BATCH, after_id=total.last_id)
            for field in ("created", "merged", "ignored", "waiting", "taken", "failed", "seen"):
                setattr(total, field, getattr(total, field) + getattr(r, field))
            total.last_id = r.last_id
            if r.seen < intake.BATCH:
                break
    return total


def run_verify(db: Database, now: datetime | None = None) -> dict[str, int]:
    out = {"passed": 0, "failed": 0, "waiting": 0, "errors": 0}
    with acting_as(verify.ACTOR):
        with db.session() as s:
            ids = verify.due_events(s)
        for event_id in ids:
            try:
                with db.session() as s:
                    row = verify.verify_event(s, event_id, now=now or utcnow())
                    key = {True: "passed", False: "failed", None: "waiting"}[row.passed]
            except (Problem, SQLAlchemyError) as exc:  # moved meanwhile, or a conflict: next turn
                log.warning("automatic verification failed", extra={"event": event_id, "error": str(exc)})
                key = "errors"
            out[key] += 1
    return out


def register(scheduler: Scheduler) -> None:
    scheduler.register(INTAKE_JOB, 2, run_intake, singleton=True, initial_delay_s=3)
    scheduler.register(VERIFY_JOB, 30, run_verify, singleton=True, initial_delay_s=15)
    scheduler.wake_on("alarm.raise", INTAKE_JOB)
