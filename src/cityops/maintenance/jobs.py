"""`maintenance.generate` (OPS-2): every 5 minutes, turn the due slots of enabled maintenance
plans into tasks (idempotent per plan and slot). A singleton: one process generates at a time."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.maintenance import tasks

GENERATE_INTERVAL_S = 300


def generate(db: Database, now: datetime | None = None) -> int:
    with db.session() as s:
        return tasks.generate(s, now=now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("maintenance.generate", GENERATE_INTERVAL_S, generate, singleton=True, initial_delay_s=30)
