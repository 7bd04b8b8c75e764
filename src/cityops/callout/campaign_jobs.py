"""Job `callout.schedule` (CALL-1 schedule trigger): every 30 s, start the draft campaigns whose
`scheduled_at` has come. One process at a time (singleton), so a campaign starts once."""

from __future__ import annotations

from datetime import datetime

from cityops.callout import campaigns
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow

INTERVAL_S = 30


def run(db: Database, now: datetime | None = None) -> list[int]:
    """Ids of the campaigns started."""
    with db.session() as s:
        return campaigns.start_scheduled(s, now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("callout.schedule", INTERVAL_S, run, singleton=True, initial_delay_s=10)
