"""Notification configuration and runtime tables (IOT-5 / OPS-3).

Configuration (channels, policies) is edited by people and audited; the runtime tables
(per-alarm escalation state, outbox) are written by the engine at alarm rate and are not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType
from cityops.devices import models as _devices  # noqa: F401  (tables the foreign keys name)
from cityops.duty import models as _duty  # noqa: F401
from cityops.monitoring import models as _monitoring  # noqa: F401

OUTBOX_STATES = ("pending", "sent", "failed", "cancelled")
ESCALATION_STATES = ("active", "done", "stopped", "unrouted")


class ChannelConfig(Audited, Base):
    """A configured delivery channel: one WeCom robot, one SMS gateway account, … The
    settings hold secrets, so they stay out of the audit log (`settings_rev` records that
    they changed)."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # wecom | sms | email | voice
    name: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info={"audit": False})
    settings_rev: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Policy(Audited, Base):
    """A routing rule: which alarms it matches (blank = any) and the escalation chain they get.

    `steps`: [{"targets": [{"kind": "team", "team": "centre"} | {"kind": "contact", "contact_id": 3}
                           | {"kind": "manager", "team": "centre"} | {"kind": "unit"}],
               "channels": [channel ids], "wait_minutes": 10}, …]
    The chain runs step by step, then starts again `repeat` times, and stops as soon as the
    alarm is acknowledged or cleared. Between `quiet_start` and `quiet_end` (Asia/Shanghai,
    HH:MM) alarms up to `quiet_max_severity` are held until the quiet hours end."""

    __tablename__ = "notify_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=100)  # lower matches first
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    min_severity: Mapped[str] = mapped_column(String(12), default="info")
    alarm_type: Mapped[str] = mapped_column(String(48), default="")
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"), default=None)
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id", ondelete="SET NULL"),
                                                default=None)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    quiet_start: Mapped[str] = mapped_column(String(5), default="")
    quiet_end: Mapped[str] = mapped_column(String(5), default="")
    quiet_max_severity: Mapped[str] = mapped_column(String(12), default="warning")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Escalation(Base):
    """Where one alarm's escalation chain stands. One row per alarm; it survives restarts
    and any process can continue it (the job is a singleton)."""

    __tablename__ = "notify_escalations"
    __table_args__ = (Index("ix_notify_escalations_due", "state", "next_at"),)

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("notify_policies.id", ondelete="SET NULL"),
                                                  default=None)
    state: Mapped[str] = mapped_column(String(12), default="active")
    step: Mapped[int] = mapped_column(Integer, default=0)
    repeats_done: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(default=None)
    held_until: Mapped[datetime | None] = mapped_column(default=None)  # quiet hours
    stop_reason: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """One message over one channel: to one person (SMS, e-mail, voice) or into a group chat
    mentioning the step's recipients (WeCom robot). Written in the same transaction as
    the escalation step that wants it; `dedup_key` (unique) makes a step's message exist once."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), default=None,
                                                 index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notify_channels.id", ondelete="SET NULL"),
                                                   default=None)
    channel_kind: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("duty_contacts.id", ondelete="SET NULL"),
                                                   default=None)
    recipient_name: Mapped[str] = mapped_column(String(64), default="")
    step: Mapped[int] = mapped_column(Integer, default=0)
    round_no: Mapped[int] = mapped_column(Integer, default=0)  # which repeat of the chain
    # {"title", "text", "severity", "links": [...], "recipients": [{"name", "phone", "email", "wecom_userid"}]}
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str] = mapped_column(String(128), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
