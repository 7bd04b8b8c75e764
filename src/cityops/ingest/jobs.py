"""Ingest background work: flush per-connection counters (IOT-2)."""

from cityops.core.jobs import Scheduler
from cityops.ingest.service import flush_counters


def register(scheduler: Scheduler) -> None:
    # Not a singleton: every process flushes the counts it collected itself.
    scheduler.register("ingest.flush_counters", 5, flush_counters, singleton=False, local=True)
