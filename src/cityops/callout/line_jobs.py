"""Line jobs (CALL-3): `callout.lines.check` (SIP OPTIONS + status page of every enabled device,
every 60 s), `callout.lines.test_call` (a test call through each enabled device with a test
number once its last test is older than the configured interval, 6 h by default; looked at every
10 min) and `callout.lines.marking` (every caller ID not queried in the last 20 h, looked at
hourly, so each is asked about once a day). All singletons: one process probes at a time."""

from __future__ import annotations

from datetime import datetime

from cityops.callout import line_checks, marking
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow

CHECK_INTERVAL_S = 60
TEST_INTERVAL_S = 600
MARKING_INTERVAL_S = 3600


def check(db: Database, now: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        return line_checks.check_all(s, now=now)


def test_calls(db: Database, now: datetime | None = None) -> dict[str, int]:
    out = {"passed": 0, "failed": 0}
    with db.session() as s:
        due = line_checks.due_tests(s, now or utcnow())
    for device_id in due:  # one session per call: each result is kept even if a later one breaks
        with db.session() as s:
            row = line_checks.test_call(s, device_id, now=now)
            out["passed" if row.ok else "failed"] += 1
    return out


def markings(db: Database, now: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        return marking.query_all(s, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register("callout.lines.check", CHECK_INTERVAL_S, check, singleton=True, initial_delay_s=20)
    scheduler.register("callout.lines.test_call", TEST_INTERVAL_S, test_calls, singleton=True, initial_delay_s=120)
    scheduler.register("callout.lines.marking", MARKING_INTERVAL_S, markings, singleton=True, initial_delay_s=180)
