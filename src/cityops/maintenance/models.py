"""Maintenance plans and the tasks they generate (OPS-2). A plan belongs to one layer
(application, middleware, database, operating system) of a catalog system/module or of all
systems, carries a task template (title, steps, expected minutes) and a schedule in Beijing
time; the `maintenance.generate` job turns each due slot into one task (unique per plan and
slot). People edit both, so both are audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

LAYERS = {"application": "应用", "middleware": "中间件", "database": "数据库", "os": "操作系统"}
FREQUENCIES = {"daily": "每天", "weekly": "每周", "monthly": "每月", "quarterly": "每季度"}
TASK_STATES = {"open": "待完成", "done": "已完成", "skipped": "已跳过"}


class MaintenancePlan(Audited, Base):
    __tablename__ = "maintenance_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    layer: Mapped[str] = mapped_column(String(16))
    system_code: Mapped[str | None] = mapped_column(String(24), default=None)  # None: all systems
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id", ondelete="SET NULL"), default=None)
    title: Mapped[str] = mapped_column(String(200))  # the task's title
    steps: Mapped[list[str]] = mapped_column(JSONType, default=list)
    expected_minutes: Mapped[int] = mapped_column(Integer, default=30)
    frequency: Mapped[str] = mapped_column(String(16), default="daily")
    at_time: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM Beijing time
    weekdays: Mapped[str] = mapped_column(String(16), default="")  # weekly: "1,3,5" (Monday = 1)
    month_day: Mapped[int] = mapped_column(Integer, default=1)  # monthly / quarterly (first month)
    workdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee: Mapped[str] = mapped_column(String(64), default="")  # "": technical support on duty
    duty_team: Mapped[str] = mapped_column(String(32), default="")  # "" any team
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    active_from: Mapped[datetime] = mapped_column(default=utcnow)  # no task for earlier slots
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MaintenanceTask(Audited, Base):
    __tablename__ = "maintenance_tasks"
    __table_args__ = (UniqueConstraint("plan_id", "slot_at"), Index("ix_maintenance_tasks_state_due", "state", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("maintenance_plans.id", ondelete="CASCADE"), index=True)
    slot_at: Mapped[datetime] = mapped_column()  # the scheduled start (UTC)
    due_at: Mapped[datetime] = mapped_column()  # the end of the slot's Beijing day
    title: Mapped[str] = mapped_column(String(200))
    layer: Mapped[str] = mapped_column(String(16))
    system_code: Mapped[str | None] = mapped_column(String(24), default=None)
    steps: Mapped[list[str]] = mapped_column(JSONType, default=list)
    assignee: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default="open")
    result: Mapped[str] = mapped_column(Text, default="")  # what was done, or why skipped
    ticks: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # indexes of the steps done
    actual_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    closed_by: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
