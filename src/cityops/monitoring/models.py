"""Device state history and alarms (IOT-5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, and_, text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

SEVERITIES = ("info", "warning", "major", "critical")
ALARM_STATES = ("active", "acknowledged", "cleared")


class DeviceStateChange(Base):
    """Every liveness transition of a device (online, offline, silent, never_seen)."""

    __tablename__ = "device_state_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    old: Mapped[str] = mapped_column(String(16))
    new: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(24))


class Alarm(Base):
    """One alarm per device and type while it is open; repeats raise its counter.

    Runtime data written at message rate, so not in the audit chain; who acknowledged or
    cleared it, and why, is kept on the row itself."""

    __tablename__ = "alarms"
    __table_args__ = (
        # At most one open alarm per device and type, on both backends.
        Index("uq_alarms_open_device_type", "device_id", "alarm_type", unique=True,
              postgresql_where=text("state <> 'cleared'"), sqlite_where=text("state <> 'cleared'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    alarm_type: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    source: Mapped[str] = mapped_column(String(16))  # liveness | rule | vendor | manual
    message: Mapped[str] = mapped_column(Text, default="")
    first_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_by: Mapped[str] = mapped_column(String(64), default="")
    ack_note: Mapped[str] = mapped_column(Text, default="")
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_by: Mapped[str] = mapped_column(String(64), default="")
    clear_reason: Mapped[str] = mapped_column(Text, default="")
    # Topology: a child's offline alarm folds under its gateway's/NVR's (suppressed).
    root_alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"), default=None)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


def live_alarm():
    """Raised and not cleared (active or acknowledged) and not folded under a root cause: what
    boards and walls count. Named states rather than `!= cleared`, so the state index serves it."""
    return and_(Alarm.state.in_([s for s in ALARM_STATES if s != "cleared"]), Alarm.suppressed.is_(False))


class MonitoringState(Base):
    """Saved in-memory state of the monitoring runtime (the rule engine's timers, hysteresis and
    raised flags), so a restart continues where it stopped (IOT-5)."""

    __tablename__ = "monitoring_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class MaintenanceWindow(Base):
    """A planned maintenance period for a device, a tag or a street: alarms raised inside it
    are kept but suppressed, and its devices are left out of the online rate (IOT-5).

    One-off (`starts_at`..`ends_at`), optionally repeating weekly on `weekdays` (0 = Monday)
    between `daily_start` and `daily_end` (Asia/Shanghai, "HH:MM") within that period."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    scope_kind: Mapped[str] = mapped_column(String(8))  # device | tag | street
    scope_value: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    weekdays: Mapped[list[int]] = mapped_column(JSONType, default=list)
    daily_start: Mapped[str] = mapped_column(String(5), default="")
    daily_end: Mapped[str] = mapped_column(String(5), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from datetime import date  # noqa: E402  (appended section: KPI history and alarm comments)


class KpiOnlineDaily(Base):
    """Daily online rate (设备在线率) history per street scope, dimension and key (IOT-5).

    Running accumulators filled by 5-minute samples of the live figure: rate of the day =
    online_samples / device_samples (time-weighted availability, Zabbix-style). `scope` is ""
    for the district, else a street code (the same figures seen from one street). `last_slot`
    is the last 5-minute slot counted, so a second run in the same slot adds nothing."""

    __tablename__ = "kpi_online_daily"
    __table_args__ = (Index("uq_kpi_online_daily_key", "day", "scope", "dimension", "key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(index=True)  # Asia/Shanghai date of the samples
    scope: Mapped[str] = mapped_column(String(16), default="")
    dimension: Mapped[str] = mapped_column(String(16))  # overall | street_code | vendor | device_type | platform | tag
    key: Mapped[str] = mapped_column(String(160), default="")
    devices: Mapped[int] = mapped_column(Integer, default=0)  # counted devices at the last sample
    samples: Mapped[int] = mapped_column(Integer, default=0)
    device_samples: Mapped[int] = mapped_column(Integer, default=0)
    online_samples: Mapped[int] = mapped_column(Integer, default=0)
    last_slot: Mapped[datetime] = mapped_column()


class AlarmComment(Base):
    """A note on an alarm by the people handling it (IOT-5). Runtime data like the alarm itself,
    so not in the audit chain; rows are never edited."""

    __tablename__ = "alarm_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


RULE_SCOPES = ("product", "tag", "device")
RULE_MODES = ("replace", "add", "disable")


class RuleOverride(Audited, Base):
    """A rule change for a product, a tag or one device, layered over the product's default
    rules (IOT-5 "per model, overridable per device or tag"). Configuration people edit, so
    every change lands in the audit chain. Resolved by ``monitoring.rule_table.RuleTable``.

    ``scope_value``: the product code, the tag id or the device id (as text). ``mode``:
    ``replace`` (same rule id replaces the lower layer's rule), ``add`` (a new rule id) or
    ``disable`` (the rule id is switched off for the scope; ``rule`` stays empty)."""

    __tablename__ = "rule_overrides"
    __table_args__ = (Index("uq_rule_overrides_scope_rule", "scope_kind", "scope_value", "rule_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(8))
    scope_value: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(128))
    mode: Mapped[str] = mapped_column(String(8), default="replace")
    rule: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # rules_schema.Rule as JSON
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
