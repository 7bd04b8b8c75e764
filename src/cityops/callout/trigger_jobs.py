"""Jobs of the call triggers (CALL-1): every 60 s each enabled trigger scans for its domain
events (`triggers.py`); the 回访 job is also woken at once when a city event changes state
(bus topic `event.transition`). Each trigger runs in its own transaction, so one failing
domain does not hold the others back."""

from __future__ import annotations

import logging
from datetime import datetime

from cityops.callout import triggers
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow
from cityops.events.lifecycle import TOPIC as EVENT_TOPIC

log = logging.getLogger(__name__)
INTERVAL_S = 60
CALLBACK_JOB = "callout.trigger_callback"
SCAN_JOB = "callout.trigger_scan"


def _run(db: Database, names: tuple[str, ...], now: datetime | None) -> dict[str, dict[str, int] | None]:
    now = now or utcnow()
    out: dict[str, dict[str, int] | None] = {}
    for name in names:
        try:
            with db.session() as s:
                out[name] = triggers.run_trigger(s, name, now)
        except Exception:  # one domain's failure must not stop the other triggers
            log.exception("callout trigger %s failed", name)
            out[name] = None
    return out


def run_callbacks(db: Database, now: datetime | None = None) -> dict[str, dict[str, int] | None]:
    return _run(db, ("event_closed",), now)


def run_scan(db: Database, now: datetime | None = None) -> dict[str, dict[str, int] | None]:
    return _run(db, ("workorder_overdue", "alarm_unacked"), now)


def run_all(db: Database, now: datetime | None = None) -> dict[str, dict[str, int] | None]:
    return _run(db, tuple(triggers.TRIGGERS), now)


def register(scheduler: Scheduler) -> None:
    scheduler.register(CALLBACK_JOB, INTERVAL_S, run_callbacks, singleton=True, initial_delay_s=20)
    scheduler.register(SCAN_JOB, INTERVAL_S, run_scan, singleton=True, initial_delay_s=25)
    scheduler.wake_on(EVENT_TOPIC, CALLBACK_JOB)
