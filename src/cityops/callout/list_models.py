"""Call lists, do-not-call entries, the per-callee call ledger and the gate's log (CALL-4).

Lists and DNC entries are configuration people edit (Audited). The ledger and the gate log
are runtime history: one row per dial / per gate decision, never edited."""

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

ENTRY_STATUSES = ("ok", "invalid", "duplicate", "dnc")
DNC_SOURCES = ("manual", "opt_out", "import")


class CallList(Audited, Base):
    __tablename__ = "callout_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    scenario: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(256), default="")
    consent_basis: Mapped[str] = mapped_column(Text, default="")
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    total: Mapped[int] = mapped_column(Integer, default=0)
    ok_count: Mapped[int] = mapped_column(Integer, default=0)
    invalid_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    dnc_count: Mapped[int] = mapped_column(Integer, default=0)


class CallListEntry(Base):
    __tablename__ = "callout_list_entries"
    __table_args__ = (Index("ix_callout_list_entries_list_status", "list_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("callout_lists.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer, default=0)  # row number as seen in the sheet
    name: Mapped[str] = mapped_column(String(128), default="")
    number_e164: Mapped[str | None] = mapped_column(String(20), index=True, default=None)
    kind: Mapped[str | None] = mapped_column(String(8), default=None)
    raw_number: Mapped[str] = mapped_column(String(64), default="")
    consent_source: Mapped[str] = mapped_column(String(256), default="")
    business_ref: Mapped[str] = mapped_column(String(64), default="")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="ok")
    reason: Mapped[str] = mapped_column(String(256), default="")


class DoNotCall(Audited, Base):
    """scenario None = every scenario. Uniqueness on (number, scenario) is enforced by the
    service too, since a NULL scenario is distinct from every other NULL in SQL."""

    __tablename__ = "callout_dnc"
    __table_args__ = (UniqueConstraint("number_e164", "scenario"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number_e164: Mapped[str] = mapped_column(String(20), index=True)
    scenario: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str] = mapped_column(String(256), default="")
    source: Mapped[str] = mapped_column(String(12), default="manual")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class CallLedger(Base):
    """One row per dial, written by the dialer; the gate counts today's rows per callee."""

    __tablename__ = "callout_ledger"
    __table_args__ = (Index("ix_callout_ledger_number_at", "number_e164", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number_e164: Mapped[str] = mapped_column(String(20))
    scenario: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(24), default="")


class GateLog(Base):
    __tablename__ = "callout_gate_log"
    __table_args__ = (Index("ix_callout_gate_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    scenario: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    allowed: Mapped[bool] = mapped_column(Boolean)
    rules: Mapped[list[str]] = mapped_column(JSONType, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
