"""The maintenance log (系统维护日志, SVC-2): one row per thing done, written by the domain that
did it (a completed task, a resolved ticket, a signed-off inspection, a closed fault, a
hardware repair) or by a person. `(source, source_ref)` is unique, so writing twice is safe."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

LOG_KINDS = {"task": "维护任务", "ticket": "服务台工单", "inspection": "巡检", "fault": "故障处置",
             "hardware": "硬件维护", "visit": "参观接待", "duty": "值班交接", "free": "手工记录"}


class LogEntry(Audited, Base):
    __tablename__ = "maintenance_log_entries"
    __table_args__ = (UniqueConstraint("source", "source_ref"), Index("ix_maintenance_log_day", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)  # the Beijing day the work was done
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))  # e.g. ticket, probe-run, free
    source_ref: Mapped[str] = mapped_column(String(64))  # the source's id; free entries get a uuid
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(64), default="")
    system_code: Mapped[str | None] = mapped_column(String(24), default=None)
    asset_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # A person's correction is a new entry pointing at the one it corrects (entries are append-only).
    corrects_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
