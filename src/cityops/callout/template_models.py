"""Scenario templates as an operator changed them (CALL-1), and the triggers' last runs.

One `callout_templates` row per scenario someone edited; a NULL setting means "the code
default" (`templates.default`), so a reset clears the settings. The row is configuration
(Audited). `callout_trigger_runs` holds the counts of each trigger's last pass for the console;
it is rewritten every minute, so it is runtime data and not audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType


class ScenarioTemplate(Audited, Base):
    __tablename__ = "callout_templates"

    scenario: Mapped[str] = mapped_column(String(32), primary_key=True)
    script: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    windows: Mapped[list[Any] | None] = mapped_column(JSONType, default=None)  # [["09:00","12:00"], …]; [] = none
    retry_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)  # result -> minutes
    max_attempts: Mapped[int | None] = mapped_column(Integer, default=None)
    priority: Mapped[str | None] = mapped_column(String(12), default=None)
    caller_id: Mapped[str | None] = mapped_column(String(32), default=None)
    line_group: Mapped[str | None] = mapped_column(String(32), default=None)
    triggers: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriggerRun(Base):
    __tablename__ = "callout_trigger_runs"

    trigger: Mapped[str] = mapped_column(String(24), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
