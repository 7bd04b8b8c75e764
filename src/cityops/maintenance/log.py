"""Writing to the maintenance log (SVC-2). Domains call `add_entry` when work is done; the same
(source, source_ref) written again updates the entry instead of adding a second one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.core.timeutil import local, utcnow
from cityops.maintenance.log_models import LOG_KINDS, LogEntry


def add_entry(session: Session, *, kind: str, summary: str, source: str = "free", source_ref: str | None = None,
              detail: str = "", author: str = "", at: datetime | None = None, system_code: str | None = None,
              asset_id: int | None = None) -> LogEntry:
    if kind not in LOG_KINDS:
        raise Invalid(f"未知的日志类别 {kind!r}（可选：{'、'.join(LOG_KINDS)}）")
    if not summary.strip():
        raise Invalid("请填写日志摘要")
    at = at or utcnow()
    ref = source_ref or uuid.uuid4().hex
    row = session.scalar(select(LogEntry).where(LogEntry.source == source, LogEntry.source_ref == ref))
    if row is None:
        row = LogEntry(source=source, source_ref=ref)
        session.add(row)
    row.kind, row.at, row.day = kind, at, local(at).date()
    row.summary, row.detail, row.author = summary.strip()[:300], detail, author
    row.system_code, row.asset_id = system_code, asset_id
    session.flush()
    return row
