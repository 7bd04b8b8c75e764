"""Service-desk job (OPS-3): `servicedesk.sla_watch` every minute, a singleton, evaluates the
open tickets' SLA clocks and runs due escalation steps (see `escalation.watch`)."""

from __future__ import annotations

from datetime import datetime

from cityops.audit.context import acting_as
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.servicedesk import escalation

INTERVAL_S = 60


def sla_watch(db: Database, now: datetime | None = None) -> dict[str, int]:
    with acting_as("system:servicedesk"), db.session() as s:
        return escalation.watch(s, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register("servicedesk.sla_watch", INTERVAL_S, sla_watch, singleton=True, initial_delay_s=30)
