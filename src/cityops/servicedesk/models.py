"""Service-desk tables (OPS-3): tickets, their timeline, pauses and links, SLA targets per
priority, escalation policies, the escalation steps already fired, and the desk's settings.

Tickets, SLA targets, escalation policies and the desk settings are edited by people, so they
are `Audited` (the reporter's phone is masked in the chain). The timeline is itself a log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

NATURES = {"incident": "故障", "request": "服务请求", "consultation": "咨询", "change": "变更"}
STATES = {"new": "待分派", "assigned": "已分派", "in_progress": "处理中", "pending": "挂起",
          "resolved": "已解决", "closed": "已关闭"}
OPEN_STATES = ("new", "assigned", "in_progress", "pending")
SOURCES = {"hotline": "服务热线", "backup": "备用渠道", "monitoring": "监控告警", "inspection": "巡检发现",
           "manual": "手工登记"}
PENDING_REASONS = ("等待用户", "等待厂商", "等待备件", "等待变更窗口")
PRIORITIES = ("P1", "P2", "P3", "P4")


class Ticket(Audited, Base):
    __tablename__ = "servicedesk_tickets"
    __table_args__ = (Index("ix_servicedesk_tickets_source_ref", "source", "source_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)  # GD202609300001 (Beijing day)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    nature: Mapped[str] = mapped_column(String(16), default="incident")
    impact: Mapped[int] = mapped_column(Integer, default=2)  # 1 high … 3 low
    urgency: Mapped[int] = mapped_column(Integer, default=2)
    priority: Mapped[str] = mapped_column(String(2), index=True)
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    source: Mapped[str] = mapped_column(String(16), default="hotline")
    source_ref: Mapped[str] = mapped_column(String(128), default="")  # backup-channel message key
    reporter: Mapped[str] = mapped_column(String(64), default="")
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    reporter_contact: Mapped[str] = mapped_column(String(128), default="")  # e-mail / WeCom id
    system_code: Mapped[str | None] = mapped_column(String(24), default=None, index=True)
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id", ondelete="SET NULL"), default=None)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), default=None,
                                                 index=True)
    # Plain ids: alarms are runtime data with their own retention; events and findings are linked loosely.
    alarm_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    event_id: Mapped[int | None] = mapped_column(Integer, default=None)
    finding_id: Mapped[int | None] = mapped_column(Integer, default=None)
    assignee: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    team_code: Mapped[str | None] = mapped_column(String(32), default=None)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    pending_reason: Mapped[str] = mapped_column(String(16), default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    emergency_change: Mapped[bool] = mapped_column(default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)  # first accepted (in_progress)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketEvent(Base):
    """One line of a ticket's timeline: a change, a comment, an assignment, an SLA warning or an
    escalation, with who and when."""

    __tablename__ = "servicedesk_ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("servicedesk_tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str] = mapped_column(String(16), default="")
    to_state: Mapped[str] = mapped_column(String(16), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class TicketPause(Base):
    """An interval during which the resolution clock stands still (pending, or resolved until
    closed or reopened); `ended_at` is NULL while it lasts."""

    __tablename__ = "servicedesk_ticket_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("servicedesk_tickets.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketLink(Base):
    """A free link between two tickets (stored once per direction asked for)."""

    __tablename__ = "servicedesk_ticket_links"
    __table_args__ = (UniqueConstraint("ticket_id", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("servicedesk_tickets.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("servicedesk_tickets.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaTarget(Audited, Base):
    """Response and resolution targets of one priority, in working minutes of its calendar."""

    __tablename__ = "servicedesk_sla_targets"

    priority: Mapped[str] = mapped_column(String(2), primary_key=True)
    response_min: Mapped[int] = mapped_column(Integer)
    resolution_min: Mapped[int] = mapped_column(Integer)
    calendar_mode: Mapped[str] = mapped_column(String(16), default="24x7")
    warn_at_pct: Mapped[int] = mapped_column(Integer, default=80)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EscalationPolicy(Audited, Base):
    """The escalation steps of one priority (JSON list, see `escalation.check_steps`)."""

    __tablename__ = "servicedesk_escalation_policies"

    priority: Mapped[str] = mapped_column(String(2), primary_key=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EscalationFired(Base):
    """A step (or SLA warning/breach notice) that has run for a ticket: each runs once."""

    __tablename__ = "servicedesk_escalations_fired"
    __table_args__ = (UniqueConstraint("ticket_id", "step_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("servicedesk_tickets.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DeskSettings(Audited, Base):
    """One row (id 1): the duty team that staffs the service desk and the notification channels
    escalations use (empty = every enabled channel)."""

    __tablename__ = "servicedesk_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_code: Mapped[str | None] = mapped_column(String(32), default=None)
    channel_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
