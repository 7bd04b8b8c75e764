"""The dispatch link's tables (IOT-7 / SYS-DISPATCH).

* `DispatchPlatform` — a configured platform (adapter kind + settings, callback secret);
  audited. Its runtime state (circuit breaker, polling cursor) is `PlatformState`, not
  audited because it changes every few seconds.
* `WorkOrder` — one dispatch of one event to one platform. An event returned (退回) and
  dispatched again gets a second row with the next `seq`; the idempotency key
  (`<event number>/<seq>`) is what the platform deduplicates on.
* `DispatchOutbox` — what must still be said to a platform, written in the same
  transaction as the state change that wants it. Per event, only the oldest unfinished
  message is sent; the rest wait behind it (ordering).
* `DispatchUpdate` — every update the platform reported (callback or polling), unique per
  (platform, update id) so a repeated callback or an overlapping poll is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

OUTBOX_STATES = ("pending", "sent", "failed", "cancelled")
ORDER_STATES = ("pending", "submitted", "accepted", "in_progress", "disposed", "returned", "closed", "failed",
                "cancelled")
BREAKER_STATES = ("closed", "open", "half_open")


class DispatchPlatform(Audited, Base):
    __tablename__ = "dispatch_platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # adapters.registry key
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    callback_secret: Mapped[str] = mapped_column(String(128), default="", info={"audit": False})
    # Where the platform reaches our callback receiver (e.g. http://10.1.2.3:8000); empty =
    # CITYOPS_PUBLIC_URL; neither = no callbacks, results come by polling only.
    callback_base_url: Mapped[str] = mapped_column(String(256), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # where new dispatches go
    poll_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    # No update for this long on an open work order → ask the platform for its status.
    status_check_after_min: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlatformState(Base):
    __tablename__ = "dispatch_platform_state"

    platform_id: Mapped[int] = mapped_column(ForeignKey("dispatch_platforms.id", ondelete="CASCADE"),
                                             primary_key=True)
    breaker: Mapped[str] = mapped_column(String(12), default="closed")
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive retryable failures
    opened_count: Mapped[int] = mapped_column(Integer, default=0)  # consecutive openings (cool-down grows)
    open_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    poll_cursor: Mapped[datetime | None] = mapped_column(default=None)  # newest update time seen
    last_poll_at: Mapped[datetime | None] = mapped_column(default=None)
    last_poll_error: Mapped[str] = mapped_column(Text, default="")


class WorkOrder(Base):
    __tablename__ = "dispatch_orders"
    __table_args__ = (UniqueConstraint("event_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("dispatch_platforms.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None)
    external_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    raw_status: Mapped[str] = mapped_column(String(48), default="")
    notice: Mapped[str] = mapped_column(Text, default="")  # the platform's answer to the submission
    result_text: Mapped[str] = mapped_column(Text, default="")
    result_unit_code: Mapped[str] = mapped_column(String(32), default="")
    result_unit_name: Mapped[str] = mapped_column(String(128), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    last_update_at: Mapped[datetime | None] = mapped_column(default=None)
    disposed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_check_at: Mapped[datetime | None] = mapped_column(default=None)


class DispatchOutbox(Base):
    __tablename__ = "dispatch_outbox"
    __table_args__ = (Index("ix_dispatch_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("dispatch_orders.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("dispatch_platforms.id"), index=True)
    action: Mapped[str] = mapped_column(String(16), default="submit")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the work order as sent
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class DispatchUpdate(Base):
    __tablename__ = "dispatch_updates"
    __table_args__ = (UniqueConstraint("platform_id", "update_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("dispatch_platforms.id"), index=True)
    update_id: Mapped[str] = mapped_column(String(96))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_orders.id", ondelete="CASCADE"),
                                                 default=None, index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), default=None,
                                                 index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(12))  # callback | poll | status
    state: Mapped[str] = mapped_column(String(16))  # ExternalState value
    raw_status: Mapped[str] = mapped_column(String(48), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    unit_code: Mapped[str] = mapped_column(String(32), default="")
    unit_name: Mapped[str] = mapped_column(String(128), default="")
    photos: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # URLs as reported
    photos_fetched: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(index=True)  # when it happened on the platform
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(Text, default="")  # what it did to the event
