"""Daily call-data retention job (CALL-2): `callout.retention` deletes call records, steps,
finished tasks, ledger and gate-log rows older than `callout_retention_days`; the statistics
rollups stay."""

from __future__ import annotations

import logging

from cityops.audit.context import acting_as
from cityops.callout import retention
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.settings import get_settings

log = logging.getLogger(__name__)
JOB = "callout.retention"


def retention_job(db: Database, settings=None) -> dict:
    days = (settings or get_settings()).callout_retention_days
    with acting_as("system:retention"):
        result = retention.purge(db, days=days)
    if result["records"] or result["ledger"] or result["gate_log"] or result["tasks"]:
        log.info("call data past retention deleted", extra=result)
    return result


def register(scheduler: Scheduler) -> None:
    scheduler.register(JOB, 24 * 3600, lambda db: retention_job(db, scheduler.settings), singleton=True,
                       initial_delay_s=300)
