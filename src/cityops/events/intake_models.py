"""Event intake and automatic verification (IOT-6, IOT-7, SYS-DISPATCH): which device alarms
become city events and how, which AI-vision detections do, the alarm → event links, and
the record of every verification check.

Policies and vision mappings are configuration people edit, so they are Audited; links,
detections and verifications are runtime history.

Why a link table and not only `city_events.source_ref = "alarm:<id>"`: the unique index on
`alarm_id` is what makes intake idempotent across two processes (the second insert fails
and its event is rolled back with it), one event can hold several alarms (merged reports
point at their parent), and alarms that no policy turns into an event are remembered
("ignored") so they are not weighed again every two seconds. `source_ref` is still set on
the event for people reading it.
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

ALARM_SOURCES = ("rule", "vendor", "liveness", "manual")
ACTIONS = ("event", "ignore")
ACTION_LABELS = {"event": "生成事件", "ignore": "不生成事件"}
LINK_OUTCOMES = ("event", "merged", "ignored")
LINK_LABELS = {"event": "已生成事件", "merged": "合并到已有事件", "ignored": "不生成事件"}
VERIFY_KINDS = ("auto", "manual", "callback")


class IntakePolicy(Audited, Base):
    """Alarm → event rule. The enabled policies are tried by priority (higher first, then the
    older); the first that matches decides. Empty match fields mean "any"."""

    __tablename__ = "event_intake_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # match
    alarm_type: Mapped[str] = mapped_column(String(48), default="")  # exact, or a prefix ending in "*"
    min_severity: Mapped[str] = mapped_column(String(12), default="info")
    device_type: Mapped[str] = mapped_column(String(32), default="")
    tag_id: Mapped[int | None] = mapped_column(Integer, default=None)  # no FK: a deleted tag matches nothing
    street_code: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(16), default="")  # rule | vendor | liveness | manual
    # action
    action: Mapped[str] = mapped_column(String(8), default="event")  # event | ignore
    category_code: Mapped[str] = mapped_column(String(16), default="")  # a leaf (细类)
    severity: Mapped[str] = mapped_column(String(12), default="")  # "" = the alarm's severity
    auto_accept: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_dispatch: Mapped[bool] = mapped_column(Boolean, default=False)  # implies auto_accept
    min_active_s: Mapped[int] = mapped_column(Integer, default=0)
    verify_hold_min: Mapped[int] = mapped_column(Integer, default=10)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VisionMapping(Audited, Base):
    """AI-vision detection type (占道经营, 暴露垃圾 …) → event category, with the lowest
    confidence that is taken as a report."""

    __tablename__ = "event_vision_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    detection_type: Mapped[str] = mapped_column(String(32), unique=True)
    category_code: Mapped[str] = mapped_column(String(16))
    min_confidence: Mapped[float] = mapped_column(Float, default=0.6)
    severity: Mapped[str] = mapped_column(String(12), default="")  # "" = the category's default
    auto_accept: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventAlarmLink(Base):
    """What intake decided for one alarm: its event (the parent when the report was merged),
    or "ignored". `report_id` is the alarm's own event row (equal to event_id unless merged)."""

    __tablename__ = "event_alarm_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), default=None,
                                                 index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("city_events.id", ondelete="SET NULL"), default=None)
    policy_id: Mapped[int | None] = mapped_column(Integer, default=None)  # no FK: history outlives the policy
    outcome: Mapped[str] = mapped_column(String(8))  # event | merged | ignored
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class VisionDetection(Base):
    """One AI-vision detection taken as a report; `detection_id` (the client's) makes a
    resent detection return the same event."""

    __tablename__ = "event_vision_detections"

    id: Mapped[int] = mapped_column(primary_key=True)
    detection_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    detection_type: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    bbox: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    detected_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EventVerification(Base):
    """One verification of a disposed event: automatic check, a check someone started by hand,
    or a citizen callback (回访). passed: True, False, or None while a hold period runs."""

    __tablename__ = "event_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(8))  # auto | manual | callback
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    checks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="")
