"""Event statistics, their exports and the events map (IOT-6, SYS-DISPATCH, issue #5 items 8-9).

`GET /api/v1/events/stats` (JSON), `GET /api/v1/events/stats/export?format=csv|xlsx[&table=]`
(XLSX: one sheet per table; CSV: one table, the per-day one unless `table` names another) and
`GET /api/v1/events/map` (GeoJSON, GCJ-02). Every signed-in role may read; street users see
their own street only. The export sheet builders here are shared with the console page.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI, local, utcnow
from cityops.events import lifecycle, stats
from cityops.events.pages import SEVERITY_LABELS, SOURCE_LABELS
from cityops.events.sla_models import STEP_LABELS
from cityops.monitoring import kpi_export
from cityops.monitoring.kpi_export import to_csv

router = APIRouter(prefix="/api/v1", tags=["events"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
DEFAULT_DAYS = 30


def period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """Beijing dates, inclusive; by default the last 30 days up to today."""
    last = date_to or local(utcnow()).date()
    first = date_from or last - timedelta(days=DEFAULT_DAYS - 1)
    return first, last


def make_filters(date_from: date | None, date_to: date | None, street: str | None, category: str | None,
                 source: str | None, scope: str | None) -> stats.Filters:
    first, last = period(date_from, date_to)
    since, until = stats.day_period(first, last)
    return stats.Filters(since, until, street=street or None, category=category or None, source=source or None,
                         scope=scope)


def labelled(rep: dict[str, Any]) -> dict[str, Any]:
    """The report with Chinese labels next to codes and the period as Beijing dates."""
    out = dict(rep)
    out["date_from"] = local(rep["since"]).date().isoformat()
    out["date_to"] = (local(rep["until"]) - timedelta(days=1)).date().isoformat()
    out["since"], out["until"] = local(rep["since"]).isoformat(), local(rep["until"]).isoformat()
    out["by_source"] = [{**r, "label": SOURCE_LABELS.get(r["source"], r["source"])} for r in rep["by_source"]]
    out["by_state"] = [{**r, "label": lifecycle.STATE_LABELS.get(r["state"], r["state"])} for r in rep["by_state"]]
    out["by_step"] = [{**r, "label": STEP_LABELS[r["step"]]} for r in rep["by_step"]]
    return out


# -- export sheets ---------------------------------------------------------------------------
def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def tables(rep: dict[str, Any]) -> dict[str, tuple[str, tuple[str, ...], list[list[Any]]]]:
    """table key → (sheet title, Chinese headers, rows); `rep` as `labelled` returns it."""
    steps = list(STEP_LABELS)
    return {
        "day": ("按日上报", ("日期", "事件数", "上报次数（含合并）"),
                [[date.fromisoformat(r["day"]), r["events"], r["reports"]] for r in rep["by_day"]]),
        "category_top": ("按大类", ("分类编码", "大类", "事件数", "上报次数（含合并）"),
                         [[r["code"], r["name"], r["events"], r["reports"]] for r in rep["by_category_top"]]),
        "category_leaf": ("按细类", ("分类编码", "细类", "分类路径", "事件数", "上报次数（含合并）"),
                          [[r["code"], r["name"], r["path"], r["events"], r["reports"]]
                           for r in rep["by_category_leaf"]]),
        "street": ("按街镇", ("街镇编码", "街镇", "事件数", "上报次数（含合并）"),
                   [[r["code"] or "", r["name"], r["events"], r["reports"]] for r in rep["by_street"]]),
        "source": ("按来源", ("来源", "来源名称", "事件数", "上报次数（含合并）"),
                   [[r["source"], r["label"], r["events"], r["reports"]] for r in rep["by_source"]]),
        "state": ("按当前状态", ("状态", "状态名称", "事件数"),
                  [[r["state"], r["label"], r["events"]] for r in rep["by_state"]]),
        "step": ("各环节按时率", ("环节", "环节名称", "计入数", "按时", "超时", "其中未完成已超时", "未完成未超时（不计入）",
                            "按时率(%)", "已完成", "平均用时（工作分钟）", "中位用时（工作分钟）", "平均用时（自然分钟）",
                            "中位用时（自然分钟）"),
                 [[r["step"], r["label"], r["total"], r["on_time"], r["late"], r["open_late"], r["open_within"],
                   _pct(r["rate"]), r["completed"], r["mean_work_min"], r["median_work_min"], r["mean_wall_min"],
                   r["median_wall_min"]] for r in rep["by_step"]]),
        "unit": ("责任单位按时率", ("单位ID", "责任单位", "计入数", "按时", "超时", "按时率(%)",
                             *(f"{STEP_LABELS[s]}按时率(%)" for s in steps)),
                 [[r["unit_id"], r["unit_name"], r["total"], r["on_time"], r["late"], _pct(r["rate"]),
                   *(_pct(r["steps"][s]["rate"]) for s in steps)] for r in rep["by_unit"]]),
    }


def to_xlsx(sheets: list[tuple[str, tuple[str, ...], list[list[Any]]]]) -> bytes:
    return kpi_export.workbook(sheets)


def download(session: Session, fmt: str, table: str | None, rep: dict[str, Any]) -> Response:
    """The export as an attachment; who exported what is recorded in the audit chain."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("导出格式 format 应为 csv 或 xlsx")
    all_tables = tables(rep)
    if table is not None and table not in all_tables:
        raise Invalid(f"table 应为以下之一：{'、'.join(all_tables)}")
    if fmt == "csv":
        table = table or "day"
        _, headers, rows = all_tables[table]
        body = to_csv(headers, rows)
    else:
        body = to_xlsx([all_tables[table]] if table else list(all_tables.values()))
    audit.record(session, "export", "event_stats", fmt,
                 after={"format": fmt, "table": table or "all", "from": rep["date_from"], "to": rep["date_to"],
                        **{k: v or "" for k, v in rep["filters"].items()}})
    stem = f"{rep['date_from'].replace('-', '')}-{rep['date_to'].replace('-', '')}"
    suffix = f"-{table}" if table else ""
    return kpi_export.attachment(body, fmt, f"event-stats{suffix}-{stem}.{fmt}", f"事件统计{suffix}-{stem}.{fmt}")


def parse_since(value: str | None) -> datetime | None:
    """A Beijing date (from its midnight) or an ISO 8601 instant; without an offset, Beijing time."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), SHANGHAI)
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("since 应为日期（2026-11-01）或时间（2026-11-01T08:00:00+08:00）") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=SHANGHAI)


# -- routes ---------------------------------------------------------------------------------
@router.get("/events/stats")
def event_stats(session: DbSession, p: Reader, date_from: date | None = None, date_to: date | None = None,
                street: str | None = None, category: str | None = None, source: str | None = None):
    """Counts per 大类/细类, street, source, day and current state; on-time rate and durations per
    step; on-time rate per responsible unit. Period: Beijing dates, inclusive (default 30 days)."""
    f = make_filters(date_from, date_to, street, category, source, p.street_scope)
    return labelled(stats.report(session, f))


@router.get("/events/stats/export")
def event_stats_export(session: DbSession, p: Reader, fmt: Annotated[str, Query(alias="format")] = "xlsx",
                       table: str | None = None, date_from: date | None = None, date_to: date | None = None,
                       street: str | None = None, category: str | None = None, source: str | None = None):
    """XLSX with one sheet per table (or only `table`); CSV (UTF-8 with BOM) of one table, `day`
    by default. Tables: day, category_top, category_leaf, street, source, state, step, unit."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("导出格式 format 应为 csv 或 xlsx")
    f = make_filters(date_from, date_to, street, category, source, p.street_scope)
    return download(session, fmt, table, labelled(stats.report(session, f)))


@router.get("/events/map")
def event_map(session: DbSession, p: Reader, state: str = "open", category: str | None = None,
              street: str | None = None, since: str | None = None, severity: str | None = None,
              limit: Annotated[int, Query(ge=1, le=stats.MAX_FEATURES)] = stats.MAX_FEATURES):
    """Located events as GeoJSON (coordinates GCJ-02 as stored), newest first, at most 5000.
    state: open (default), all, or one state; since: a Beijing date or an ISO time."""
    fc = stats.map_features(session, state=None if state in ("", "all") else state, category=category or None,
                            street=street or None, since=parse_since(since), severity=severity or None,
                            scope=p.street_scope, limit=limit)
    for feat in fc["features"]:
        feat["properties"]["severity_label"] = SEVERITY_LABELS.get(feat["properties"]["severity"], "")
    return fc
