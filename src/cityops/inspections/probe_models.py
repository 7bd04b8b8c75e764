"""Configured inspection probes and their result history (OPS-1).

A probe is configuration people edit (Audited). Secret options (passwords) live in their own
column left out of the audit chain and never returned by the API; so do the runtime columns the
scheduler writes every run and the push token. Results are runtime data, one row per run,
deleted after the retention period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow
from cityops.core.types import JSONType

PROBE_STATES = {"ok": "正常", "failing": "异常", "unknown": "未运行"}
_QUIET = {"audit": False}


class Probe(Audited, Base):
    __tablename__ = "inspection_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    target: Mapped[str] = mapped_column(String(512))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, info=_QUIET)
    interval_s: Mapped[int] = mapped_column(Integer, default=300)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    enabled: Mapped[bool] = mapped_column(default=True)
    system_code: Mapped[str | None] = mapped_column(String(24), default=None, index=True)
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id", ondelete="SET NULL"), default=None)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), default=None)
    severity: Mapped[str] = mapped_column(String(16), default="major")
    ticket_policy: Mapped[str] = mapped_column(String(8), default="major")
    fail_after: Mapped[int] = mapped_column(Integer, default=2)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    # Runtime, written by every run.
    state: Mapped[str] = mapped_column(String(12), default="unknown", info=_QUIET)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, info=_QUIET)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    last_ok: Mapped[bool | None] = mapped_column(default=None, info=_QUIET)
    last_latency_ms: Mapped[float | None] = mapped_column(Float, default=None, info=_QUIET)
    last_detail: Mapped[str] = mapped_column(Text, default="", info=_QUIET)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True, info=_QUIET)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)  # the scheduler's lease
    push_token: Mapped[str | None] = mapped_column(String(64), unique=True, default=None, info=_QUIET)
    last_push_at: Mapped[datetime | None] = mapped_column(default=None, info=_QUIET)
    last_push_ok: Mapped[bool | None] = mapped_column(default=None, info=_QUIET)
    last_push_msg: Mapped[str] = mapped_column(String(300), default="", info=_QUIET)


class ProbeRun(Base):
    __tablename__ = "inspection_probe_results"
    __table_args__ = (Index("ix_inspection_probe_results_probe_at", "probe_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("inspection_probes.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column()
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
