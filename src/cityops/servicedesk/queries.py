"""Ticket lists and the figures of the duty home page (OPS-3): filters, text search and the SLA
urgency order (breached first, then least remaining time; resolved and closed tickets last,
newest first).

The SLA state is computed, not stored, so lists evaluate the clocks of the matching tickets in
Python (targets and calendars read once). A desk holds hundreds of open tickets, not millions;
closed ones are filtered in SQL before that."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.db import text_search
from cityops.core.errors import Invalid
from cityops.servicedesk import sla
from cityops.servicedesk.models import NATURES, OPEN_STATES, PRIORITIES, STATES, Ticket

MAX_SCAN = 5000


def evaluate(session: Session, tickets: list[Ticket], now: datetime) -> list[dict[str, Any]]:
    """Each ticket with its clocks: {"ticket", "clocks", "sla_state", "live"}."""
    ctx = sla.Context(session)
    pauses = sla.pauses_of(session, [t.id for t in tickets])
    out = []
    for t in tickets:
        clocks = sla.sla_status(t, now, ctx=ctx, pauses=pauses[t.id])
        state, live = sla.overall(clocks)
        out.append({"ticket": t, "clocks": clocks, "sla_state": state, "live": live})
    return out


def _urgency(row: dict[str, Any]) -> tuple:
    t = row["ticket"]
    if t.state not in OPEN_STATES:
        return (2, 0, -t.created_at.timestamp())
    paused = row["live"].paused
    return (0 if row["sla_state"] == "breached" else 1, 1 if paused else 0, row["live"].remaining.total_seconds())


def list_tickets(session: Session, *, now: datetime, state: str | None = None, priority: str | None = None,
                 assignee: str | None = None, sla_state: str | None = None, system_code: str | None = None,
                 asset_id: int | None = None, nature: str | None = None, q: str | None = None,
                 open_only: bool = False, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    query = select(Ticket)
    if state:
        if state not in STATES:
            raise Invalid(f"未知的状态 {state!r}（可选：{'、'.join(STATES)}）")
        query = query.where(Ticket.state == state)
    elif open_only:
        query = query.where(Ticket.state.in_(OPEN_STATES))
    if priority:
        if priority not in PRIORITIES:
            raise Invalid("priority 须为 P1～P4")
        query = query.where(Ticket.priority == priority)
    if nature:
        if nature not in NATURES:
            raise Invalid(f"未知的工单性质 {nature!r}")
        query = query.where(Ticket.nature == nature)
    if sla_state and sla_state not in sla.SLA_STATES:
        raise Invalid(f"未知的时限状态 {sla_state!r}（可选：{'、'.join(sla.SLA_STATES)}）")
    for col, value in ((Ticket.assignee, assignee), (Ticket.system_code, system_code), (Ticket.asset_id, asset_id)):
        if value not in (None, ""):
            query = query.where(col == value)
    if q and q.strip():
        query = query.where(text_search(q, Ticket.number, Ticket.title, Ticket.description, Ticket.reporter))
    tickets = list(session.scalars(query.order_by(Ticket.created_at.desc()).limit(MAX_SCAN)))
    rows = evaluate(session, tickets, now)
    if sla_state:
        rows = [r for r in rows if r["sla_state"] == sla_state]
    rows.sort(key=_urgency)
    return rows[offset:offset + limit], len(rows)


def _open_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    tickets = list(session.scalars(select(Ticket).where(Ticket.state.in_(OPEN_STATES)).limit(MAX_SCAN)))
    return evaluate(session, tickets, now)


def _board(rows: list[dict[str, Any]], limit: int) -> list[dict]:
    return [{"id": r["ticket"].id, "number": r["ticket"].number, "title": r["ticket"].title,
             "priority": r["ticket"].priority, "state": r["ticket"].state, "assignee": r["ticket"].assignee,
             "sla_state": r["sla_state"], "clock": r["live"].target, "due_at": r["live"].due_at,
             "remaining_s": int(r["live"].remaining.total_seconds()), "paused": r["live"].paused,
             "url": f"/console/tickets/{r['ticket'].id}"} for r in sorted(rows, key=_urgency)[:limit]]


def _counts(session: Session, rows: list[dict[str, Any]]) -> dict:
    by_state = dict.fromkeys(OPEN_STATES, 0)
    for st, n in session.execute(select(Ticket.state, func.count()).where(Ticket.state.in_(OPEN_STATES))
                                 .group_by(Ticket.state)):
        by_state[st] = n
    by_sla = {"ok": 0, "warning": 0, "breached": 0}
    for r in rows:
        by_sla[r["sla_state"]] = by_sla.get(r["sla_state"], 0) + 1
    unassigned = sum(1 for r in rows if r["ticket"].assignee is None)
    return {"open": sum(by_state.values()), "by_state": by_state, "by_sla": by_sla, "unassigned": unassigned}


def sla_board(session: Session, *, now: datetime, limit: int = 20) -> list[dict]:
    """Open tickets by SLA urgency for the duty home page."""
    return _board(_open_rows(session, now), limit)


def counts(session: Session, *, now: datetime) -> dict:
    """Open tickets by state and by SLA state, plus how many wait for someone (no assignee)."""
    return _counts(session, _open_rows(session, now))


def overview(session: Session, *, now: datetime, limit: int = 20) -> tuple[list[dict], dict]:
    """`sla_board` and `counts` from one evaluation of the open tickets' clocks (the home page)."""
    rows = _open_rows(session, now)
    return _board(rows, limit), _counts(session, rows)
