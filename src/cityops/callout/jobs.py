"""Job `callout.dial` (CALL-1): one dialer pass every 5 s, one process at a time (singleton).

There is no SIP gateway setting yet, so the job dials through the simulator (`SimTelephony`);
records it writes carry adapter "sim". Switch to the SIP adapter once the gateway config exists."""

from __future__ import annotations

from datetime import datetime

from cityops.callout import dialer
from cityops.callout.telephony import SimTelephony, Telephony
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import utcnow

INTERVAL_S = 5
_SIM = SimTelephony(seed=0)


def telephony() -> Telephony:
    return _SIM


def run(db: Database, now: datetime | None = None) -> dict[str, int]:
    return dialer.run_due(db, telephony=telephony(), now=now or utcnow())


def register(scheduler: Scheduler) -> None:
    scheduler.register("callout.dial", INTERVAL_S, run, singleton=True, initial_delay_s=15)
