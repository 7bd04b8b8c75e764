"""The flow-state watch (IOT-6, issue #5 item 6): its settings and the warnings it keeps.

`WatchSettings` is one row (id 1) people edit, so it is Audited. `FlowWarning` rows are
runtime data written by the watch job every 30 s: one row per condition episode. While a
warning is open or acknowledged, `dedup_key` ("<kind>:<subject>") is set and unique, so a
condition has at most one live warning; resolving clears it (NULLs never collide), which
keeps the history and lets the same condition open a new warning later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

KINDS = ("sla_warning", "sla_breached", "outbox_failing", "result_missing", "verification_failing", "surge")
KIND_LABELS = {"sla_warning": "时限预警", "sla_breached": "已超时", "outbox_failing": "派单发送失败",
               "result_missing": "结果未回传", "verification_failing": "核查多次未通过", "surge": "事件激增"}
WARNING_STATES = ("open", "acknowledged", "resolved")
WARNING_STATE_LABELS = {"open": "待确认", "acknowledged": "已确认", "resolved": "已解除"}


class WatchSettings(Audited, Base):
    """The watch's thresholds and who hears of new warnings (one row, id 1)."""

    __tablename__ = "flow_watch_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SLA: None = each policy's own warn_at_pct
    warn_pct: Mapped[int | None] = mapped_column(Integer, default=None)
    # dispatch outbox: failing after this many attempts, or pending this long
    outbox_attempts: Mapped[int] = mapped_column(Integer, default=3)
    outbox_pending_min: Mapped[int] = mapped_column(Integer, default=15)
    # work orders: no result or update this many hours after submission / the last update
    result_hours: Mapped[int] = mapped_column(Integer, default=24)
    # automatic verification: this many failures of one event within the window
    verify_failures: Mapped[int] = mapped_column(Integer, default=2)
    verify_window_h: Mapped[int] = mapped_column(Integer, default=72)
    # surge: events of one 大类 in one street in the last hour vs the same hour of the 4 weeks before
    surge_factor: Mapped[float] = mapped_column(Float, default=3.0)
    surge_min_count: Mapped[int] = mapped_column(Integer, default=5)
    # notification of new warnings
    notify_team: Mapped[str] = mapped_column(String(32), default="")
    notify_channels: Mapped[list[int]] = mapped_column(JSONType, default=list)
    quiet_info: Mapped[bool] = mapped_column(Boolean, default=True)  # info-level warnings: board only
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FlowWarning(Base):
    """One episode of a watched condition: opened, refreshed while it holds, resolved when gone."""

    __tablename__ = "flow_warnings"
    __table_args__ = (Index("ix_flow_warnings_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject: Mapped[str] = mapped_column(String(64))  # event:12:dispose | outbox:5 | order:3 | surge:03:310105001
    dedup_key: Mapped[str | None] = mapped_column(String(96), unique=True, default=None)  # set while not resolved
    event_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)  # no FK: history outlives rows
    street_code: Mapped[str | None] = mapped_column(String(16), default=None, index=True)  # street users' scope
    severity: Mapped[str] = mapped_column(String(12), default="warning")
    text: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    acked_by: Mapped[str] = mapped_column(String(64), default="")
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    notified: Mapped[int] = mapped_column(Integer, default=0)  # outbox rows written for it
