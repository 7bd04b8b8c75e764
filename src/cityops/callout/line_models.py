"""Lines (CALL-3): voice gateways and IP phones, the caller IDs calls go out with, the history
of line checks, and the line settings (marking service, alert recipients).

Devices and caller IDs are configuration people edit (Audited); the status columns the checks
write every minute are left out of the audit chain (`info={"audit": False}`), as is the SIP
password. The check history is runtime data: one row per check, never edited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

DEVICE_KINDS = ("gateway", "ip_phone")
MARKINGS = ("clean", "marked", "unknown")
CHECK_KINDS = ("options", "http", "test_call", "marking")
STATES = ("up", "down", "unknown")
_QUIET = {"audit": False}


class LineDevice(Audited, Base):
    __tablename__ = "callout_line_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), default="gateway")
    name: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(64), default="")
    host: Mapped[str] = mapped_column(String(255))
    sip_port: Mapped[int] = mapped_column(Integer, default=5060)
    username: Mapped[str] = mapped_column(String(64), default="")
    password: Mapped[str] = mapped_column(String(128), default="", info=_QUIET)
    ports: Mapped[int] = mapped_column(Integer, default=1)  # concurrent calls
    line_group: Mapped[str] = mapped_column(String(32), default="", index=True)
    http_status_url: Mapped[str] = mapped_column(String(512), default="")
    test_number: Mapped[str] = mapped_column(String(20), default="")  # E.164
    enabled: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Current status, written by the checks.
    state: Mapped[str] = mapped_column(String(8), default="unknown", info=_QUIET)
    state_since: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    sip_ok: Mapped[bool | None] = mapped_column(default=None, info=_QUIET)
    http_ok: Mapped[bool | None] = mapped_column(default=None, info=_QUIET)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    last_detail: Mapped[str] = mapped_column(Text, default="", info=_QUIET)
    status_page: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info=_QUIET)
    last_test_at: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None, info=_QUIET)
    last_test_result: Mapped[str] = mapped_column(String(24), default="", info=_QUIET)


class CallerId(Audited, Base):
    __tablename__ = "callout_caller_ids"

    id: Mapped[int] = mapped_column(primary_key=True)
    number_e164: Mapped[str] = mapped_column(String(20), unique=True)
    line_group: Mapped[str] = mapped_column(String(32), default="", index=True)
    carrier: Mapped[str] = mapped_column(String(32), default="")
    marking: Mapped[str] = mapped_column(String(8), default="unknown")
    label: Mapped[str] = mapped_column(String(64), default="")
    mark_count: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(64), default="")
    checked_at: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    marked_since: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineCheck(Base):
    __tablename__ = "callout_line_checks"
    __table_args__ = (Index("ix_callout_line_checks_device_kind_at", "device_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    subject: Mapped[str] = mapped_column(String(64))  # device name or caller number, as it was
    device_id: Mapped[int | None] = mapped_column(ForeignKey("callout_line_devices.id", ondelete="CASCADE"),
                                                  default=None)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callout_caller_ids.id", ondelete="CASCADE"),
                                                  index=True, default=None)
    ok: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LineSetting(Audited, Base):
    """Key/value settings of the lines part; values may hold secrets, so they stay out of the
    audit chain (who changed them when is still recorded)."""

    __tablename__ = "callout_line_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info=_QUIET)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
