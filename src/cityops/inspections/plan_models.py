"""Routine inspection plans (例行巡检方案, OPS-1): probes, checklist templates and manual items on a
calendar; one run per plan and slot, signed off into an immutable inspection record."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

SCHEDULES = {"daily": "每天", "weekly": "每周", "monthly": "每月"}
RUN_STATES = {"open": "进行中", "overdue": "已逾期", "signed": "已签字"}
CONCLUSIONS = {"normal": "正常", "problem": "有问题"}


class InspectionPlan(Audited, Base):
    __tablename__ = "inspection_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str] = mapped_column(String(16), default="daily")
    at_time: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM Beijing time
    weekdays: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # 1 = Monday … 7
    month_day: Mapped[int | None] = mapped_column(Integer, default=None)
    workdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    probe_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    template_codes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    manual_items: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    room: Mapped[str] = mapped_column(String(64), default="")
    ticket_policy: Mapped[str] = mapped_column(String(16), default="major")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InspectionRun(Audited, Base):
    __tablename__ = "inspection_runs"
    __table_args__ = (UniqueConstraint("plan_id", "slot_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plans.id", ondelete="CASCADE"), index=True)
    plan_name: Mapped[str] = mapped_column(String(100))
    slot_at: Mapped[datetime] = mapped_column()
    day: Mapped[date] = mapped_column(Date, index=True)  # the Beijing day of the slot
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    # [{"probe_id", "name", "ok", "latency_ms", "detail"}]
    probe_results: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # [{"label", "ok": bool|None, "note", "by", "at"}]
    manual_results: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    checklist_run_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    signed_by: Mapped[str] = mapped_column(String(64), default="")
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    conclusion: Mapped[str] = mapped_column(String(16), default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
