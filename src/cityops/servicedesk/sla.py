"""Service-desk SLA (OPS-3): the priority matrix, the targets per priority and each ticket's
clocks.

Two clocks per ticket, both counted in working time of the priority's calendar (7×24, or
working days with Chinese public holidays and make-up days, `events.sla.calendar_for`):

- response: from creation until first accepted (in_progress); never pauses;
- resolution: from creation until resolved, standing still while the ticket is pending
  (waiting for the user, a vendor, a spare part or a change window) — the pause intervals are
  stored (`TicketPause`) and the elapsed time excludes them.

State per clock: ok | warning (pct ≥ warn_at_pct) | breached (elapsed past the target, or done
late) | met (done within the target); `paused` is set while the clock stands still.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Invalid, NotFound
from cityops.events.calendar import MODES, WorkCalendar
from cityops.events.sla import calendar_for
from cityops.servicedesk.models import PRIORITIES, SlaTarget, Ticket, TicketPause

IMPACT_LABELS = {1: "高（全区或多个系统）", 2: "中（单个系统或部门）", 3: "低（个人或单项功能）"}
URGENCY_LABELS = {1: "高（业务中断）", 2: "中（业务受影响）", 3: "低（可延后）"}
PRIORITY_LABELS = {"P1": "P1 紧急", "P2": "P2 高", "P3": "P3 中", "P4": "P4 低"}
SLA_STATES = {"ok": "正常", "warning": "预警", "breached": "超时", "met": "达标"}

# ITIL-style matrix: impact 1..3 × urgency 1..3 → priority (the sum decides).
MATRIX = {(i, u): {2: "P1", 3: "P2", 4: "P3"}.get(i + u, "P4") for i in (1, 2, 3) for u in (1, 2, 3)}

DEFAULTS = {
    "P1": {"response_min": 15, "resolution_min": 240, "calendar_mode": "24x7", "warn_at_pct": 80},
    "P2": {"response_min": 30, "resolution_min": 480, "calendar_mode": "24x7", "warn_at_pct": 80},
    # A working day is 7.5 h (09:00-12:00, 13:00-17:30): 3 days = 1350 min, 5 days = 2250 min.
    "P3": {"response_min": 120, "resolution_min": 1350, "calendar_mode": "workdays", "warn_at_pct": 80},
    "P4": {"response_min": 240, "resolution_min": 2250, "calendar_mode": "workdays", "warn_at_pct": 80},
}


def priority_of(impact: int, urgency: int) -> str:
    if (impact, urgency) not in MATRIX:
        raise Invalid("影响范围和紧急程度须为 1（高）、2（中）或 3（低）")
    return MATRIX[(impact, urgency)]


def matrix() -> dict[str, Any]:
    return {"impact": IMPACT_LABELS, "urgency": URGENCY_LABELS,
            "cells": [{"impact": i, "urgency": u, "priority": MATRIX[(i, u)]} for i in (1, 2, 3) for u in (1, 2, 3)]}


# -- targets ------------------------------------------------------------------------------------
def seed(session: Session) -> int:
    """Store the default targets that are missing (an edited one is kept); returns how many."""
    added = 0
    for p, d in DEFAULTS.items():
        if session.get(SlaTarget, p) is None:
            session.add(SlaTarget(priority=p, updated_by="system", **d))
            added += 1
    session.flush()
    return added


def targets(session: Session) -> dict[str, SlaTarget]:
    """The effective target of every priority: the stored row, else the default (not stored)."""
    rows = {t.priority: t for t in session.scalars(select(SlaTarget))}
    return {p: rows.get(p) or SlaTarget(priority=p, updated_by="", **DEFAULTS[p]) for p in PRIORITIES}


def update_target(session: Session, priority: str, *, actor: str, **fields: Any) -> SlaTarget:
    if priority not in PRIORITIES:
        raise NotFound(f"优先级 {priority} 不存在（可选 P1～P4）")
    unknown = set(fields) - {"response_min", "resolution_min", "calendar_mode", "warn_at_pct"}
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    row = session.get(SlaTarget, priority)
    if row is None:
        row = SlaTarget(priority=priority, **DEFAULTS[priority])
        session.add(row)
    merged = {k: fields[k] if fields.get(k) is not None else getattr(row, k)
              for k in ("response_min", "resolution_min", "calendar_mode", "warn_at_pct")}
    for k in ("response_min", "resolution_min"):
        v = merged[k]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 60 * 24 * 90:
            raise Invalid(f"{k} 须为 1～129600 之间的整数分钟")
    if merged["response_min"] > merged["resolution_min"]:
        raise Invalid("响应时限不能长于解决时限")
    if merged["calendar_mode"] not in MODES:
        raise Invalid("calendar_mode 须为 24x7（7×24）或 workdays（工作日）")
    pct = merged["warn_at_pct"]
    if not isinstance(pct, int) or isinstance(pct, bool) or not 1 <= pct <= 100:
        raise Invalid("warn_at_pct 须为 1～100")
    for k, v in merged.items():
        setattr(row, k, v)
    row.updated_by = actor
    session.flush()
    return row


# -- clocks -------------------------------------------------------------------------------------
@dataclass
class Clock:
    target: str  # response | resolution
    target_min: int
    due_at: datetime | None  # None while paused
    elapsed: timedelta
    remaining: timedelta  # negative once breached
    pct: float
    state: str  # ok | warning | breached | met
    paused: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "target_min": self.target_min, "due_at": self.due_at,
                "elapsed_s": int(self.elapsed.total_seconds()), "remaining_s": int(self.remaining.total_seconds()),
                "pct": round(self.pct, 1), "state": self.state, "paused": self.paused}


class Context:
    """Targets and calendars read once, for evaluating many tickets."""

    def __init__(self, session: Session):
        self.session = session
        self.targets = targets(session)
        self._calendars: dict[str, WorkCalendar] = {}

    def calendar(self, mode: str) -> WorkCalendar:
        if mode not in self._calendars:
            self._calendars[mode] = calendar_for(self.session, mode)
        return self._calendars[mode]


def pauses_of(session: Session, ticket_ids: list[int]) -> dict[int, list[TicketPause]]:
    out: dict[int, list[TicketPause]] = {i: [] for i in ticket_ids}
    if ticket_ids:
        q = select(TicketPause).where(TicketPause.ticket_id.in_(ticket_ids)).order_by(TicketPause.started_at)
        for p in session.scalars(q):
            out[p.ticket_id].append(p)
    return out


def _clock(cal: WorkCalendar, name: str, target_min: int, warn_pct: int, start: datetime, done: datetime | None,
           pauses: list[tuple[datetime, datetime | None]], now: datetime) -> Clock:
    """Working time from `start` to `done` (or `now`), without the pause intervals."""
    end = done or now
    budget = timedelta(minutes=target_min)
    segments: list[tuple[datetime, datetime | None]] = []  # running intervals; None = still running
    cursor: datetime | None = start
    for p_from, p_to in pauses:
        if p_from > cursor:
            segments.append((cursor, p_from))
        if p_to is None:
            cursor = None
            break
        cursor = max(cursor, p_to)
    if cursor is not None:
        segments.append((cursor, None))
    elapsed = sum((cal.working_between(a, min(b or end, end)) for a, b in segments if a < end), timedelta(0))
    due, left = None, budget
    for a, b in segments:
        if b is None:
            due = cal.add_working(a, left)
            break
        worked = cal.working_between(a, b)
        if left <= worked:
            due = cal.add_working(a, left)
            break
        left -= worked
    paused = done is None and cursor is None and pauses[-1][0] <= now
    pct = elapsed / budget * 100
    if done is not None:
        state = "met" if elapsed <= budget else "breached"
    elif elapsed > budget:
        state = "breached"
    elif pct >= warn_pct:
        state = "warning"
    else:
        state = "ok"
    return Clock(name, target_min, due, elapsed, budget - elapsed, pct, state, paused)


def sla_status(ticket: Ticket, now: datetime, *, ctx: Context | None = None,
               pauses: list[TicketPause] | None = None, session: Session | None = None) -> dict[str, Clock]:
    """`{"response": Clock, "resolution": Clock}` for a ticket at `now`."""
    if ctx is None:
        if session is None:
            raise ValueError("give a session or a Context")
        ctx = Context(session)
    if pauses is None:
        pauses = pauses_of(ctx.session, [ticket.id])[ticket.id]
    t = ctx.targets[ticket.priority]
    cal = ctx.calendar(t.calendar_mode)
    spans = [(p.started_at, p.ended_at) for p in sorted(pauses, key=lambda p: p.started_at)]
    resolved = ticket.resolved_at if ticket.state in ("resolved", "closed") else None
    return {
        "response": _clock(cal, "response", t.response_min, t.warn_at_pct, ticket.created_at, ticket.responded_at,
                           [], now),
        "resolution": _clock(cal, "resolution", t.resolution_min, t.warn_at_pct, ticket.created_at, resolved,
                             spans, now),
    }


def overall(clocks: dict[str, Clock]) -> tuple[str, Clock]:
    """The ticket's SLA state (breached when either clock is) and the clock that runs now: the
    response clock until the ticket is accepted, then the resolution clock."""
    resp, res = clocks["response"], clocks["resolution"]
    live = resp if resp.state in ("ok", "warning") and res.state != "met" else res
    if resp.state == "breached" or res.state == "breached":
        return "breached", live
    return live.state, live
