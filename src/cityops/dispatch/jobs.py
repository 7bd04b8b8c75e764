"""The dispatch link's jobs (IOT-7): deliver the outbox (woken the moment a work order is
queued, so an alarm becomes a work order in well under a second), poll the platforms'
update feeds, and copy disposal photos into the events."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.settings import get_settings
from cityops.dispatch import outbox, results
from cityops.dispatch.service import QUEUED_TOPIC

DELIVER_JOB = "dispatch.deliver"


def deliver(db: Database, now: datetime | None = None) -> dict[str, int]:
    return outbox.deliver(db, now=now)


def poll(db: Database, now: datetime | None = None) -> dict[str, int]:
    return results.poll(db, now=now)


def photos(db: Database, now: datetime | None = None, settings=None) -> int:
    return results.fetch_photos(db, var_dir=(settings or get_settings()).var_dir, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register(DELIVER_JOB, 5, deliver, singleton=True, initial_delay_s=2)
    scheduler.register("dispatch.poll", 5, poll, singleton=True, initial_delay_s=4)  # each platform: its own interval
    scheduler.register("dispatch.photos", 60, lambda db: photos(db, settings=scheduler.settings), singleton=True,
                       initial_delay_s=20)
    scheduler.wake_on(QUEUED_TOPIC, DELIVER_JOB)
