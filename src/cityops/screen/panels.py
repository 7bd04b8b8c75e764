"""The big screen's panels (SYS-SCREEN): one function per panel, each returning JSON-ready data.

Every panel reads through its domain's service (or, where the domain has no query for it,
a read-only GROUP BY on the domain's table): no per-row loops over devices, events or calls,
so a cold compute stays well under a second with 100,000 devices, 1,000,000 events and
10,000,000 call records. `street` None = the whole district, else everything that has a
street is narrowed to that street (the duty roster and the call-out figures are district-wide
and say so with `"scope": "district"`). Days are Beijing days.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.orm import Session

from cityops.core.schemas import iso
from cityops.core.timeutil import day_bounds, local
from cityops.monitoring.models import SEVERITIES, live_alarm

PANELS = ("map", "devices", "alarms", "events", "dispatch", "callout", "systems", "duty")
MAP_LIMIT = 300
LATEST = 12
CLUSTER_DEG = 0.003  # ≈ 330 m of latitude, ≈ 285 m of longitude at Shanghai's 31° N
HISTORY_DAYS = 30
ALARM_SEVERITIES = tuple(reversed(SEVERITIES))  # most severe first, as the wall lists them


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def today_bounds(now: datetime) -> tuple[datetime, datetime, date]:
    """[today 00:00, tomorrow 00:00) of the Beijing day holding `now`, as aware datetimes."""
    day = local(now).date()
    return *day_bounds(day, day), day


def street_names(session: Session) -> dict[str, str]:
    from cityops.geo.service import list_streets

    return {s.code: s.name for s in list_streets(session)}


def version_of(data: dict[str, Any]) -> str:
    """A short hash of the panel's data: changes iff the data changes."""
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


# -- map ----------------------------------------------------------------------------------------
def map_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    from cityops.devices.models import Device
    from cityops.events import stats as event_stats
    from cityops.events.lifecycle import OPEN_STATES
    from cityops.events.models import CityEvent
    from cityops.monitoring.models import Alarm

    names = street_names(session)
    # One scan of the devices: counts per (street, ~300 m cell); streets and clusters are summed
    # from those rows (a few hundred), not from the devices.
    counted = Device.status.in_(("active", "maintenance"))
    online = func.sum(case((Device.online.is_(True), 1), else_=0))
    gx, gy = func.round(Device.lon / CLUSTER_DEG), func.round(Device.lat / CLUSTER_DEG)
    dq = (select(Device.street_code, gx, gy, func.count(Device.id), online, func.sum(Device.lon), func.sum(Device.lat))
          .where(counted).group_by(Device.street_code, gx, gy))
    aq = (select(Device.street_code, func.count(Alarm.id)).join(Device, Device.id == Alarm.device_id)
          .where(live_alarm()))
    eq = select(CityEvent.street_code, func.count(CityEvent.id)).where(
        CityEvent.state.in_(OPEN_STATES), CityEvent.merged_into_id.is_(None))
    if street:
        dq, aq, eq = dq.where(Device.street_code == street), aq.where(Device.street_code == street), \
            eq.where(CityEvent.street_code == street)
    devices: dict[str | None, list[int]] = {}
    cells: dict[tuple[float, float], list[float]] = {}
    for code, x, y, n, on, sum_lon, sum_lat in session.execute(dq):
        d = devices.setdefault(code, [0, 0])
        d[0] += n
        d[1] += int(on or 0)
        if x is not None and y is not None and sum_lon is not None and sum_lat is not None:
            c = cells.setdefault((float(x), float(y)), [0, 0, 0.0, 0.0])
            c[0] += n
            c[1] += int(on or 0)
            c[2] += float(sum_lon)
            c[3] += float(sum_lat)
    alarms = dict(session.execute(aq.group_by(Device.street_code)).all())
    events = dict(session.execute(eq.group_by(CityEvent.street_code)).all())
    codes = [street] if street else list(names)
    streets = [{"code": c, "name": names.get(c, c), "devices": devices.get(c, [0, 0])[0],
                "online": devices.get(c, [0, 0])[1], "alarms": int(alarms.get(c, 0)), "events": int(events.get(c, 0))}
               for c in codes]
    # Each cell placed at the mean position of its devices.
    clusters = [{"lon": round(sl / n, 6), "lat": round(sa / n, 6), "count": n, "online": on}
                for _, (n, on, sl, sa) in sorted(cells.items())]

    q = (select(Alarm.id, Alarm.severity, Alarm.alarm_type, Alarm.message, Alarm.first_at, Device.name,
                Device.lon, Device.lat)
         .join(Device, Device.id == Alarm.device_id)
         .where(live_alarm(), Device.lon.is_not(None), Device.lat.is_not(None)))
    if street:
        q = q.where(Device.street_code == street)
    alarm_points = [{"id": r.id, "lon": r.lon, "lat": r.lat, "severity": r.severity,
                     "title": f"{r.name}：{_alarm_type_label(r.alarm_type)}", "at": iso(r.first_at)}
                    for r in session.execute(q.order_by(Alarm.first_at.desc(), Alarm.id.desc()).limit(MAP_LIMIT))]

    fc = event_stats.map_features(session, state="open", scope=street, limit=MAP_LIMIT)
    event_points = [{"id": p["id"], "number": p["number"], "lon": f["geometry"]["coordinates"][0],
                     "lat": f["geometry"]["coordinates"][1], "severity": p["severity"], "title": p["title"],
                     "state": p["state"], "at": p["reported_at"]}
                    for f in fc["features"] for p in (f["properties"],)]
    return {"streets": streets, "device_clusters": clusters, "alarms": alarm_points, "events": event_points}


# -- devices ------------------------------------------------------------------------------------
def devices_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    from cityops.devices.models import DEVICE_TYPES
    from cityops.monitoring import kpi, kpi_history

    names = street_names(session)
    total = kpi.overall(session, scope=street, at=now)
    by_street = [{"code": r["key"], "name": names.get(r["key"], r["key"] or "（未定位街镇）"), "total": r["devices"],
                  "online": r["online"], "rate": r["rate"]}
                 for r in kpi.online_rate(session, by="street_code", scope=street, at=now)]
    by_type = sorted(({"type": r["key"], "label": DEVICE_TYPES.get(r["key"], r["key"] or "（未填写）"),
                       "total": r["devices"], "online": r["online"], "rate": r["rate"]}
                      for r in kpi.online_rate(session, by="device_type", scope=street, at=now)),
                     key=lambda r: (-r["total"], r["type"]))
    _, _, today = today_bounds(now)
    first = today - timedelta(days=HISTORY_DAYS - 1)
    rows = {r["day"]: r["rate"] for r in kpi_history.daily_online_rate(
        session, dimension="overall", start=first, end=today, scope=street)}
    history = [{"day": (first + timedelta(days=i)).isoformat(), "rate": rows.get(first + timedelta(days=i))}
               for i in range(HISTORY_DAYS)]
    return {"total": total["devices"], "online": total["online"], "offline": total["devices"] - total["online"],
            "never_seen": total["never_seen"], "rate": total["rate"], "by_street": by_street, "by_type": by_type,
            "history": history}


# -- alarms -------------------------------------------------------------------------------------
def _alarm_type_label(alarm_type: str) -> str:
    from cityops.monitoring.pages import TYPE_LABELS

    return TYPE_LABELS.get(alarm_type, alarm_type)


def alarms_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    from cityops.devices.models import Device
    from cityops.monitoring.models import Alarm
    from cityops.monitoring.pages import SEVERITY_LABELS, STATE_LABELS

    start, end, _ = today_bounds(now)
    scoped = [Device.street_code == street] if street else []
    by_sev = dict(session.execute(
        select(Alarm.severity, func.count(Alarm.id)).join(Device, Device.id == Alarm.device_id)
        .where(live_alarm(), *scoped).group_by(Alarm.severity)).all())
    today = session.scalar(select(func.count(Alarm.id)).join(Device, Device.id == Alarm.device_id).where(
        Alarm.suppressed.is_(False), Alarm.first_at >= start, Alarm.first_at < end, *scoped)) or 0
    names = street_names(session)
    q = (select(Alarm.id, Alarm.severity, Alarm.alarm_type, Alarm.message, Alarm.state, Alarm.last_at,
                Device.name, Device.street_code)
         .join(Device, Device.id == Alarm.device_id).where(live_alarm(), *scoped)
         .order_by(Alarm.last_at.desc(), Alarm.id.desc()).limit(LATEST))
    latest = [{"id": r.id, "severity": r.severity, "severity_label": SEVERITY_LABELS.get(r.severity, r.severity),
               "type": _alarm_type_label(r.alarm_type), "message": r.message, "device": r.name,
               "street": names.get(r.street_code, "") if r.street_code else "", "at": iso(r.last_at),
               "state": STATE_LABELS.get(r.state, r.state)}
              for r in session.execute(q)]
    return {"active": int(sum(by_sev.values())), "today": int(today),
            "by_severity": {s: int(by_sev.get(s, 0)) for s in ALARM_SEVERITIES}, "latest": latest}


# -- events -------------------------------------------------------------------------------------
def events_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    from cityops.events import stats as event_stats
    from cityops.events.lifecycle import STATE_LABELS
    from cityops.events.models import CityEvent, EventTransition
    from cityops.events.pages import SOURCE_LABELS

    start, end, _ = today_bounds(now)
    f = event_stats.Filters(since=start, until=end, scope=street)
    counts = event_stats.counts(session, f)
    on_time = event_stats.on_time(session, f, now=now)
    due = sum(s["total"] for s in on_time["by_step"])
    ok = sum(s["on_time"] for s in on_time["by_step"])
    scoped = [CityEvent.street_code == street] if street else []
    # Closed today and still closed: found through the indexed transition times (closed_at has no index).
    closed_today = session.scalar(
        select(func.count(func.distinct(EventTransition.event_id)))
        .join(CityEvent, CityEvent.id == EventTransition.event_id)
        .where(EventTransition.action == "close", EventTransition.at >= start, EventTransition.at < end,
               CityEvent.state == "closed", CityEvent.merged_into_id.is_(None), *scoped)) or 0
    names = street_names(session)
    q = (select(CityEvent.id, CityEvent.number, CityEvent.title, CityEvent.state, CityEvent.severity,
                CityEvent.street_code, CityEvent.reported_at)
         .where(CityEvent.merged_into_id.is_(None), *scoped)
         .order_by(CityEvent.reported_at.desc(), CityEvent.id.desc()).limit(LATEST))
    latest = [{"id": r.id, "number": r.number, "title": r.title, "state": r.state,
               "state_label": STATE_LABELS.get(r.state, r.state), "severity": r.severity,
               "street": names.get(r.street_code, "") if r.street_code else "", "at": iso(r.reported_at)}
              for r in session.execute(q)]
    return {"today": counts["events"], "closed_today": int(closed_today),
            "by_category": [{"name": c["name"], "count": c["events"]} for c in counts["by_category_top"]],
            "by_source": [{"source": s["source"], "label": SOURCE_LABELS.get(s["source"], s["source"]),
                           "count": s["events"]} for s in counts["by_source"]],
            "by_street": [{"code": s["code"], "name": s["name"], "count": s["events"]} for s in counts["by_street"]],
            "on_time": {"rate": _rate(ok, due), "due": due, "on_time": ok}, "latest": latest}


# -- dispatch -----------------------------------------------------------------------------------
OPEN_ORDERS = ("pending", "submitted", "accepted", "in_progress")


def _overdue_orders(session: Session, scoped: list, now: datetime) -> int:
    """Open work orders whose event is past its 处置 (dispose) deadline.

    The deadline depends on the event's category and severity (the SLA policy) and on working
    time (the policy's calendar). Per distinct (category, severity) of the open orders the
    policy gives (limit, calendar); per distinct (limit, calendar) — a handful — the latest
    dispatch instant that is already late is found once, then one count query."""
    from cityops.dispatch.models import WorkOrder
    from cityops.events.models import CityEvent, EventCategory

    pairs = session.execute(
        select(CityEvent.category_id, EventCategory.code, CityEvent.severity).distinct()
        .join(WorkOrder, WorkOrder.event_id == CityEvent.id).join(EventCategory, EventCategory.id == CityEvent.category_id)
        .where(WorkOrder.state.in_(OPEN_ORDERS), CityEvent.dispatched_at.is_not(None), *scoped)).all()
    if not pairs:
        return 0
    from cityops.events.stats import Clocks

    policies = Clocks(session)  # the enabled SLA policies read once, sla.policy_for's rule
    groups: dict[tuple[int, str], list[tuple[int, str]]] = {}
    calendars = {}
    for cat_id, code, severity in pairs:
        got = policies.get(code, severity)
        if got is None:
            continue
        policy, cal = got
        key = (policy.limit("dispose"), policy.calendar_mode)
        calendars[key] = cal
        groups.setdefault(key, []).append((cat_id, severity))
    conds = []
    for (limit_min, mode), members in groups.items():
        cutoff = _late_cutoff(calendars[(limit_min, mode)], timedelta(minutes=limit_min), now)
        conds.append(and_(tuple_(CityEvent.category_id, CityEvent.severity).in_(members),
                          CityEvent.dispatched_at < cutoff))
    if not conds:
        return 0
    return session.scalar(select(func.count(WorkOrder.id)).join(CityEvent, CityEvent.id == WorkOrder.event_id)
                          .where(WorkOrder.state.in_(OPEN_ORDERS), or_(*conds), *scoped)) or 0


def _late_cutoff(cal, limit: timedelta, now: datetime) -> datetime:
    """The instant t such that a step started before t is past its deadline at `now`
    (working time from t to now exceeds `limit`), to the minute."""
    # Working time never exceeds wall time, so a step started after now - limit is not late yet.
    # Search back in doubling strides for a start that is late, then bisect: short spans only.
    hi, stride = now - limit, timedelta(hours=1)
    lo = hi - stride
    while cal.working_between(lo, now) <= limit:  # invariant: hi is not late
        if now - lo > timedelta(days=400):
            return lo
        hi, stride = lo, stride * 2
        lo = hi - stride
    while hi - lo > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        if cal.working_between(mid, now) > limit:
            lo = mid
        else:
            hi = mid
    return hi


def dispatch_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    """Work orders (the dispatch link's `dispatch_orders`), through their event for the street.

    The work-order table has no index on its times, so today's figures look only at the orders
    that can have changed today, found through indexed times: an order is created in the same
    transaction as its event's 派遣 transition (`event_transitions.at`), and its state changes
    only by a platform update (`dispatch_updates.at`, the time the order is stamped with)."""
    from cityops.dispatch.models import DispatchOutbox, DispatchUpdate, WorkOrder
    from cityops.events.models import CityEvent, EventTransition

    start, end, _ = today_bounds(now)
    scoped = [CityEvent.street_code == street] if street else []
    today = lambda col: and_(col >= start, col < end)  # noqa: E731
    open_n = session.scalar(select(func.count(WorkOrder.id)).join(CityEvent, CityEvent.id == WorkOrder.event_id)
                            .where(WorkOrder.state.in_(OPEN_ORDERS), *scoped)) or 0
    created = select(WorkOrder.id).where(
        WorkOrder.event_id.in_(select(EventTransition.event_id).where(
            EventTransition.action == "dispatch", today(EventTransition.at))), today(WorkOrder.created_at))
    updated = select(DispatchUpdate.order_id).where(today(DispatchUpdate.at), DispatchUpdate.order_id.is_not(None))
    row = session.execute(
        select(func.sum(case((today(WorkOrder.created_at), 1), else_=0)),
               func.sum(case((and_(WorkOrder.state.in_(("disposed", "closed")),
                                   today(func.coalesce(WorkOrder.disposed_at, WorkOrder.last_update_at))), 1),
                             else_=0)),
               func.sum(case((and_(WorkOrder.state == "returned", today(WorkOrder.last_update_at)), 1), else_=0)))
        .select_from(WorkOrder).join(CityEvent, CityEvent.id == WorkOrder.event_id)
        .where(WorkOrder.id.in_(created.union(updated)), *scoped)).one()
    failed = session.scalar(select(func.count(DispatchOutbox.id)).join(CityEvent, CityEvent.id == DispatchOutbox.event_id)
                            .where(DispatchOutbox.state == "failed", *scoped)) or 0
    return {"open": int(open_n), "overdue": int(_overdue_orders(session, scoped, now)),
            "dispatched_today": int(row[0] or 0), "closed_today": int(row[1] or 0),
            "returned_today": int(row[2] or 0), "failed_outbox": int(failed)}


# -- call-out -----------------------------------------------------------------------------------
def callout_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    """Today's calls from the daily rollup (never the call records). Calls have no street:
    a street screen shows the district's figures."""
    from cityops.callout.scenarios import LABELS
    from cityops.callout.stats import ANSWERED
    from cityops.callout.stats_models import CallStatDaily as c

    _, _, today = today_bounds(now)
    rows = session.execute(
        select(c.scenario, func.sum(c.calls), func.sum(case((c.result == ANSWERED, c.calls), else_=0)))
        .where(c.day == today).group_by(c.scenario)).all()
    per = {s: (int(n or 0), int(a or 0)) for s, n, a in rows}
    order = [s for s in LABELS if s in per] + sorted(s for s in per if s not in LABELS)
    total, answered = sum(n for n, _ in per.values()), sum(a for _, a in per.values())
    return {"today": total, "answered": answered, "rate": _rate(answered, total), "scope": "district",
            "by_scenario": [{"scenario": s, "label": LABELS.get(s, s), "total": per[s][0], "answered": per[s][1],
                             "rate": _rate(per[s][1], per[s][0])} for s in order]}


# -- systems ------------------------------------------------------------------------------------
def systems_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    """Health of each catalogued system: red = an open fault, a critical finding or a failing
    critical probe; amber = another open finding, a failing probe or open tickets; else green.
    Systems are the district's platform: the same on every screen."""
    from cityops.catalog.service import list_systems
    from cityops.inspections.finding_models import Finding
    from cityops.inspections.probe_models import Probe
    from cityops.servicedesk.fault_models import Fault
    from cityops.servicedesk.models import OPEN_STATES as TICKET_OPEN, Ticket

    findings: dict[str, dict[str, int]] = {}
    for code, sev, n in session.execute(select(Finding.system_code, Finding.severity, func.count(Finding.id))
                                        .where(Finding.state == "open", Finding.system_code.is_not(None))
                                        .group_by(Finding.system_code, Finding.severity)):
        findings.setdefault(code, {})[sev] = n
    probes: dict[str, list[tuple[str, str]]] = {}
    for code, name, sev in session.execute(select(Probe.system_code, Probe.name, Probe.severity).where(
            Probe.enabled.is_(True), Probe.state == "failing", Probe.system_code.is_not(None))):
        probes.setdefault(code, []).append((name, sev))
    tickets = dict(session.execute(select(Ticket.system_code, func.count(Ticket.id)).where(
        Ticket.state.in_(TICKET_OPEN), Ticket.system_code.is_not(None)).group_by(Ticket.system_code)).all())
    faults: dict[str, list[str]] = {}
    for number, codes in session.execute(select(Fault.number, Fault.system_codes).where(
            Fault.state.in_(("open", "responding")))):  # a handful at most: open faults are rare
        for code in codes or []:
            faults.setdefault(code, []).append(number)
    out, counts = [], {"green": 0, "amber": 0, "red": 0}
    for s in list_systems(session):
        red, amber = [], []
        if s.code in faults:
            red.append(f"故障处置中：{'、'.join(faults[s.code][:3])}")
        f = findings.get(s.code, {})
        if f.get("critical"):
            red.append(f"{f['critical']} 项紧急巡检发现")
        other = sum(n for sev, n in f.items() if sev != "critical")
        if other:
            amber.append(f"{other} 项巡检发现待处理")
        for name, sev in probes.get(s.code, []):
            (red if sev == "critical" else amber).append(f"探针“{name}”异常")
        if tickets.get(s.code):
            amber.append(f"{tickets[s.code]} 张工单未关闭")
        status = "red" if red else "amber" if amber else "green"
        counts[status] += 1
        out.append({"id": s.id, "code": s.code, "name": s.name, "status": status,
                    "reason": "；".join(red + amber) or "运行正常"})
    return {"counts": counts, "systems": out}


# -- duty ---------------------------------------------------------------------------------------
def duty_panel(session: Session, *, street: str | None, now: datetime) -> dict[str, Any]:
    """Who is on duty now (no phone numbers). The roster is the district's: a street screen
    shows it too, marked `"scope": "district"`."""
    from cityops.duty.service import on_duty_now

    rows = [{"team": r["team"], "team_name": r["team_name"], "role": r["role"], "role_label": r["role_label"],
             "name": r["name"], "until": iso(r["until"])} for r in on_duty_now(session, now=now)]
    return {"on_duty": rows, "nobody": not rows, "scope": "district"}


COMPUTE: dict[str, Callable[..., dict[str, Any]]] = {
    "map": map_panel, "devices": devices_panel, "alarms": alarms_panel, "events": events_panel,
    "dispatch": dispatch_panel, "callout": callout_panel, "systems": systems_panel, "duty": duty_panel,
}


def compute(session: Session, name: str, *, street: str | None, now: datetime) -> dict[str, Any]:
    """The JSON-ready data of one panel (SYS-SCREEN); `street` None = the whole district."""
    return COMPUTE[name](session, street=street, now=now)


def snapshot(session: Session, name: str, *, street: str | None, now: datetime) -> dict[str, Any]:
    data = compute(session, name, street=street, now=now)
    return {"name": name, "version": version_of(data), "computed_at": iso(now), "data": data}
