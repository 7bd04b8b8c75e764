"""Job `events.flow_watch` (IOT-6, issue #5 item 6): the flow-state scan every 30 s, one
process at a time (singleton). The outbox rows it writes are delivered by the notification
job `notify.escalate_and_deliver`."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.events import watch

INTERVAL_S = 30


def run(db: Database, now: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        return watch.scan(s, now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("events.flow_watch", INTERVAL_S, run, singleton=True, initial_delay_s=20)
