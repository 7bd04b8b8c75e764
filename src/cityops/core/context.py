"""What a running process holds: settings, database, scheduler, login limiter."""

from __future__ import annotations

from dataclasses import dataclass

from cityops.auth.ratelimit import LoginLimiter
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    scheduler: Scheduler
    limiter: LoginLimiter

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        from cityops.audit import service as audit

        audit.configure(settings.audit_signing_key())
        db = Database(settings.resolved_database_url())
        return cls(settings, db, Scheduler(db, settings),
                   LoginLimiter(settings.login_max_failures, settings.login_window_seconds))
