"""Coverage check of the roster (SVC-1): at every moment of a period, are the required people
on duty? Base rule: ≥ 1 duty officer (值班长/值班员) and ≥ 1 technical support on call in the
centre's own teams (teams without a responsible unit); special periods raise counts and add
posts (移动单兵, 城区之眼). One sweep over shift edges, so a whole year takes milliseconds."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI, local, utcnow
from cityops.duty.models import Contact, Shift, Team
from cityops.duty.roster import SERVICE_END, SERVICE_START, list_periods

BASE = ({"label": "值班员", "role": "duty", "post": "", "count": 1},
        {"label": "技术支撑", "role": "support", "post": "", "count": 1})
GAP_KEY = "roster-gap:"
LOOKAHEAD = timedelta(days=14)


def service_period() -> tuple[datetime, datetime]:
    return (datetime.combine(SERVICE_START, time(0), tzinfo=SHANGHAI),
            datetime.combine(SERVICE_END + timedelta(days=1), time(0), tzinfo=SHANGHAI))


def _keys(role: str, post: str) -> list[str]:
    keys = ["role:support" if role == "support" else "role:duty"]
    if post:
        keys.append(f"post:{post}")
    return keys


def _req_key(req: dict[str, Any]) -> str:
    return f"post:{req['post']}" if req["post"] else f"role:{req['role']}"


def _met(req: dict[str, Any], counts: dict[str, int]) -> int:
    if req["post"] and req["role"]:  # a post held by someone of that role: counted by post only
        return counts.get(f"post:{req['post']}", 0)
    return counts.get(_req_key(req), 0)


def coverage(session: Session, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Gaps in [start, end) (default: the service period), merged into ranges, each with what
    is missing: {"start", "end", "hours", "gap_hours", "gaps": [{"start", "end", "missing": [..]}]}."""
    if start is None or end is None:
        start, end = service_period()
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("时间须带时区（UTC 偏移）")
    if end <= start:
        raise Invalid("结束时间须晚于开始时间")
    if end - start > timedelta(days=400):
        raise Invalid("一次最多检查 400 天")
    rows = session.execute(
        select(Shift.starts_at, Shift.ends_at, Shift.role, Shift.post)
        .join(Contact, Contact.id == Shift.contact_id).join(Team, Team.code == Shift.team_code)
        .where(Shift.starts_at < end, Shift.ends_at > start, Contact.active.is_(True), Team.active.is_(True),
               Team.unit_id.is_(None)))
    events: list[tuple[datetime, int, Any]] = []  # (time, order, payload); removals before additions
    for a, b, role, post in rows:
        for key in _keys(role, post):
            events.append((max(a, start), 1, (key, +1)))
            events.append((min(b, end), 0, (key, -1)))
    for p in list_periods(session, start=local(start).date() - timedelta(days=1), end=local(end).date()):
        a = max(start, datetime.combine(p.starts_on, time(0), tzinfo=SHANGHAI))
        b = min(end, datetime.combine(p.ends_on + timedelta(days=1), time(0), tzinfo=SHANGHAI))
        if a < b:
            events.append((a, 1, ("req+", p)))
            events.append((b, 0, ("req-", p)))
    events.append((end, 2, None))
    events.sort(key=lambda e: (e[0], e[1]))
    counts: dict[str, int] = {}
    periods: list[Any] = []
    gaps: list[dict[str, Any]] = []
    cursor = start
    i = 0
    while i < len(events):
        t = events[i][0]
        if t > cursor:
            missing = _missing(counts, periods)
            if missing:
                if gaps and gaps[-1]["end"] == cursor:
                    gaps[-1]["end"] = t
                    for m in missing:
                        if m["label"] not in {x["label"] for x in gaps[-1]["missing"]}:
                            gaps[-1]["missing"].append(m)
                else:
                    gaps.append({"start": cursor, "end": t, "missing": missing})
            cursor = t
        while i < len(events) and events[i][0] == t:
            payload = events[i][2]
            if payload is not None:
                kind, val = payload
                if kind == "req+":
                    periods.append(val)
                elif kind == "req-":
                    periods.remove(val)
                else:
                    counts[kind] = counts.get(kind, 0) + val
            i += 1
    gap_s = sum((g["end"] - g["start"]).total_seconds() for g in gaps)
    return {"start": start, "end": end, "hours": round((end - start).total_seconds() / 3600),
            "gap_hours": round(gap_s / 3600, 2), "gaps": gaps}


def _missing(counts: dict[str, int], periods: list[Any]) -> list[dict[str, Any]]:
    need: dict[str, dict[str, Any]] = {}
    for req in list(BASE) + [r for p in periods for r in p.requirements]:
        key = _req_key(req)
        if key not in need or req["count"] > need[key]["count"]:
            need[key] = req
    out = []
    for req in need.values():
        have = _met(req, counts)
        if have < req["count"]:
            out.append({"label": req["label"], "need": req["count"], "have": have})
    return out


def check_gaps(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Daily job body: a finding per gap in the next 14 days (`roster-gap:<start ISO>`, major,
    no ticket); open gap findings that are no longer gaps are cleared."""
    from cityops.inspections.finding_models import Finding
    from cityops.inspections.findings import clear_finding, raise_finding

    now = now or utcnow()
    # From a day back, so a gap already running keeps the key of its real start.
    result = coverage(session, now - timedelta(days=1), now + LOOKAHEAD)
    keys = set()
    for g in result["gaps"]:
        if g["end"] <= now:
            continue
        key = GAP_KEY + local(g["start"]).isoformat(timespec="minutes")
        keys.add(key)
        what = "、".join(f"{m['label']}（需 {m['need']} 人，在岗 {m['have']} 人）" for m in g["missing"])
        span = f"{local(g['start']):%m-%d %H:%M}–{local(g['end']):%m-%d %H:%M}"
        raise_finding(session, key=key, source="plan", severity="major", ticket_policy="never", now=now,
                      title=f"排班缺口 {span}", detail=f"{span} 缺少：{what}。请在「排班轮换」补排或安排替班。")
    cleared = 0
    for key in session.scalars(select(Finding.key).where(Finding.state == "open", Finding.key.like(GAP_KEY + "%"))):
        if key not in keys:
            clear_finding(session, key=key, note="排班已补齐，自动关闭", now=now)
            cleared += 1
    return {"gaps": len(keys), "cleared": cleared}


def gap_days(result: dict[str, Any]) -> set[date]:
    """Beijing days touched by a gap (for the month grid)."""
    days = set()
    for g in result["gaps"]:
        d, last = local(g["start"]).date(), local(g["end"] - timedelta(seconds=1)).date()
        while d <= last:
            days.add(d)
            d += timedelta(days=1)
    return days
