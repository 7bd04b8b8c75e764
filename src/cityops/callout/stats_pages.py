"""Console page 外呼统计 (CALL-5): a year's results by scenario (table and charts: answered and
satisfaction rate by scenario, stacked monthly counts per scenario, daily counts of a chosen
month) and the export links. Reads only the statistics rollups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityops.auth.deps import DbSession
from cityops.callout import stats
from cityops.callout.stats_api import respond, this_year
from cityops.core.errors import Invalid
from cityops.core.timeutil import local, utcnow
from cityops.web.shell import ConsoleUser, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]


def _int(value: str, default: int, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        return default
    return n if lo <= n <= hi else default


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


@router.get("/console/callout/stats")
def stats_page(request: Request, session: DbSession, user: Reader_, year: str = "", month: str = ""):
    """The year selector, the by-scenario table, three charts and the exports."""
    now = local(utcnow())
    y = _int(year, now.year, 2000, 2100)
    m = _int(month, now.month if y == now.year else 12, 1, 12)
    years = sorted(set(stats.years_with_data(session)) | {now.year, y}, reverse=True)
    rep = stats.year(session, year=y)
    mon = stats.months(session, year=y)
    day = stats.days(session, year=y, month=m)
    charts = {
        "scenarios": [r["label"] for r in rep["scenarios"]],
        "answered_rate": [_pct(r["answered_rate"]) for r in rep["scenarios"]],
        "satisfaction_rate": [_pct(r["satisfaction_rate"]) for r in rep["scenarios"]],
        "months": [f"{x['month']}月" for x in mon["months"]],
        "month_series": [{"name": mon["labels"][s], "data": [x["by_scenario"][s] for x in mon["months"]]}
                         for s in mon["scenarios"]],
        "days": [x["day"][5:] for x in day["days"]],
        "day_series": [{"name": day["labels"][s], "data": [x["by_scenario"][s] for x in day["days"]]}
                       for s in day["scenarios"]],
    }
    return render(request, "callout/stats.html", user, "callout-stats", rep=rep, mon=mon, day=day, year=y,
                  month=m, years=years, charts=charts)


@router.get("/console/callout/stats/export")
def stats_export(session: DbSession, user: Reader_, kind: str = "year", year: str = "", month: str = "",
                 fmt: Annotated[str, Query(alias="format")] = "xlsx"):
    """The page's download links: the same sheets as /api/v1/callout/stats/*."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("导出格式 format 应为 csv 或 xlsx")
    y = _int(year, this_year(), 2000, 2100)
    return respond(session, fmt, kind, y, _int(month, 1, 1, 12) if kind == "days" else None)
