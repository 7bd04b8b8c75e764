"""Call statistics (CALL-5): daily rollups and the year / month / day queries.

`record_call` adds one stored call record to its (Beijing day, scenario, result) and (month,
scenario, result) rollup rows with a dialect-specific INSERT … ON CONFLICT DO UPDATE, in the
caller's transaction, so two processes adding to the same row at once both count (the database
serialises the upsert). `rebuild` recomputes the daily rollups from the records with one
INSERT … SELECT and the monthly ones from the daily. The queries read only the rollups: year and
months the monthly rows (≤ 12 × scenarios × results), days one month's daily rows."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from cityops.callout.campaign_models import CallRecord
from cityops.callout.scenarios import LABELS
from cityops.callout.stats_models import CallStatDaily, CallStatMonthly
from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI, local, utcnow

SATISFIED, DISSATISFIED = "满意", "不满意"
OPT_OUT = "opt_out"
ANSWERED = "answered"
# Chinese labels of the results known today; the set stays open (unknown results show as is).
RESULT_LABELS = {
    "answered": "接通", "no_answer": "无人接听", "busy": "忙线", "unreachable": "无法接通",
    "power_off": "关机", "suspended": "停机", "invalid_number": "空号", "rejected": "拒接", "failed": "呼叫失败",
}
COUNTERS = ("calls", "satisfied", "dissatisfied", "opt_outs", "duration_s")


def _insert(session: Session, table):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def day_of(at: datetime) -> date:
    """The Beijing date a call belongs to."""
    return local(at).date()


def record_call(session: Session, record: CallRecord) -> None:
    """Adds one stored call record to the rollups, in the caller's transaction (CALL-5)."""
    day = day_of(record.started_at or utcnow())
    row = {"scenario": record.scenario, "result": record.result, "calls": 1,
           "satisfied": int(record.satisfaction == SATISFIED), "dissatisfied": int(record.satisfaction == DISSATISFIED),
           "opt_outs": int(record.outcome == OPT_OUT), "duration_s": float(record.duration_s or 0.0)}
    for table, key, value in ((CallStatDaily.__table__, "day", day),
                              (CallStatMonthly.__table__, "month", day.replace(day=1))):
        stmt = _insert(session, table).values({key: value, **row})
        stmt = stmt.on_conflict_do_update(index_elements=[table.c[key], table.c.scenario, table.c.result],
                                          set_={c: table.c[c] + stmt.excluded[c] for c in COUNTERS})
        session.execute(stmt)


def _day_sql(dialect: str) -> str:
    # Beijing has had no daylight saving since 1991: the date is that of UTC + 8 h.
    if dialect == "postgresql":
        return "CAST((started_at AT TIME ZONE 'Asia/Shanghai') AS DATE)"
    return "date(started_at, '+8 hours')"


def _month_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(date_trunc('month', day) AS DATE)"
    return "date(day, 'start of month')"


def midnight(day: date) -> datetime:
    """Beijing midnight of `day` as a UTC instant."""
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


def rebuild(session: Session, *, since: date | None = None) -> dict[str, Any]:
    """Recompute the daily rollups of the Beijing days from `since` on from the call records,
    then the monthly rollups of the months from `since`'s month on from the daily ones.

    since=None: from the oldest stored record's day. Rollups of earlier days are kept — their
    records may be gone by retention, and statistics must survive them (CALL-2)."""
    if since is None:
        oldest = session.scalar(select(func.min(CallRecord.started_at)))
        if oldest is None:
            return {"since": None, "rows": 0, "calls": 0}
        since = day_of(oldest)
    session.execute(delete(CallStatDaily).where(CallStatDaily.day >= since))
    session.execute(delete(CallStatMonthly).where(CallStatMonthly.month >= since.replace(day=1)))
    dialect = session.get_bind().dialect.name
    day = _day_sql(dialect)
    session.execute(text(f"""
        INSERT INTO callout_stats_daily (day, scenario, result, calls, satisfied, dissatisfied, opt_outs, duration_s)
        SELECT {day}, scenario, result, COUNT(*),
               SUM(CASE WHEN satisfaction = :sat THEN 1 ELSE 0 END),
               SUM(CASE WHEN satisfaction = :dis THEN 1 ELSE 0 END),
               SUM(CASE WHEN outcome = :opt THEN 1 ELSE 0 END),
               COALESCE(SUM(duration_s), 0)
        FROM callout_records WHERE started_at >= :since
        GROUP BY {day}, scenario, result"""),
        {"sat": SATISFIED, "dis": DISSATISFIED, "opt": OPT_OUT, "since": _bind_time(session, midnight(since))})
    month = _month_sql(dialect)
    session.execute(text(f"""
        INSERT INTO callout_stats_monthly (month, scenario, result, calls, satisfied, dissatisfied, opt_outs,
                                           duration_s)
        SELECT {month}, scenario, result, SUM(calls), SUM(satisfied), SUM(dissatisfied), SUM(opt_outs),
               SUM(duration_s)
        FROM callout_stats_daily WHERE day >= :first
        GROUP BY {month}, scenario, result"""), {"first": _bind_day(session, since.replace(day=1))})
    rows, calls = session.execute(select(func.count(), func.coalesce(func.sum(CallStatDaily.calls), 0))
                                  .where(CallStatDaily.day >= since)).one()
    return {"since": since.isoformat(), "rows": rows, "calls": int(calls)}


def _bind_day(session: Session, day: date):
    return day if session.get_bind().dialect.name == "postgresql" else day.isoformat()


def _bind_time(session: Session, at: datetime):
    """A UTC instant as the textual SQL above compares it with the stored column."""
    if session.get_bind().dialect.name == "postgresql":
        return at
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- queries --------------------------------------------------------------------------------
def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise Invalid("年份应在 2000–2100 之间")


def _order(codes) -> list[str]:
    """The seven scenarios in their usual order, then any others alphabetically."""
    known = [c for c in LABELS if c in codes]
    return known + sorted(c for c in codes if c not in LABELS)


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def year(session: Session, *, year: int) -> dict[str, Any]:
    """Results by scenario for a calendar year (Beijing days): calls, answered rate, satisfaction
    rate (回访: 满意 / (满意 + 不满意)), opt-outs, total duration and per-result counts."""
    _check_year(year)
    c = CallStatMonthly
    q = (select(c.scenario, c.result, func.sum(c.calls), func.sum(c.satisfied), func.sum(c.dissatisfied),
                func.sum(c.opt_outs), func.sum(c.duration_s))
         .where(c.month >= date(year, 1, 1), c.month <= date(year, 12, 1)).group_by(c.scenario, c.result))
    acc: dict[str, dict[str, Any]] = {}
    results: set[str] = set()
    for scenario, result, calls, sat, dis, opt, dur in session.execute(q):
        a = acc.setdefault(scenario, {"calls": 0, "satisfied": 0, "dissatisfied": 0, "opt_outs": 0,
                                      "duration_s": 0.0, "results": {}})
        a["calls"] += int(calls)
        a["satisfied"] += int(sat)
        a["dissatisfied"] += int(dis)
        a["opt_outs"] += int(opt)
        a["duration_s"] += float(dur or 0)
        a["results"][result] = a["results"].get(result, 0) + int(calls)
        results.add(result)
    order = [r for r in RESULT_LABELS if r in results] + sorted(r for r in results if r not in RESULT_LABELS)

    def finish(code: str | None, a: dict[str, Any]) -> dict[str, Any]:
        answered = a["results"].get(ANSWERED, 0)
        judged = a["satisfied"] + a["dissatisfied"]
        return {"scenario": code, "label": LABELS.get(code, code) if code else "合计", "calls": a["calls"],
                "answered": answered, "answered_rate": _rate(answered, a["calls"]),
                "satisfied": a["satisfied"], "dissatisfied": a["dissatisfied"],
                "satisfaction_rate": _rate(a["satisfied"], judged), "opt_outs": a["opt_outs"],
                "duration_s": round(a["duration_s"], 1), "results": {r: a["results"].get(r, 0) for r in order}}

    rows = [finish(code, acc[code]) for code in _order(acc)]
    total = {"calls": 0, "satisfied": 0, "dissatisfied": 0, "opt_outs": 0, "duration_s": 0.0, "results": {}}
    for a in acc.values():
        for k in ("calls", "satisfied", "dissatisfied", "opt_outs", "duration_s"):
            total[k] += a[k]
        for r, n in a["results"].items():
            total["results"][r] = total["results"].get(r, 0) + n
    return {"year": year, "results": order, "result_labels": {r: RESULT_LABELS.get(r, r) for r in order},
            "scenarios": rows, "total": finish(None, total)}


def _daily(session: Session, first: date, last: date) -> list[tuple[date, str, int]]:
    c = CallStatDaily
    q = (select(c.day, c.scenario, func.sum(c.calls)).where(c.day >= first, c.day <= last)
         .group_by(c.day, c.scenario))
    return [(d, s, int(n)) for d, s, n in session.execute(q)]


def months(session: Session, *, year: int) -> dict[str, Any]:
    """Call counts per scenario per month of a year (Beijing days)."""
    _check_year(year)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    c = CallStatMonthly
    q = (select(c.month, c.scenario, func.sum(c.calls)).where(c.month >= date(year, 1, 1), c.month <= date(year, 12, 1))
         .group_by(c.month, c.scenario))
    for d, s, n in session.execute(q):
        counts[d.month][s] += int(n)
        seen.add(s)
    order = _order(seen)
    rows = [{"month": m, "total": sum(counts[m].values()), "by_scenario": {s: counts[m].get(s, 0) for s in order}}
            for m in range(1, 13)]
    return {"year": year, "scenarios": order, "labels": {s: LABELS.get(s, s) for s in order}, "months": rows,
            "total": sum(r["total"] for r in rows)}


def days(session: Session, *, year: int, month: int) -> dict[str, Any]:
    """Call counts per scenario per day of a month (Beijing days)."""
    _check_year(year)
    if not 1 <= month <= 12:
        raise Invalid("月份应在 1–12 之间")
    n_days = calendar.monthrange(year, month)[1]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    for d, s, n in _daily(session, date(year, month, 1), date(year, month, n_days)):
        counts[d.day][s] += n
        seen.add(s)
    order = _order(seen)
    rows = [{"day": date(year, month, d).isoformat(), "total": sum(counts[d].values()),
             "by_scenario": {s: counts[d].get(s, 0) for s in order}} for d in range(1, n_days + 1)]
    return {"year": year, "month": month, "scenarios": order, "labels": {s: LABELS.get(s, s) for s in order},
            "days": rows, "total": sum(r["total"] for r in rows)}


def years_with_data(session: Session) -> list[int]:
    """The years that have rollups, newest first (the console's year selector)."""
    first, last = session.execute(select(func.min(CallStatMonthly.month), func.max(CallStatMonthly.month))).one()
    if first is None:
        return []
    return list(range(last.year, first.year - 1, -1))
