"""Fault grades, fault records and their timeline (OPS-4).

Grades and faults are edited by people, so they are `Audited`. The timeline is itself a log
(free notes, state changes, notifications, grade changes) and is append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

FAULT_STATES = {"open": "待响应", "responding": "处置中", "restored": "已恢复", "closed": "已关闭"}
ENTRY_KINDS = {"note": "记录", "state": "状态", "notified": "通知", "grade": "定级", "overdue": "超时"}


class FaultGrade(Audited, Base):
    """One fault level (一级 … 四级): what it means, its time targets and who must be told."""
    __tablename__ = "fault_grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(Integer, unique=True)  # 1 = most severe
    name: Mapped[str] = mapped_column(String(16))  # 一级
    label: Mapped[str] = mapped_column(String(16), default="")  # 特别重大
    scope: Mapped[str] = mapped_column(Text, default="")  # 影响范围/判定标准
    response_minutes: Mapped[int] = mapped_column(Integer)
    restore_minutes: Mapped[int] = mapped_column(Integer)
    # who is told: people on duty in these teams (a team nobody is on duty in: its members),
    # these named contacts, and (optionally) the managers of those teams
    notify_teams: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notify_contacts: Mapped[list[int]] = mapped_column(JSONType, default=list)
    notify_managers: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_note: Mapped[str] = mapped_column(String(200), default="")  # 区领导、中心主任、项目经理
    channel_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)  # empty: every enabled
    color: Mapped[str] = mapped_column(String(9), default="#888888")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Fault(Audited, Base):
    __tablename__ = "faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # GZ20261206001 (Beijing day)
    title: Mapped[str] = mapped_column(String(200))
    grade_id: Mapped[int] = mapped_column(ForeignKey("fault_grades.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    system_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    asset_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    ticket_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    occurred_at: Mapped[datetime] = mapped_column()
    detected_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
    restored_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    recovery: Mapped[str] = mapped_column(Text, default="")  # 处置措施 / recovery steps
    follow_up: Mapped[str] = mapped_column(Text, default="")  # 整改措施
    reporter: Mapped[str] = mapped_column(String(64), default="")
    handler: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FaultEntry(Base):
    __tablename__ = "fault_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    fault_id: Mapped[int] = mapped_column(ForeignKey("faults.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16), default="note")
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64), default="")
