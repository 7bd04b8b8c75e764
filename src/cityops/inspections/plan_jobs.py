"""Inspection-plan jobs (OPS-1): `inspections.plans.due` (every 60 s) creates the runs whose
slot has passed — each once, the unique (plan, slot) index settles races — and runs their
probes; `inspections.plans.overdue` (every 10 min) marks open runs of past days overdue."""

from __future__ import annotations

from datetime import datetime

from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.inspections import plan_service


def create_due(db: Database, now: datetime | None = None) -> int:
    with db.session() as s:
        return len(plan_service.create_due_runs(s, now=now))


def overdue(db: Database, now: datetime | None = None) -> int:
    with db.session() as s:
        return plan_service.mark_overdue(s, now=now)


def register(scheduler: Scheduler) -> None:
    scheduler.register("inspections.plans.due", 60, create_due, singleton=True, initial_delay_s=30)
    scheduler.register("inspections.plans.overdue", 600, overdue, singleton=True, initial_delay_s=90)
