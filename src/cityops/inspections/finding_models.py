"""Inspection findings (OPS-1, ROOM-1): a problem an inspection found, open until someone or
the probe's recovery resolves it. One open finding per `key`, however often it is seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

FINDING_SOURCES = {"probe": "自动巡检", "checklist": "人工巡检", "plan": "巡检计划", "visit": "参观保障"}
FINDING_SEVERITIES = {"info": "提示", "warning": "一般", "major": "重要", "critical": "紧急"}
FINDING_STATES = {"open": "待处理", "resolved": "已解决"}


class Finding(Audited, Base):
    __tablename__ = "inspection_findings"
    __table_args__ = (Index("ix_inspection_findings_key_state", "key", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))  # e.g. probe:12, checklist:7:temperature
    source: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    system_code: Mapped[str | None] = mapped_column(String(24), default=None)
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id", ondelete="SET NULL"), default=None)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), default=None)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(64), default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    # A plain id: the service desk's tables come later in the migration chain.
    ticket_id: Mapped[int | None] = mapped_column(Integer, default=None)
