"""Event statistics (IOT-6, SYS-DISPATCH, issue #5 items 8-9): counts per category, street,
source, day and current state; on-time rate per lifecycle step and per responsible unit;
step durations; and the events map as GeoJSON.

Events count by their report time within [since, until); merged reports are left out (their
parent's ``report_count`` counts them, shown as ``reports``). Counting runs in SQL.

On time: a step (``sla_models.STEPS``) runs from its start stamp to its end stamp on the
event row; it is on time when the end is at or before the deadline ``sla.deadline`` gives
for the event's category and severity. A step still open and already past its deadline is
late; one still open within it is left out. The stamps hold an event's latest pass through
each state (a return or reopen moves them), except the accept step, which ends at the first
立案 — a later 退回 also lands in "accepted" and would otherwise look like a slow acceptance.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI, aware, local, utcnow
from cityops.events import lifecycle, sla
from cityops.events.calendar import WorkCalendar
from cityops.events.models import (
    SEVERITIES,
    SOURCE_KINDS,
    CityEvent,
    EventCategory,
    EventTransition,
)
from cityops.events.sla_models import STEPS, SlaPolicy
from cityops.geo.models import ResponsibleUnit, Street

MAX_DAYS = 366
MAX_FEATURES = 5000
_CODE = re.compile(r"^\d{2}(\d{2}){0,2}$")

# step → (start column, end column, states in which the step is still running)
STEP_SPANS = {
    "accept": ("reported_at", "accepted_at", ("reported",)),
    "dispatch": ("accepted_at", "dispatched_at", ("accepted",)),
    "dispose": ("dispatched_at", "disposed_at", ("dispatched", "in_progress")),
    "verify": ("disposed_at", "verified_at", ("disposed",)),
    "close": ("verified_at", "closed_at", ("verified",)),
}


@dataclass(frozen=True)
class Filters:
    """The period [since, until) and the optional narrowing; ``scope`` is a street user's street."""

    since: datetime
    until: datetime
    street: str | None = None
    category: str | None = None  # a code prefix: 大类 "01", 小类 "0101" or 细类 "010101"
    source: str | None = None
    scope: str | None = None

    def __post_init__(self):
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise Invalid("since/until 需要带 UTC 时区偏移")
        if self.until <= self.since:
            raise Invalid("统计时段的结束时间应晚于开始时间")
        if self.until - self.since > timedelta(days=MAX_DAYS):
            raise Invalid(f"统计时段最长 {MAX_DAYS} 天")
        if self.category and not _CODE.match(self.category):
            raise Invalid("category 应为分类代码，如 01、0101 或 010101")
        if self.source and self.source not in SOURCE_KINDS:
            raise Invalid(f"source 应为以下之一：{'、'.join(SOURCE_KINDS)}")


def day_period(first: date, last: date) -> tuple[datetime, datetime]:
    """Beijing days first..last (inclusive) as [since, until)."""
    if last < first:
        raise Invalid("date_to 早于 date_from")
    return (datetime.combine(first, time(), SHANGHAI), datetime.combine(last + timedelta(days=1), time(), SHANGHAI))


def _conditions(f: Filters) -> list:
    conds = [CityEvent.merged_into_id.is_(None), CityEvent.reported_at >= f.since, CityEvent.reported_at < f.until]
    if f.scope is not None:
        conds.append(CityEvent.street_code == f.scope)
    if f.street:
        conds.append(CityEvent.street_code == f.street)
    if f.category:
        conds.append(CityEvent.category_id.in_(select(EventCategory.id).where(
            EventCategory.code.like(f"{f.category}%"))))
    if f.source:
        conds.append(CityEvent.source_kind == f.source)
    return conds


def _local_day(session: Session, column):
    """The Beijing calendar day of a stored UTC instant, in SQL (China has no DST)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")


def _grouped(session: Session, key, conds: list) -> list[tuple[Any, int, int]]:
    q = (select(key, func.count(), func.coalesce(func.sum(CityEvent.report_count), 0))
         .where(*conds).group_by(key))
    return [(k, int(n), int(r)) for k, n, r in session.execute(q)]


def _by_count(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (-r["events"], str(r.get("code") or r.get("source") or "")))


def category_paths(session: Session) -> dict[int, tuple[str, str, str]]:
    """category id → (code, name, "大类 / 小类 / 细类")."""
    cats = {c.id: c for c in session.scalars(select(EventCategory))}
    out = {}
    for c in cats.values():
        names, node = [c.name], c
        while node.parent_id is not None and node.parent_id in cats:
            node = cats[node.parent_id]
            names.append(node.name)
        out[c.id] = (c.code, c.name, " / ".join(reversed(names)))
    return out


def counts(session: Session, f: Filters) -> dict[str, Any]:
    """Events (and reports, merged ones included) per 大类, 细类, street, source, day, state."""
    conds = _conditions(f)
    paths = category_paths(session)
    by_code = {code: (name, path) for code, name, path in paths.values()}
    leaf = []
    top: dict[str, list[int]] = {}
    for cid, n, r in _grouped(session, CityEvent.category_id, conds):
        code, name, path = paths.get(cid, (str(cid), str(cid), str(cid)))
        leaf.append({"code": code, "name": name, "path": path, "events": n, "reports": r})
        t = top.setdefault(code[:2], [0, 0])
        t[0] += n
        t[1] += r
    streets = {s.code: s.name for s in session.scalars(select(Street))}
    day_rows = {str(d)[:10]: (n, r) for d, n, r in _grouped(session, _local_day(session, CityEvent.reported_at), conds)}
    first, last = local(f.since).date(), local(f.until - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    states = {s: n for s, n, _ in _grouped(session, CityEvent.state, conds)}
    return {
        "events": sum(x["events"] for x in leaf),
        "reports": sum(x["reports"] for x in leaf),
        "by_category_top": _by_count([{"code": c, "name": by_code.get(c, (c, c))[0], "events": n, "reports": r}
                                      for c, (n, r) in top.items()]),
        "by_category_leaf": _by_count(leaf),
        "by_street": _by_count([{"code": k, "name": streets.get(k, k) if k else "（未定位街镇）", "events": n,
                                 "reports": r} for k, n, r in _grouped(session, CityEvent.street_code, conds)]),
        "by_source": _by_count([{"source": k, "events": n, "reports": r}
                                for k, n, r in _grouped(session, CityEvent.source_kind, conds)]),
        "by_day": [{"day": d.isoformat(), "events": day_rows.get(d.isoformat(), (0, 0))[0],
                    "reports": day_rows.get(d.isoformat(), (0, 0))[1]} for d in days],
        "by_state": [{"state": s, "events": states[s]} for s in lifecycle.STATES if s in states]
                    + [{"state": s, "events": n} for s, n in states.items() if s not in lifecycle.STATES],
    }


# -- on-time rates and durations --------------------------------------------------------
class Clocks:
    """Policy and calendar per (category code, severity): what ``sla.deadline`` does per step,
    with the enabled policies read once per call instead of two queries per step."""

    def __init__(self, session: Session):
        self.session = session
        self._enabled: list[SlaPolicy] | None = None
        self._policies: dict[tuple[str, str], SlaPolicy | None] = {}
        self._calendars: dict[str, WorkCalendar] = {}

    def get(self, code: str, severity: str) -> tuple[SlaPolicy, WorkCalendar] | None:
        key = (code, severity)
        if key not in self._policies:
            if self._enabled is None:
                self._enabled = sla.enabled_policies(self.session)
            self._policies[key] = sla.pick_policy(self._enabled, code, severity)
        p = self._policies[key]
        if p is None:
            return None
        if p.calendar_mode not in self._calendars:
            self._calendars[p.calendar_mode] = sla.calendar_for(self.session, p.calendar_mode)
        return p, self._calendars[p.calendar_mode]


@dataclass
class _Tally:
    total: int = 0
    on_time: int = 0
    late: int = 0
    open_late: int = 0
    open_within: int = 0
    wall_min: list[float] = field(default_factory=list)
    work_min: list[float] = field(default_factory=list)

    def rate(self) -> float | None:
        return round(self.on_time / self.total, 4) if self.total else None


def _late_at(cal: WorkCalendar, start: datetime, end: datetime, limit: timedelta) -> tuple[bool, timedelta]:
    """(end is after the deadline, working time start→end). The deadline is only computed
    when the working time equals the limit: otherwise the comparison already decides."""
    worked = cal.working_between(start, end)
    if worked != limit:
        return worked > limit, worked
    return end > cal.add_working(start, limit), worked


def _minutes(td: timedelta) -> float:
    return td.total_seconds() / 60


def _first_accepts(session: Session, conds: list) -> dict[int, datetime]:
    """First 立案 of the events that were returned or reopened since (their accepted_at moved)."""
    ids = select(CityEvent.id).where(*conds)
    redone = select(EventTransition.event_id).where(EventTransition.action.in_(("return", "reopen")),
                                                    EventTransition.event_id.in_(ids))
    q = (select(EventTransition.event_id, func.min(EventTransition.at))
         .where(EventTransition.action == "accept", EventTransition.event_id.in_(redone))
         .group_by(EventTransition.event_id))
    return {eid: aware(at) for eid, at in session.execute(q)}


def on_time(session: Session, f: Filters, *, now: datetime | None = None) -> dict[str, Any]:
    """On-time rate and durations per step, and on-time rate per responsible unit."""
    now = aware(now) or utcnow()
    conds = _conditions(f)
    cols = [CityEvent.id, EventCategory.code, CityEvent.severity, CityEvent.state, CityEvent.unit_id,
            CityEvent.reported_at, CityEvent.accepted_at, CityEvent.dispatched_at, CityEvent.disposed_at,
            CityEvent.verified_at, CityEvent.closed_at]
    q = select(*cols).join(EventCategory, EventCategory.id == CityEvent.category_id).where(*conds)
    first_accept = _first_accepts(session, conds)
    clocks = Clocks(session)
    steps = {s: _Tally() for s in STEPS}
    units: dict[int | None, dict[str, _Tally]] = {}
    for row in session.execute(q):
        clock = clocks.get(row.code, row.severity)
        if clock is None:
            continue
        policy, cal = clock
        stamps = row._mapping
        if row.unit_id not in units:
            units[row.unit_id] = {s: _Tally() for s in STEPS}
        per_unit = units[row.unit_id]
        for step, (start_col, end_col, running) in STEP_SPANS.items():
            start, end = aware(stamps[start_col]), aware(stamps[end_col])
            if step == "accept" and row.id in first_accept:
                end = first_accept[row.id]
            if start is None:
                continue
            limit = timedelta(minutes=policy.limit(step))
            tallies = (steps[step], per_unit[step])
            if row.state in running:
                if now > cal.add_working(start, limit):
                    for t in tallies:
                        t.total += 1
                        t.late += 1
                        t.open_late += 1
                else:
                    for t in tallies:
                        t.open_within += 1
                continue
            if end is None or end < start:
                continue  # never reached (rejected, reopened), or an older pass
            late, worked = _late_at(cal, start, end, limit)
            for t in tallies:
                t.total += 1
                if late:
                    t.late += 1
                else:
                    t.on_time += 1
            steps[step].wall_min.append(_minutes(end - start))
            steps[step].work_min.append(_minutes(worked))
    names = {u.id: u.name for u in session.scalars(select(ResponsibleUnit).where(
        ResponsibleUnit.id.in_([k for k in units if k is not None])))} if units else {}
    return {"by_step": [_step_row(s, t) for s, t in steps.items()],
            "by_unit": sorted((_unit_row(uid, names.get(uid), tallies) for uid, tallies in units.items()),
                              key=lambda r: (-r["total"], r["unit_name"]))}


def _avg(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _step_row(step: str, t: _Tally) -> dict[str, Any]:
    return {"step": step, "total": t.total, "on_time": t.on_time, "late": t.late, "open_late": t.open_late,
            "open_within": t.open_within, "rate": t.rate(), "completed": len(t.wall_min),
            "mean_work_min": _avg(t.work_min), "median_work_min": _median(t.work_min),
            "mean_wall_min": _avg(t.wall_min), "median_wall_min": _median(t.wall_min)}


def _unit_row(unit_id: int | None, name: str | None, tallies: dict[str, _Tally]) -> dict[str, Any]:
    whole = _Tally(total=sum(t.total for t in tallies.values()), on_time=sum(t.on_time for t in tallies.values()),
                   late=sum(t.late for t in tallies.values()))
    return {"unit_id": unit_id, "unit_name": name or ("（未指派）" if unit_id is None else f"#{unit_id}"),
            "total": whole.total, "on_time": whole.on_time, "late": whole.late, "rate": whole.rate(),
            "steps": {s: {"total": t.total, "on_time": t.on_time, "rate": t.rate()} for s, t in tallies.items()}}


def report(session: Session, f: Filters, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the stats page and API show, for one period and filter."""
    return {"since": f.since, "until": f.until, "filters": {"street": f.street, "category": f.category,
                                                            "source": f.source},
            **counts(session, f), **on_time(session, f, now=now)}


# -- the events map ----------------------------------------------------------------------
def map_features(session: Session, *, state: str | None = "open", category: str | None = None,
                 street: str | None = None, since: datetime | None = None, severity: str | None = None,
                 scope: str | None = None, limit: int = MAX_FEATURES) -> dict[str, Any]:
    """Events with a location as a GeoJSON FeatureCollection, newest first, at most ``limit``.
    Coordinates are GCJ-02 as stored (the console's base layers use the same datum)."""
    conds = [CityEvent.lon.is_not(None), CityEvent.lat.is_not(None)]
    if state == "open":
        conds.append(CityEvent.state.in_(lifecycle.OPEN_STATES))
    elif state:
        if state not in lifecycle.STATES:
            raise Invalid(f"未知的状态“{state}”；可用状态：open、{'、'.join(lifecycle.STATES)}")
        conds.append(CityEvent.state == state)
    if state != "merged":
        conds.append(CityEvent.merged_into_id.is_(None))
    if category:
        if not _CODE.match(category):
            raise Invalid("category 应为分类代码，如 01、0101 或 010101")
        conds.append(CityEvent.category_id.in_(select(EventCategory.id).where(EventCategory.code.like(f"{category}%"))))
    if street:
        conds.append(CityEvent.street_code == street)
    if scope is not None:
        conds.append(CityEvent.street_code == scope)
    if severity:
        if severity not in SEVERITIES:
            raise Invalid(f"severity 应为以下之一：{'、'.join(SEVERITIES)}")
        conds.append(CityEvent.severity == severity)
    if since is not None:
        if since.tzinfo is None:
            raise Invalid("since 需要带 UTC 时区偏移")
        conds.append(CityEvent.reported_at >= since)
    total = session.scalar(select(func.count()).select_from(CityEvent).where(*conds))
    cols = [CityEvent.id, CityEvent.number, CityEvent.title, CityEvent.state, CityEvent.severity,
            CityEvent.category_id, CityEvent.street_code, CityEvent.reported_at, CityEvent.lon, CityEvent.lat]
    rows = session.execute(select(*cols).where(*conds)
                           .order_by(CityEvent.reported_at.desc(), CityEvent.id.desc()).limit(limit))
    paths = category_paths(session)
    streets = {s.code: s.name for s in session.scalars(select(Street))}
    features = []
    for r in rows:
        code, _, path = paths.get(r.category_id, ("", "", ""))
        features.append({"type": "Feature", "id": r.id, "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                         "properties": {"id": r.id, "number": r.number, "title": r.title, "state": r.state,
                                        "state_label": lifecycle.STATE_LABELS.get(r.state, r.state),
                                        "severity": r.severity, "category_code": code, "category": path,
                                        "street_code": r.street_code,
                                        "street": streets.get(r.street_code, "") if r.street_code else "",
                                        "reported_at": local(r.reported_at).isoformat()}})
    return {"type": "FeatureCollection", "coordinate_system": "GCJ-02", "total": total,
            "truncated": total > len(features), "features": features}
