"""Visits and receptions (VISIT-1): the visit calendar with its change-freeze window, the
pre-visit checks and the record kept afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

VISIT_STATES = {"planned": "已计划", "ready": "已就绪", "in_progress": "进行中", "done": "已完成",
                "cancelled": "已取消"}


class Visit(Audited, Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    visitor_count: Mapped[int] = mapped_column(Integer, default=1)
    host: Mapped[str] = mapped_column(String(64), default="")
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    system_codes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    freeze_from: Mapped[datetime] = mapped_column()
    freeze_until: Mapped[datetime] = mapped_column()
    check_hours: Mapped[list[Any]] = mapped_column(JSONType, default=lambda: [24, 2])
    state: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    issues: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VisitCheck(Base):
    """One pre-visit inspection: automatic ones carry the lead time (`hours_before`, unique per
    visit so the job runs each once); manual ones leave it empty."""

    __tablename__ = "visit_checks"
    __table_args__ = (UniqueConstraint("visit_id", "hours_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    hours_before: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"probe_id", "name", "system_code", "ok", "latency_ms", "detail"}]
    results: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    summary: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
