"""City events (IOT-6, SYS-DISPATCH): the classification tree, events, their state
transitions and attachments.

A report merged into an earlier open event keeps its own row with state "merged" and
`merged_into_id` set; the parent's `report_count` counts itself plus its merged reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

SEVERITIES = ("info", "warning", "major", "critical")
SOURCE_KINDS = ("iot_alarm", "vision", "hotline", "citizen", "patrol", "manual", "open311")
LEVELS = {1: "大类", 2: "小类", 3: "细类"}


class EventCategory(Audited, Base):
    """A node of the three-level classification tree (大类/小类/细类); codes never change."""

    __tablename__ = "event_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # "01", "0101", "010101"
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("event_categories.id"), default=None, index=True)
    default_severity: Mapped[str] = mapped_column(String(12), default="warning")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-category merge settings; None = the module defaults in events/service.py.
    merge_radius_m: Mapped[int | None] = mapped_column(Integer, default=None)
    merge_window_min: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CityEvent(Base):
    """One city event. Runtime data at volume, so not audited; every state change is an
    EventTransition row instead."""

    __tablename__ = "city_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # CN20261125-0001 (Beijing date)
    category_id: Mapped[int] = mapped_column(ForeignKey("event_categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)  # same datum as devices.lon/lat
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(24), default=None, index=True)
    address: Mapped[str] = mapped_column(String(256), default="")
    severity: Mapped[str] = mapped_column(String(12), index=True)
    source_kind: Mapped[str] = mapped_column(String(16), index=True)
    source_ref: Mapped[str] = mapped_column(String(128), default="", index=True)
    reporter_name: Mapped[str] = mapped_column(String(64), default="")
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    state: Mapped[str] = mapped_column(String(16), default="reported", index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_units.id"), default=None, index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("city_events.id"), default=None, index=True)
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    reported_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    disposed_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventTransition(Base):
    """One state change of an event: who, when, why. `action` names what happened
    (accept, return, reopen, merge …) since several actions land in the same state."""

    __tablename__ = "event_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str] = mapped_column(String(16), default="")
    to_state: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class EventAttachment(Base):
    """A file kept under var_dir/attachments/events/<event id>/; `path` is relative to var_dir."""

    __tablename__ = "event_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(512))
    uploaded_by: Mapped[str] = mapped_column(String(64), default="")
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
