"""Duty rotations, overrides, swaps, special periods and handover notes (SVC-1).

A rotation writes ordinary `duty_shifts` rows (`Shift.rotation_id`, `Shift.source`), so
`duty.service.on_duty` and the notification engine keep working on one table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

ROTATION_KINDS = {"cycle": "按日循环", "weekly": "按周轮值"}
SWAP_STATES = {"pending": "待审批", "approved": "已批准", "rejected": "已驳回"}
PERIOD_KINDS = {"holiday": "节假日", "event": "重大活动", "evaluation": "城市测评"}


class Rotation(Audited, Base):
    """Who covers a team's role in turn. `kind` "cycle": `slots` defines the shifts of a day
    ([{code, label, start "08:30", end "20:30"}], an end not after the start runs into the next
    day) and `cycle` the day pattern of member 0 (e.g. ["D", "N", "-", "-"]); member i runs the
    pattern i days later. `kind` "weekly": each member in turn is on call for 7 days from
    `handover` on `start_date`."""

    __tablename__ = "duty_rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    team_code: Mapped[str] = mapped_column(ForeignKey("duty_teams.code", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    post: Mapped[str] = mapped_column(String(32), default="")
    kind: Mapped[str] = mapped_column(String(8), default="cycle")
    members: Mapped[list[int]] = mapped_column(JSONType, default=list)
    slots: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    cycle: Mapped[list[str]] = mapped_column(JSONType, default=list)
    start_date: Mapped[date] = mapped_column(Date)
    handover: Mapped[str] = mapped_column(String(5), default="08:30")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Override(Audited, Base):
    """`replacement_id` stands in for `contact_id` from `starts_at` to `ends_at` (sick leave):
    the replaced person's shifts in that range are hidden from `on_duty`."""

    __tablename__ = "duty_overrides"
    __table_args__ = (Index("ix_duty_overrides_time", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("duty_contacts.id", ondelete="CASCADE"), index=True)
    replacement_id: Mapped[int] = mapped_column(ForeignKey("duty_contacts.id", ondelete="CASCADE"))
    team_code: Mapped[str | None] = mapped_column(ForeignKey("duty_teams.code", ondelete="CASCADE"), default=None)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Swap(Audited, Base):
    """Two people exchange two shifts: requested by one, approved (or rejected) by a manager."""

    __tablename__ = "duty_swaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_a_id: Mapped[int] = mapped_column(ForeignKey("duty_shifts.id", ondelete="CASCADE"), index=True)
    shift_b_id: Mapped[int] = mapped_column(ForeignKey("duty_shifts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(12), default="pending")
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SpecialPeriod(Audited, Base):
    """Dates (Beijing, inclusive) needing more people: `requirements` is a list of
    {"label", "role": "duty"|"support"|"", "post": "", "count"} checked by the coverage check."""

    __tablename__ = "duty_special_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), default="holiday")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handover(Audited, Base):
    """交接班: the outgoing officer's note and an automatic summary; the incoming officer
    acknowledges it."""

    __tablename__ = "duty_handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_code: Mapped[str] = mapped_column(ForeignKey("duty_teams.code", ondelete="CASCADE"), index=True)
    written_by: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    acknowledged_by: Mapped[str] = mapped_column(String(64), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    ack_note: Mapped[str] = mapped_column(Text, default="")
