"""Ticket state changes (OPS-3):

    new → assigned → in_progress ⇄ pending (reason required) → resolved (solution required) → closed
    resolved / closed → reopened within 7 days (reason required) → assigned

Anything else is a 409 with a Chinese message. Every change is a timeline row with actor and
time. Pending and resolved stop the resolution clock (`TicketPause`); resolving writes the
maintenance-log line."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid
from cityops.core.timeutil import utcnow
from cityops.servicedesk import service, sla
from cityops.servicedesk.models import NATURES, PENDING_REASONS, STATES, Ticket, TicketLink, TicketPause

REOPEN_WINDOW = timedelta(days=7)
ACTIONS = {"assign": "分派", "start": "受理", "pend": "挂起", "resume": "恢复处理", "resolve": "解决",
           "close": "关闭", "reopen": "重新打开", "comment": "备注"}
# From which states each action is allowed.
ALLOWED = {"assign": ("new", "assigned", "in_progress", "pending"), "start": ("new", "assigned"),
           "pend": ("in_progress",), "resume": ("pending",), "resolve": ("in_progress", "pending"),
           "close": ("resolved",), "reopen": ("resolved", "closed"),
           "comment": ("new", "assigned", "in_progress", "pending", "resolved", "closed")}


def allowed_actions(t: Ticket) -> list[str]:
    return [a for a, states in ALLOWED.items() if t.state in states]


def _guard(t: Ticket, action: str) -> None:
    if t.state not in ALLOWED[action]:
        raise Conflict(f"工单 {t.number} 当前为「{STATES[t.state]}」，不能{ACTIONS[action]}")


def _move(session: Session, t: Ticket, to: str, kind: str, actor: str, now: datetime, text: str = "",
          **data: Any) -> None:
    before = t.state
    t.state = to
    t.updated_at = now
    service.note(session, t, kind, actor, now, from_state=before, to_state=to, text=text, **data)
    session.flush()


def _open_pause(session: Session, t: Ticket, reason: str, now: datetime) -> None:
    session.add(TicketPause(ticket_id=t.id, reason=reason, started_at=now))


def _close_pauses(session: Session, t: Ticket, now: datetime) -> None:
    for p in session.scalars(select(TicketPause).where(TicketPause.ticket_id == t.id, TicketPause.ended_at.is_(None))):
        p.ended_at = max(now, p.started_at)


def assign(session: Session, ticket_id: int, *, assignee: str, actor: str, team_code: str | None = None,
           note: str = "", now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "assign")
    service.check_assignee(session, assignee)
    if team_code:
        service._check_team(session, team_code)
    before, state = t.assignee, t.state
    t.assignee, t.team_code = assignee, team_code or t.team_code
    if t.state in ("new", "in_progress") and before != assignee:
        t.state = "assigned"  # the new person accepts it (受理) themselves
    t.updated_at = now
    service.note(session, t, "assigned", actor, now, from_state=state, to_state=t.state,
                 text=f"分派给 {assignee}" + (f"（原 {before}）" if before and before != assignee else "")
                 + (f"：{note.strip()}" if note.strip() else ""), assignee=assignee, previous=before)
    session.flush()
    return t


def start(session: Session, ticket_id: int, *, actor: str, now: datetime | None = None) -> Ticket:
    """受理: the assignee (or whoever takes a new ticket) starts work; stops the response clock."""
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "start")
    if t.assignee is None:
        service.check_assignee(session, actor)
        t.assignee = actor
    if t.responded_at is None:
        t.responded_at = now
    _move(session, t, "in_progress", "started", actor, now, text=f"{actor} 受理")
    return t


def pend(session: Session, ticket_id: int, *, reason: str, actor: str, note: str = "",
         now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "pend")
    if reason not in PENDING_REASONS:
        raise Invalid(f"挂起须选择原因：{'、'.join(PENDING_REASONS)}")
    t.pending_reason = reason
    _open_pause(session, t, reason, now)
    _move(session, t, "pending", "pended", actor, now, text=reason + (f"：{note.strip()}" if note.strip() else ""),
          reason=reason)
    return t


def resume(session: Session, ticket_id: int, *, actor: str, note: str = "", now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "resume")
    _close_pauses(session, t, now)
    t.pending_reason = ""
    _move(session, t, "in_progress", "resumed", actor, now, text=note.strip() or "恢复处理")
    return t


def resolve(session: Session, ticket_id: int, *, solution: str, actor: str, now: datetime | None = None) -> Ticket:
    from cityops.maintenance.log import add_entry

    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "resolve")
    if not (solution or "").strip():
        raise Invalid("解决工单须填写解决方案")
    _close_pauses(session, t, now)
    _open_pause(session, t, "resolved", now)  # until closed or reopened
    t.solution, t.resolved_at, t.pending_reason = solution.strip(), now, ""
    if t.responded_at is None:
        t.responded_at = now
    _move(session, t, "resolved", "resolved", actor, now, text=solution.strip())
    add_entry(session, kind="ticket", summary=f"工单 {t.number} 已解决：{t.title}", source="ticket",
              source_ref=str(t.id), detail=f"{NATURES[t.nature]} · {t.priority}\n解决方案：{t.solution}",
              author=actor, at=now, system_code=t.system_code, asset_id=t.asset_id)
    return t


def close(session: Session, ticket_id: int, *, actor: str, note: str = "", now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "close")
    t.closed_at = now
    _move(session, t, "closed", "closed", actor, now, text=note.strip() or "确认关闭")
    return t


def reopen(session: Session, ticket_id: int, *, reason: str, actor: str, now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    _guard(t, "reopen")
    if not (reason or "").strip():
        raise Invalid("重新打开须填写原因")
    if t.resolved_at is not None and now - t.resolved_at > REOPEN_WINDOW:
        raise Conflict(f"工单 {t.number} 解决已超过 7 天，不能重新打开；请新建工单并关联")
    _close_pauses(session, t, now)
    t.resolved_at = t.closed_at = None
    t.reopen_count += 1
    to = "assigned"
    if t.assignee is None:
        who, team = service.default_assignee(session, now)
        t.assignee, t.team_code = who, t.team_code or team
        to = "assigned" if who else "new"
    _move(session, t, to, "reopened", actor, now, text=reason.strip(), assignee=t.assignee)
    return t


def comment(session: Session, ticket_id: int, *, text: str, actor: str, now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    if not (text or "").strip():
        raise Invalid("备注内容不能为空")
    service.note(session, t, "comment", actor, now, text=text.strip()[:4000])
    t.updated_at = now
    session.flush()
    return t


def reclassify(session: Session, ticket_id: int, *, actor: str, now: datetime | None = None,
               **fields: Any) -> Ticket:
    """Change title, description, nature, impact/urgency (→ priority) or category of an open ticket."""
    now = now or utcnow()
    t = service.get(session, ticket_id)
    allowed = {"title", "description", "nature", "impact", "urgency", "system_code", "module_id", "asset_id"}
    unknown = set(fields) - allowed - {"emergency", "emergency_reason"}
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    if t.state in ("resolved", "closed"):
        raise Conflict(f"工单 {t.number} 已{STATES[t.state]}，不能修改分类")
    new = {k: fields.get(k, getattr(t, k)) for k in allowed}
    if not str(new["title"] or "").strip():
        raise Invalid("请填写工单标题")
    service.check_nature(new["nature"])
    priority = sla.priority_of(new["impact"], new["urgency"])
    service.check_category(session, new["system_code"], new["module_id"], new["asset_id"])
    freeze = None
    if new["nature"] == "change" and t.nature != "change":
        reason = (fields.get("emergency_reason") or "").strip()
        freeze = service.change_freeze(session, "change", bool(fields.get("emergency")), reason, now)
    changes = {k: [getattr(t, k), v] for k, v in new.items() if getattr(t, k) != v}
    if t.priority != priority:
        changes["priority"] = [t.priority, priority]
    if not changes:
        return t
    for k, v in new.items():
        setattr(t, k, v.strip() if isinstance(v, str) and k == "title" else v)
    t.priority, t.updated_at = priority, now
    if freeze is not None:
        t.emergency_change = True
    service.note(session, t, "updated", actor, now, text="修改：" + "，".join(
        f"{k} {a}→{b}" for k, (a, b) in changes.items() if k != "description"), changes=changes)
    session.flush()
    return t


def link(session: Session, ticket_id: int, *, other: str | int, actor: str, note: str = "",
         now: datetime | None = None) -> TicketLink:
    """Link a ticket to another (by id or number); shown on both."""
    now = now or utcnow()
    t = service.get(session, ticket_id)
    if isinstance(other, str) and not other.isdigit():
        o = session.scalar(select(Ticket).where(Ticket.number == other.strip()))
        if o is None:
            raise Invalid(f"工单 {other} 不存在")
    else:
        o = session.get(Ticket, int(other))
        if o is None:
            raise Invalid(f"工单 {other} 不存在")
    if o.id == t.id:
        raise Invalid("不能关联工单自身")
    exists = session.scalar(select(TicketLink.id).where(
        ((TicketLink.ticket_id == t.id) & (TicketLink.other_id == o.id))
        | ((TicketLink.ticket_id == o.id) & (TicketLink.other_id == t.id))))
    if exists is not None:
        raise Conflict(f"{t.number} 与 {o.number} 已关联")
    row = TicketLink(ticket_id=t.id, other_id=o.id, note=note.strip()[:200], created_by=actor, created_at=now)
    session.add(row)
    service.note(session, t, "linked", actor, now, text=f"关联工单 {o.number}", other_id=o.id)
    service.note(session, o, "linked", actor, now, text=f"被工单 {t.number} 关联", other_id=t.id)
    session.flush()
    return row


def unlink(session: Session, ticket_id: int, link_id: int, *, actor: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    t = service.get(session, ticket_id)
    row = session.get(TicketLink, link_id)
    if row is None or t.id not in (row.ticket_id, row.other_id):
        raise Invalid(f"关联 {link_id} 不存在")
    other = service.get(session, row.other_id if row.ticket_id == t.id else row.ticket_id)
    session.delete(row)
    service.note(session, t, "unlinked", actor, now, text=f"取消关联 {other.number}", other_id=other.id)
    session.flush()


def links_of(session: Session, ticket_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(TicketLink).where((TicketLink.ticket_id == ticket_id)
                                                     | (TicketLink.other_id == ticket_id)).order_by(TicketLink.id))
    out = []
    for r in rows:
        o = session.get(Ticket, r.other_id if r.ticket_id == ticket_id else r.ticket_id)
        out.append({"id": r.id, "ticket_id": o.id, "number": o.number, "title": o.title, "state": o.state,
                    "note": r.note, "created_by": r.created_by, "created_at": r.created_at})
    return out
