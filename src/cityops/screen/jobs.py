"""Big-screen jobs (SYS-SCREEN): `screen.warm` — every 5 s, in every process that serves
screens (per-process, since the cache is): recomputes the stale panels of the district and
of the streets watched in the last 10 minutes, so the first screen after a quiet spell does
not wait for eight cold computes."""

from __future__ import annotations

from cityops.core.db import Database
from cityops.core.jobs import Scheduler

INTERVAL_S = 5.0


def register(scheduler: Scheduler) -> None:
    from cityops.screen.cache import cache_for

    held = []  # keeps the cache alive for this scheduler's process even before any screen asked

    def warm(db: Database) -> int:
        cache = cache_for(db)
        if not held or held[0] is not cache:
            held[:] = [cache]
        return cache.warm()

    scheduler.register("screen.warm", INTERVAL_S, warm, singleton=False, local=True, initial_delay_s=10)
