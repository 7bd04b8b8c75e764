"""SLA time limits per category and severity, and the office's calendar overrides (IOT-6).

Both are configuration people edit, so both are Audited. No foreign keys to the events
tables: a policy names a category code prefix, so it survives category edits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

# step → (from state, to state); the limit column is f"{step}_min"
STEPS = {
    "accept": ("reported", "accepted"),
    "dispatch": ("accepted", "dispatched"),
    "dispose": ("dispatched", "disposed"),
    "verify": ("disposed", "verified"),
    "close": ("verified", "closed"),
}
STEP_LABELS = {"accept": "受理", "dispatch": "派遣", "dispose": "处置", "verify": "核查", "close": "结案"}
DAY_KINDS = ("holiday", "workday")


class SlaPolicy(Audited, Base):
    """Time limits (minutes of working time on ``calendar_mode``) for each step of an event.

    ``category_prefix`` matches a category code and its descendants ("01" covers "0101" and
    "010101"; "" any category); ``severity`` "" matches any. The most specific prefix wins,
    then an exact severity, then the higher ``priority``."""

    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_scope", "category_prefix", "severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    category_prefix: Mapped[str] = mapped_column(String(32), default="")
    severity: Mapped[str] = mapped_column(String(16), default="")
    calendar_mode: Mapped[str] = mapped_column(String(8), default="workdays")
    accept_min: Mapped[int] = mapped_column(Integer)
    dispatch_min: Mapped[int] = mapped_column(Integer)
    dispose_min: Mapped[int] = mapped_column(Integer)
    verify_min: Mapped[int] = mapped_column(Integer)
    close_min: Mapped[int] = mapped_column(Integer)
    warn_at_pct: Mapped[int] = mapped_column(Integer, default=80)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def limit(self, step: str) -> int:
        return getattr(self, f"{step}_min")


class CalendarDay(Audited, Base):
    """A day the office declares off (holiday) or worked (workday), over the shipped data file:
    a late State Council change, a district-specific arrangement, a correction."""

    __tablename__ = "calendar_days"
    __table_args__ = (Index("uq_calendar_days_day", "day", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
