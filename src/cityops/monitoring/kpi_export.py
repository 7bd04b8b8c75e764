"""Online-rate sheets (IOT-5 KPI export): the daily history and the live figure as CSV (UTF-8
with BOM, so Excel opens the Chinese) or XLSX (bold header row, Chinese column titles, street
names resolved from codes). Content types come from `devices.transfer`, whose device-sheet
writers are row-specific; these tables are small, so they are built in memory."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.core.timeutil import local, utcnow
from cityops.devices.transfer import CONTENT_TYPES
from cityops.monitoring import kpi, kpi_history
from cityops.monitoring.kpi_history import DIMENSION_LABELS

DAILY_HEADERS = ("日期", "统计维度", "分组编码", "分组名称", "设备数", "采样次数", "在线设备样本", "设备样本总数",
                 "在线率(%)")
LIVE_HEADERS = ("统计维度", "分组编码", "分组名称", "设备数", "在线", "在线率(%)")


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def daily_table(session: Session, *, dimension: str, start: date, end: date,
                scope: str | None = None) -> list[list[Any]]:
    rows = kpi_history.daily_online_rate(session, dimension=dimension, start=start, end=end, scope=scope)
    names = kpi_history.key_labels(session, dimension, sorted({r["key"] for r in rows}), scope=scope)
    return [[r["day"], DIMENSION_LABELS[dimension], r["key"], names.get(r["key"], r["key"]), r["devices"],
             r["samples"], r["online_samples"], r["device_samples"], _pct(r["rate"])] for r in rows]


def live_table(session: Session, *, by: str, scope: str | None = None) -> list[list[Any]]:
    """The overall row first, then one row per group."""
    total = kpi.overall(session, scope=scope)
    groups = kpi.online_rate(session, by=by, scope=scope)
    names = kpi_history.key_labels(session, by, [g["key"] for g in groups])
    whole = kpi_history.key_labels(session, "overall", [kpi_history.OVERALL_KEY], scope=scope)
    out = [["全部", "", whole[kpi_history.OVERALL_KEY], total["devices"], total["online"], _pct(total["rate"])]]
    out += [[DIMENSION_LABELS[by], g["key"], names.get(g["key"], g["key"]), g["devices"], g["online"],
             _pct(g["rate"])] for g in groups]
    return out


def to_csv(headers: tuple[str, ...], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    for r in rows:
        w.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in r])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def workbook(sheets: list[tuple[str, tuple[str, ...], list[list[Any]]]], *,
             widths: dict[str, int] | None = None) -> bytes:
    """An XLSX file, one sheet per (title, headers, rows): bold frozen header row, 日期 columns
    formatted as dates, widths from the header (or `widths`)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(list(headers))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r in rows:
            ws.append(r)
        for i, h in enumerate(headers, start=1):
            ws.column_dimensions[get_column_letter(i)].width = (widths or {}).get(h, max(10, min(36, len(h) * 2 + 2)))
            if h == "日期":
                for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = "yyyy-mm-dd"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_xlsx(title: str, headers: tuple[str, ...], rows: list[list[Any]]) -> bytes:
    return workbook([(title, headers, rows)], widths={"分组名称": 22, "分组编码": 22})


def attachment(body: bytes, fmt: str, ascii_name: str, zh_name: str) -> Response:
    """A CSV/XLSX/PDF/DOCX download: an ASCII file name for old clients, the Chinese one (RFC 6266
    filename*) for the rest, never cached (exports carry personal or internal data)."""
    disp = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(zh_name)}"
    return Response(body, media_type=CONTENT_TYPES[fmt],
                    headers={"Content-Disposition": disp, "Cache-Control": "no-store"})


def download(session: Session, fmt: str, stem_ascii: str, stem_zh: str, title: str, headers: tuple[str, ...],
             rows: list[list[Any]], params: dict[str, Any]) -> Response:
    """The sheet as an attachment named with the local date, e.g. 设备在线率-20261125.xlsx; who
    exported what lands in the audit chain, as device exports do."""
    audit.record(session, "export", "kpi_online_rate", fmt, after={"format": fmt, "rows": len(rows),
                                                                   **{k: str(v) for k, v in params.items()}})
    stamp = local(utcnow()).strftime("%Y%m%d")
    body = to_csv(headers, rows) if fmt == "csv" else to_xlsx(title, headers, rows)
    return attachment(body, fmt, f"{stem_ascii}-{stamp}.{fmt}", f"{stem_zh}-{stamp}.{fmt}")


def daily_download(session: Session, fmt: str, *, dimension: str, start: date, end: date,
                   scope: str | None = None) -> Response:
    """The daily history sheet, for the API and the console's buttons alike."""
    rows = daily_table(session, dimension=dimension, start=start, end=end, scope=scope)
    return download(session, fmt, f"online-rate-daily-{dimension}-{start:%Y%m%d}-{end:%Y%m%d}",
                    f"设备在线率-按日-{DIMENSION_LABELS[dimension]}", "每日在线率", DAILY_HEADERS, rows,
                    {"kind": "daily", "dimension": dimension, "from": start, "to": end, "scope": scope or ""})


def live_download(session: Session, fmt: str, *, by: str, scope: str | None = None) -> Response:
    return download(session, fmt, f"online-rate-{by}", "设备在线率-实时", "实时在线率", LIVE_HEADERS,
                    live_table(session, by=by, scope=scope), {"kind": "live", "by": by, "scope": scope or ""})
