"""Call statistics API with exports (CALL-5).

`GET /api/v1/callout/stats/year?year=` — results by scenario; `/months?year=` — call counts per
scenario per month; `/days?year=&month=` — per day. Each takes `format=json|csv|xlsx` (CSV is
UTF-8 with BOM; XLSX one sheet with Chinese headers). Readers: admin, manager, duty, technician,
auditor. The sheet builders here are shared with the console page; exports are audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.callout import stats
from cityops.core.errors import Invalid
from cityops.core.timeutil import local, utcnow
from cityops.monitoring.kpi_export import attachment, to_csv, workbook

router = APIRouter(prefix="/api/v1/callout/stats", tags=["callout"])
Reader = Annotated[Principal, Depends(require(*STAFF))]
FORMATS = ("json", "csv", "xlsx")
Table = tuple[str, tuple[str, ...], list[list[Any]]]


def this_year() -> int:
    return local(utcnow()).year


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def year_table(rep: dict[str, Any]) -> Table:
    """One row per scenario and a 合计 row: calls, answered rate, satisfaction, opt-outs, results."""
    labels = rep["result_labels"]
    headers = ("场景", "场景名称", "呼叫次数", "接通", "接通率(%)", "满意", "不满意", "满意率(%)", "拒绝再呼（按键退订）",
               "通话总时长(秒)", *(f"{labels[r]}（{r}）" for r in rep["results"]))
    rows = [[r["scenario"] or "", r["label"], r["calls"], r["answered"], _pct(r["answered_rate"]), r["satisfied"],
             r["dissatisfied"], _pct(r["satisfaction_rate"]), r["opt_outs"], r["duration_s"],
             *(r["results"].get(x, 0) for x in rep["results"])] for r in [*rep["scenarios"], rep["total"]]]
    return f"{rep['year']}年按场景", headers, rows


def months_table(rep: dict[str, Any]) -> Table:
    headers = ("月份", "合计", *(rep["labels"][s] for s in rep["scenarios"]))
    rows = [[f"{rep['year']}-{m['month']:02d}", m["total"], *(m["by_scenario"][s] for s in rep["scenarios"])]
            for m in rep["months"]]
    return f"{rep['year']}年按月", headers, rows


def days_table(rep: dict[str, Any]) -> Table:
    from datetime import date

    headers = ("日期", "合计", *(rep["labels"][s] for s in rep["scenarios"]))
    rows = [[date.fromisoformat(d["day"]), d["total"], *(d["by_scenario"][s] for s in rep["scenarios"])]
            for d in rep["days"]]
    return f"{rep['year']}年{rep['month']}月按日", headers, rows


def report(session: Session, kind: str, year: int, month: int | None = None) -> tuple[dict[str, Any], Table, str]:
    """(the JSON report, its sheet, the file stem) for kind year | months | days."""
    if kind == "year":
        rep = stats.year(session, year=year)
        return rep, year_table(rep), f"{year}"
    if kind == "months":
        rep = stats.months(session, year=year)
        return rep, months_table(rep), f"{year}-months"
    if kind == "days":
        if month is None:
            raise Invalid("请指定月份（month）")
        rep = stats.days(session, year=year, month=month)
        return rep, days_table(rep), f"{year}-{month:02d}-days"
    raise Invalid("统计类型应为 year、months 或 days")


def respond(session: Session, fmt: str, kind: str, year: int, month: int | None = None):
    """The report as JSON, or as a CSV/XLSX attachment (audited)."""
    if fmt not in FORMATS:
        raise Invalid("导出格式 format 应为 json、csv 或 xlsx")
    rep, (title, headers, rows), stem = report(session, kind, year, month)
    if fmt == "json":
        return rep
    body = to_csv(headers, rows) if fmt == "csv" else workbook([(title, headers, rows)])
    audit.record(session, "export", "callout_stats", kind,
                 after={"format": fmt, "kind": kind, "year": year, "month": month or ""})
    return attachment(body, fmt, f"callout-stats-{stem}.{fmt}", f"外呼统计-{stem}.{fmt}")


Fmt = Annotated[str, Query(alias="format")]


@router.get("/year")
def year_stats(session: DbSession, p: Reader, year: int | None = None, fmt: Fmt = "json"):
    """Results by scenario for a year (Beijing days): calls, answered rate, satisfaction rate
    (回访), opt-outs, duration and per-result counts; default: this year."""
    return respond(session, fmt, "year", year or this_year())


@router.get("/months")
def months_stats(session: DbSession, p: Reader, year: int | None = None, fmt: Fmt = "json"):
    """Call counts per scenario per month of a year."""
    return respond(session, fmt, "months", year or this_year())


@router.get("/days")
def days_stats(session: DbSession, p: Reader, year: int | None = None, month: int | None = None,
               fmt: Fmt = "json"):
    """Call counts per scenario per day of a month; default: the current month."""
    now = local(utcnow())
    return respond(session, fmt, "days", year or now.year, month or now.month)
