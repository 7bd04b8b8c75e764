"""Visit jobs (VISIT-1): `visits.pre_checks` (every 5 min) runs the pre-visit checks that are
due — each visit's check in its own transaction, so one broken probe does not lose the others —
and moves visits under way to 进行中."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.visits import service


def pre_checks(db: Database, now: datetime | None = None) -> int:
    now = now or utcnow()
    with db.session() as s:
        due = service.due_checks(s, now)
    for visit_id, hours in due:
        with db.session() as s:
            service.run_check(s, visit_id, hours_before=hours, now=now)
    with db.session() as s:
        service.advance(s, now)
    return len(due)


def register(scheduler: Scheduler) -> None:
    scheduler.register("visits.pre_checks", 300, pre_checks, singleton=True, initial_delay_s=60)
