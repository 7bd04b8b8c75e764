"""Hardware jobs (HW): `catalog.hardware.warranty` — daily, a finding 30 days before a unit's
warranty ends (cleared when it is extended). Singleton."""

from __future__ import annotations

from datetime import datetime

from cityops.catalog.hw_service import check_warranty
from cityops.core.db import Database
from cityops.core.jobs import Scheduler

INTERVAL_S = 24 * 3600


def warranty(db: Database, now: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        return check_warranty(s, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register("catalog.hardware.warranty", INTERVAL_S, warranty, singleton=True, initial_delay_s=360)
