"""Duty roster tables (IOT-5 / OPS-3): contacts, teams, shifts. People edit them, so every
change lands in the audit chain (`Audited`; phone columns are masked there)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

# Shift roles of the operations centre; a responsible unit's team uses "member".
SHIFT_ROLES = {"leader": "值班长", "member": "值班员", "support": "技术支撑"}


class Contact(Audited, Base):
    """A person who can be notified. `username` links to a login account when there is one."""

    __tablename__ = "duty_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(128), default="")
    wecom_userid: Mapped[str] = mapped_column(String(64), default="")
    username: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    team_code: Mapped[str | None] = mapped_column(ForeignKey("duty_teams.code", ondelete="SET NULL"), default=None,
                                                  index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Team(Audited, Base):
    """A duty team: the centre's 值班组, a technical support group, or a responsible unit's
    duty desk (`unit_id`). `manager_id` is who an escalation chain calls last."""

    __tablename__ = "duty_teams"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None, index=True)
    # A plain column, not a foreign key: teams and contacts would point at each other.
    # The service checks it and clears it when the contact is deleted.
    manager_id: Mapped[int | None] = mapped_column(Integer, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Shift(Audited, Base):
    """One person on duty for one team from `starts_at` to `ends_at` (stored UTC; shown in
    Asia/Shanghai). Overlapping shifts are allowed (e.g. a leader over two members)."""

    __tablename__ = "duty_shifts"
    __table_args__ = (Index("ix_duty_shifts_team_time", "team_code", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("duty_contacts.id", ondelete="CASCADE"), index=True)
    team_code: Mapped[str] = mapped_column(ForeignKey("duty_teams.code", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="member")
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SVC-1: a special post (移动单兵, 城区之眼) and where the shift came from: "manual", or
    # "rotation" (regenerated freely) / "swap" (kept on regeneration) of rotation `rotation_id`
    # (a plain column: rotations live in roster_models).
    post: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(12), default="manual")
    rotation_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
