"""Daily verification of the audit chain (SVC-3); the result is a metric and a log line."""

from __future__ import annotations

import logging

from cityops.audit import service
from cityops.core.db import Database
from cityops.core.jobs import Scheduler

log = logging.getLogger(__name__)


def verify_chain(db: Database) -> dict:
    with db.session() as session:
        result = service.verify(session)
    if result.ok:
        log.info("audit chain verified", extra=result.as_dict())
    else:
        log.error("audit chain broken", extra=result.as_dict())
    return result.as_dict()


def register(scheduler: Scheduler) -> None:
    scheduler.register("audit.verify_chain", 24 * 3600, verify_chain, initial_delay_s=60)
