"""Call lists (CALL-4): import from CSV/XLSX with Chinese or English headers, normalise and
validate numbers, de-duplicate within the list, mark do-not-call entries; a dry run that
saves nothing; expiry and freshness; the do-not-call list and opt-out by key press.

An opt-out takes effect at once: the gate reads `callout_dnc` before every dial, and the
entries already imported for that number are marked `dnc` as well."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityops.callout import numbers
from cityops.callout.list_models import DNC_SOURCES, CallList, CallListEntry, DoNotCall
from cityops.callout.scenarios import SCENARIOS
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import aware, utcnow
from cityops.devices.transfer import decode_text

FRESH_DAYS = 30
MAX_ROWS = 200_000
HEADERS = {
    "name": ("姓名", "名称", "联系人", "name"),
    "phone": ("电话", "号码", "电话号码", "手机", "手机号", "phone", "number", "mobile"),
    "ref": ("业务编号", "业务单号", "ref", "businessref", "reference"),
    "consent": ("同意来源", "授权来源", "consent", "consentsource"),
}
_INDEX = {re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", a).casefold()): f
          for f, aliases in HEADERS.items() for a in aliases}
OPT_OUT_REASONS = {"key_press": "按键退订", "voice": "语音退订", "hotline": "热线申请退订"}


def _key(h: Any) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", str(h or "")).replace("\ufeff", "").casefold())


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # Excel stores a typed-in phone number as a float
    return str(v).strip()


def _raw_rows(data: bytes, filename: str) -> list[list[Any]]:
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # BadZipFile, KeyError, InvalidFileException …
            raise Invalid(f"不是有效的 xlsx 文件: {exc}") from exc
        try:
            if not wb.worksheets:
                return []
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # some writers store a wrong sheet size; read what is there
            return [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=max((",", "\t", ";"), key=first.count)))


def parse_file(data: bytes, filename: str = "") -> list[tuple[int, dict[str, str]]]:
    """(row number as seen in the sheet, {name, phone, ref, consent, extra}) per data row."""
    rows = _raw_rows(data, filename)
    if not rows:
        raise Invalid("文件为空")
    header = [_INDEX.get(_key(h)) for h in rows[0]]
    if "phone" not in header:
        raise Invalid("缺少电话列（表头应为 电话/号码/phone）")
    if len(rows) - 1 > MAX_ROWS:
        raise Invalid(f"名单超过 {MAX_ROWS} 行，请拆分后导入")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        cells = [_cell(v) for v in row]
        if not any(cells):
            continue
        rec: dict[str, Any] = {"extra": {}}
        for i, v in enumerate(cells):
            f = header[i] if i < len(header) else None
            if f:
                rec[f] = v
            elif v and i < len(rows[0]) and rows[0][i]:
                rec["extra"][str(rows[0][i]).strip()] = v
        out.append((n, rec))
    return out


@dataclass
class ImportResult:
    dry_run: bool
    counts: dict[str, int]
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first problems, for the preview
    list_id: int | None = None


def dnc_numbers(session: Session, scenario: str, candidates: set[str]) -> set[str]:
    if not candidates:
        return set()
    found: set[str] = set()
    cand = sorted(candidates)
    for i in range(0, len(cand), 500):
        found.update(session.scalars(select(DoNotCall.number_e164).where(
            DoNotCall.number_e164.in_(cand[i:i + 500]),
            or_(DoNotCall.scenario.is_(None), DoNotCall.scenario == scenario))))
    return found


def _check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise Invalid(f"未知场景 {scenario!r}", allowed=list(SCENARIOS))


def import_list(session: Session, data: bytes, filename: str = "", *, name: str, scenario: str, source: str = "",
                consent_basis: str = "", valid_until: datetime | None = None, created_by: str = "",
                dry_run: bool = False, max_errors: int = 20) -> ImportResult:
    _check_scenario(scenario)
    if not name.strip():
        raise Invalid("请填写名单名称")
    rows = parse_file(data, filename)
    parsed = [(n, rec, numbers.parse(rec.get("phone", ""))) for n, rec in rows]
    blocked = dnc_numbers(session, scenario, {p.e164 for _, _, p in parsed if p.ok})
    seen: dict[str, int] = {}
    entries, errors = [], []
    counts = {"total": len(parsed), "ok": 0, "invalid": 0, "duplicate": 0, "dnc": 0}
    for n, rec, p in parsed:
        if not p.ok:
            status, reason = "invalid", p.reason
        elif p.e164 in seen:
            status, reason = "duplicate", f"与第 {seen[p.e164]} 行号码重复"
        elif p.e164 in blocked:
            status, reason = "dnc", "号码在免打扰名单中"
        else:
            status, reason = "ok", ""
        if p.ok:
            seen.setdefault(p.e164, n)
        counts[status] += 1
        if status != "ok" and len(errors) < max_errors:
            errors.append({"row": n, "number": p.raw, "status": status, "reason": reason})
        entries.append(CallListEntry(row=n, name=rec.get("name", "")[:128], number_e164=p.e164, kind=p.kind,
                                     raw_number=p.raw[:64], consent_source=rec.get("consent", "")[:256],
                                     business_ref=rec.get("ref", "")[:64], extra=rec["extra"], status=status,
                                     reason=reason))
    result = ImportResult(dry_run, counts, errors)
    if dry_run:
        return result
    cl = CallList(name=name.strip()[:128], scenario=scenario, source=source[:256], consent_basis=consent_basis,
                  valid_until=aware(valid_until), created_by=created_by)
    _apply_counts(cl, counts)
    session.add(cl)
    session.flush()
    for e in entries:
        e.list_id = cl.id
    session.add_all(entries)
    session.flush()
    result.list_id = cl.id
    return result


def _apply_counts(cl: CallList, counts: dict[str, int]) -> None:
    cl.total, cl.ok_count, cl.invalid_count = counts["total"], counts["ok"], counts["invalid"]
    cl.duplicate_count, cl.dnc_count = counts["duplicate"], counts["dnc"]


def recount(session: Session, cl: CallList) -> None:
    by = dict(session.execute(select(CallListEntry.status, func.count()).where(CallListEntry.list_id == cl.id)
                              .group_by(CallListEntry.status)).all())
    _apply_counts(cl, {"total": sum(by.values()), **{s: by.get(s, 0) for s in ("ok", "invalid", "duplicate", "dnc")}})


# -- lists -------------------------------------------------------------------------------

def list_lists(session: Session) -> list[CallList]:
    return list(session.scalars(select(CallList).order_by(CallList.created_at.desc(), CallList.id.desc())))


def get_list(session: Session, list_id: int) -> CallList:
    cl = session.get(CallList, list_id)
    if cl is None:
        raise NotFound(f"外呼名单 {list_id} 不存在")
    return cl


def entries(session: Session, list_id: int, *, status: str | None = None, limit: int = 50,
            offset: int = 0) -> tuple[list[CallListEntry], int]:
    q = select(CallListEntry).where(CallListEntry.list_id == list_id)
    if status:
        q = q.where(CallListEntry.status == status)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    return list(session.scalars(q.order_by(CallListEntry.row, CallListEntry.id).limit(limit).offset(offset))), total


def is_expired(cl: CallList, at: datetime | None = None) -> bool:
    return cl.valid_until is not None and aware(cl.valid_until) <= aware(at or utcnow())


def is_stale(cl: CallList, at: datetime | None = None, days: int = FRESH_DAYS) -> bool:
    """A freshness warning: numbers change hands, so an old list is checked again before use."""
    return aware(at or utcnow()) - aware(cl.created_at) > timedelta(days=days)


# -- do not call ---------------------------------------------------------------------------

def list_dnc(session: Session, *, limit: int = 200, offset: int = 0) -> tuple[list[DoNotCall], int]:
    total = session.scalar(select(func.count()).select_from(DoNotCall)) or 0
    rows = session.scalars(select(DoNotCall).order_by(DoNotCall.created_at.desc(), DoNotCall.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), total


def add_dnc(session: Session, number: str, scenario: str | None = None, *, reason: str = "", source: str = "manual",
            created_by: str = "") -> DoNotCall:
    p = numbers.parse(number)
    if not p.ok:
        raise Invalid(f"号码无效：{p.reason}")
    if scenario:
        _check_scenario(scenario)
    if source not in DNC_SOURCES:
        raise Invalid(f"未知来源 {source!r}", allowed=list(DNC_SOURCES))
    scenario = scenario or None
    # NULL never equals NULL in a unique index, so the global entry is checked here.
    existing = session.scalar(select(DoNotCall).where(DoNotCall.number_e164 == p.e164,
                                                      DoNotCall.scenario.is_(None) if scenario is None
                                                      else DoNotCall.scenario == scenario))
    if existing is not None:
        raise Conflict("该号码已在免打扰名单中")
    row = DoNotCall(number_e164=p.e164, scenario=scenario, reason=reason[:256], source=source, created_by=created_by)
    session.add(row)
    session.flush()
    _mark_entries(session, p.e164, scenario)
    return row


def remove_dnc(session: Session, dnc_id: int) -> None:
    row = session.get(DoNotCall, dnc_id)
    if row is None:
        raise NotFound(f"免打扰记录 {dnc_id} 不存在")
    session.delete(row)
    session.flush()


def opt_out(session: Session, number: str, scenario: str, via: str = "key_press", created_by: str = "") -> DoNotCall:
    """The callee asked not to be called again for this scenario; idempotent."""
    p = numbers.parse(number)
    if not p.ok:
        raise Invalid(f"号码无效：{p.reason}")
    existing = session.scalar(select(DoNotCall).where(DoNotCall.number_e164 == p.e164,
                                                      DoNotCall.scenario == scenario))
    if existing is not None:
        return existing
    return add_dnc(session, number, scenario, reason=OPT_OUT_REASONS.get(via, via), source="opt_out",
                   created_by=created_by or f"callee:{via}")


def _mark_entries(session: Session, e164: str, scenario: str | None) -> None:
    q = select(CallListEntry).join(CallList, CallList.id == CallListEntry.list_id).where(
        CallListEntry.number_e164 == e164, CallListEntry.status == "ok")
    if scenario:
        q = q.where(CallList.scenario == scenario)
    touched = set()
    for e in session.scalars(q):
        e.status, e.reason = "dnc", "号码已加入免打扰名单"
        touched.add(e.list_id)
    session.flush()
    for list_id in touched:
        recount(session, session.get(CallList, list_id))
