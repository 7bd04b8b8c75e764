"""Job `screen.mode_watch` (EMRG-4): every 5 s, one process at a time (singleton), sample each
indicator of every active emergency/holiday mode, log level changes once, prune samples older
than 48 h. See cityops.screen.modes.watch."""

from __future__ import annotations

from datetime import datetime

from cityops.audit.context import acting_as
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.screen import modes

INTERVAL_S = 5


def run(db: Database, now: datetime | None = None) -> dict[str, int]:
    with acting_as("system:mode_watch"), db.session() as s:
        return modes.watch(s, now=now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("screen.mode_watch", INTERVAL_S, run, singleton=True, initial_delay_s=5)
