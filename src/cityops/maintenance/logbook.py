"""Reading the maintenance log (系统维护日志, SVC-2) and the people's side of writing it: the day
view grouped by kind, search, CSV export, free entries and corrections. Entries are
append-only for people — a correction is a new entry pointing at the old one — and only an
admin may delete one (the delete and its reason land in the audit chain)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.catalog.models import System
from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import fmt_local
from cityops.maintenance.log import add_entry
from cityops.maintenance.log_models import LOG_KINDS, LogEntry

EXPORT_LIMIT = 50_000
CSV_HEADERS = ("编号", "日期", "时间", "类别", "系统", "摘要", "详情", "记录人", "来源", "来源编号", "更正条目")


def system_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(System.code, System.name)).all())


def _check_system(session: Session, code: str | None) -> str | None:
    code = (code or "").strip() or None
    if code and session.scalar(select(System.id).where(System.code == code)) is None:
        raise Invalid(f"系统 {code} 不存在")
    return code


def get_entry(session: Session, entry_id: int) -> LogEntry:
    row = session.get(LogEntry, entry_id)
    if row is None:
        raise NotFound(f"日志条目 {entry_id} 不存在")
    return row


def search(session: Session, *, q: str = "", kind: str | None = None, system_code: str | None = None,
           day_from: date | None = None, day_to: date | None = None, limit: int = 50,
           offset: int = 0) -> tuple[list[LogEntry], int]:
    """Newest first. `q` matches summary, detail or author (case-insensitive); days are Beijing days."""
    if kind and kind not in LOG_KINDS:
        raise Invalid(f"未知的日志类别 {kind!r}（可选：{'、'.join(LOG_KINDS)}）")
    if day_from and day_to and day_from > day_to:
        raise Invalid("开始日期不能晚于结束日期")
    stmt = select(LogEntry)
    if q.strip():
        text = q.strip().lower()  # autoescape: typed % and _ are literal characters, not wildcards
        stmt = stmt.where(or_(*(func.lower(col).contains(text, autoescape=True)
                                for col in (LogEntry.summary, LogEntry.detail, LogEntry.author))))
    if kind:
        stmt = stmt.where(LogEntry.kind == kind)
    if system_code:
        stmt = stmt.where(LogEntry.system_code == system_code)
    if day_from:
        stmt = stmt.where(LogEntry.day >= day_from)
    if day_to:
        stmt = stmt.where(LogEntry.day <= day_to)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(LogEntry.at.desc(), LogEntry.id.desc()).limit(limit).offset(offset)))
    return rows, total


def day_view(session: Session, day: date) -> dict[str, Any]:
    """All entries of a Beijing day in time order, grouped by kind (in LOG_KINDS order)."""
    rows = list(session.scalars(select(LogEntry).where(LogEntry.day == day).order_by(LogEntry.at, LogEntry.id)))
    groups = [{"kind": k, "label": label, "entries": [r for r in rows if r.kind == k]} for k, label in LOG_KINDS.items()]
    return {"day": day, "total": len(rows), "groups": [g for g in groups if g["entries"]]}


def add_free(session: Session, *, summary: str, detail: str = "", system_code: str | None = None, author: str,
             now: datetime) -> LogEntry:
    """A person's own line (手工记录): summary required, detail and system optional."""
    if len((summary or "").strip()) > 300:
        raise Invalid("摘要不超过 300 字")
    return add_entry(session, kind="free", source="free", summary=summary or "", detail=(detail or "").strip(),
                     author=author, at=now, system_code=_check_system(session, system_code))


def correct(session: Session, entry_id: int, *, summary: str, detail: str = "", author: str,
            now: datetime) -> LogEntry:
    """A correction: a new entry of the same kind and system, pointing at the one it corrects."""
    old = get_entry(session, entry_id)
    if not (summary or "").strip():
        raise Invalid("请填写更正内容")
    row = add_entry(session, kind=old.kind, source="correction", summary=f"更正 #{old.id}：{summary.strip()}"[:300],
                    detail=(detail or "").strip(), author=author, at=now, system_code=old.system_code,
                    asset_id=old.asset_id)
    row.corrects_id = old.id
    session.flush()
    return row


def delete_entry(session: Session, entry_id: int, *, reason: str, by: str) -> None:
    """Admins only (the caller checks the role); the reason is recorded next to the row delete."""
    row = get_entry(session, entry_id)
    if not (reason or "").strip():
        raise Invalid("删除日志须填写原因")
    audit.record(session, "delete-reason", "maintenance_log_entries", str(row.id),
                 after={"reason": reason.strip(), "by": by, "summary": row.summary})
    session.delete(row)
    session.flush()


def entry_dict(row: LogEntry, names: dict[str, str]) -> dict[str, Any]:
    return {"id": row.id, "day": row.day, "at": row.at, "kind": row.kind, "kind_label": LOG_KINDS.get(row.kind, row.kind),
            "source": row.source, "source_ref": row.source_ref, "summary": row.summary, "detail": row.detail,
            "author": row.author, "system_code": row.system_code,
            "system_name": names.get(row.system_code or "", row.system_code or ""), "asset_id": row.asset_id,
            "corrects_id": row.corrects_id}


def export_csv(session: Session, *, actor: str = "", **filters: Any) -> bytes:
    """The search result as CSV (UTF-8 with BOM for Excel), oldest first; the export is audited."""
    rows, total = search(session, limit=EXPORT_LIMIT, offset=0, **filters)
    if total > EXPORT_LIMIT:
        raise Invalid(f"符合条件的日志有 {total} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小日期范围")
    names = system_names(session)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADERS)
    for r in reversed(rows):
        w.writerow([r.id, r.day.isoformat(), fmt_local(r.at, "%H:%M"), LOG_KINDS.get(r.kind, r.kind),
                    names.get(r.system_code or "", r.system_code or ""), r.summary, r.detail, r.author, r.source,
                    r.source_ref, r.corrects_id or ""])
    audit.record(session, "export", "maintenance_log_entries", "csv",
                 after={"rows": len(rows), "by": actor, **{k: str(v) for k, v in filters.items() if v}})
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
