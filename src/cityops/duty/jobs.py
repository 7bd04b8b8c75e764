"""Duty jobs (SVC-1): `duty.roster.coverage` — daily, singleton: raises a finding per roster gap
in the next 14 days and clears the ones filled since."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.duty.coverage import check_gaps

INTERVAL_S = 24 * 3600


def roster_coverage(db: Database, now: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        return check_gaps(s, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register("duty.roster.coverage", INTERVAL_S, roster_coverage, singleton=True, initial_delay_s=300)
