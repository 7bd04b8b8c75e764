"""The city event lifecycle (IOT-6, SYS-DISPATCH): which state may follow which, who may
move it, and the one function that does it.

reported → accepted (立案) → dispatched (派遣) → in_progress (处置中) → disposed (处置完成)
→ verified (核查通过) → closed (结案); rejected (不予立案) ends a report; 退回 (return) sends a
dispatched/in-progress/disposed event back to accepted, 重新打开 (reopen) a verified/closed
one. Return, reject and reopen need a reason. "merged" is outside the cycle: a merged
report only leaves it through unmerge (events/service.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from cityops.core.bus import bus
from cityops.core.errors import Conflict, Invalid, NotFound, Problem
from cityops.core.timeutil import utcnow
from cityops.events.models import CityEvent, EventTransition

STATES = ("reported", "accepted", "dispatched", "in_progress", "disposed", "verified", "closed", "rejected",
          "merged")
STATE_LABELS = {"reported": "待立案", "accepted": "已立案", "dispatched": "已派遣", "in_progress": "处置中",
                "disposed": "处置完成", "verified": "核查通过", "closed": "已结案", "rejected": "不予立案",
                "merged": "已合并"}
OPEN_STATES = ("reported", "accepted", "dispatched", "in_progress", "disposed", "verified")
ACTION_LABELS = {"report": "上报", "accept": "立案", "reject": "不予立案", "dispatch": "派遣", "start": "开始处置",
                 "dispose": "处置完成", "verify": "核查通过", "close": "结案", "return": "退回",
                 "reopen": "重新打开", "merge": "合并", "unmerge": "取消合并"}

OPS = ("admin", "manager", "duty")
STREET = ("street",)
# Automatic steps act as the "system" role: routing and dispatch, the platform's results
# coming back (start, dispose, return), automatic verification (verify or return).
SYSTEM = ("system",)

# (from, to) → (action, roles allowed, reason required)
TRANSITIONS: dict[tuple[str, str], tuple[str, tuple[str, ...], bool]] = {
    ("reported", "accepted"): ("accept", OPS + STREET + SYSTEM, False),
    ("reported", "rejected"): ("reject", OPS + STREET, True),
    ("accepted", "dispatched"): ("dispatch", OPS + SYSTEM, False),
    ("dispatched", "in_progress"): ("start", OPS + STREET + SYSTEM, False),
    ("dispatched", "accepted"): ("return", OPS + STREET + SYSTEM, True),
    ("in_progress", "disposed"): ("dispose", OPS + STREET + SYSTEM, False),
    ("in_progress", "accepted"): ("return", OPS + STREET + SYSTEM, True),
    ("disposed", "verified"): ("verify", OPS + STREET + SYSTEM, False),
    ("disposed", "accepted"): ("return", OPS + STREET + SYSTEM, True),
    ("verified", "closed"): ("close", OPS + SYSTEM, False),
    ("verified", "accepted"): ("reopen", OPS, True),
    ("closed", "accepted"): ("reopen", ("admin", "manager"), True),
}
# The API also takes the action's name where it is clearer than the target state.
ALIASES = {"returned": ("return", "accepted"), "reopened": ("reopen", "accepted")}
STAMPS = {"accepted": "accepted_at", "dispatched": "dispatched_at", "disposed": "disposed_at",
          "verified": "verified_at", "closed": "closed_at", "rejected": "closed_at"}
TOPIC = "event.transition"


def allowed_next(state: str, role: str | None = None) -> list[str]:
    """States reachable from `state` (for `role`, if given), in lifecycle order."""
    nxt = [to for (frm, to), (_, roles, _) in TRANSITIONS.items() if frm == state and (role is None or role in roles)]
    return sorted(set(nxt), key=STATES.index)


def needs_reason(state: str, to: str) -> bool:
    rule = TRANSITIONS.get((state, to))
    return bool(rule and rule[2])


def authorize(state: str, to: str, role: str) -> None:
    """403 when `role` may not make the (legal) move state → to."""
    action, roles, _ = TRANSITIONS[(state, to)]
    if role not in roles:
        raise Problem(403, "Forbidden", f"角色 {role!r} 不能执行“{ACTION_LABELS[action]}”（{state} → {to}）")


def _label(state: str) -> str:
    return f"{STATE_LABELS.get(state, state)}({state})"


def _publish_after_commit(session: Session, payload: dict[str, Any]) -> None:
    """Subscribers must only hear of transitions that really happened: publish after commit."""
    pending = session.info.setdefault("event_transitions_pending", [])
    pending.append(payload)
    if not sa_event.contains(session, "after_commit", _flush_pending):
        sa_event.listen(session, "after_commit", _flush_pending)
        sa_event.listen(session, "after_soft_rollback", _drop_pending)


def _flush_pending(session: Session) -> None:
    for payload in session.info.pop("event_transitions_pending", []):
        bus.publish(TOPIC, payload)


def _drop_pending(session: Session, previous_transaction: Any) -> None:
    session.info.pop("event_transitions_pending", None)


def record(session: Session, ev: CityEvent, *, from_state: str, to_state: str, action: str, actor: str,
           reason: str = "", at: datetime | None = None, details: dict[str, Any] | None = None) -> EventTransition:
    """Store one transition row and queue its bus message (also used for report/merge/unmerge)."""
    at = at or utcnow()
    tr = EventTransition(event_id=ev.id, from_state=from_state, to_state=to_state, action=action, actor=actor,
                         reason=reason, at=at, details=details or {})
    session.add(tr)
    session.flush()
    _publish_after_commit(session, {"event_id": ev.id, "number": ev.number, "from": from_state, "to": to_state,
                                    "action": action, "actor": actor, "reason": reason, "at": at.isoformat(),
                                    "street_code": ev.street_code, "category_id": ev.category_id,
                                    "severity": ev.severity, "transition_id": tr.id})
    return tr


def transition(session: Session, event_id: int, to: str, *, actor: str, role: str = "system", reason: str = "",
               at: datetime | None = None, scope: str | None = None,
               details: dict[str, Any] | None = None) -> CityEvent:
    """Move an event to `to` (a state, or "returned"/"reopened"). Illegal moves raise Conflict
    naming the current state and the allowed next ones; a role without the right gets 403."""
    ev = session.get(CityEvent, event_id, with_for_update=True)
    if ev is None or (scope is not None and ev.street_code != scope):
        raise NotFound(f"事件 {event_id} 不存在")
    action_hint = None
    if to in ALIASES:
        action_hint, to = ALIASES[to]
    if to not in STATES:
        raise Invalid(f"未知的状态“{to}”；可用状态：{'、'.join(STATES)}")
    rule = TRANSITIONS.get((ev.state, to))
    if rule is None or (action_hint and rule[0] != action_hint):
        nxt = allowed_next(ev.state)
        allowed = "、".join(_label(s) for s in nxt) if nxt else "无（终态，或合并的上报只能取消合并）"
        raise Conflict(f"事件 {ev.number} 当前状态为 {_label(ev.state)}，不能变为 {_label(to)}；"
                       f"允许的下一状态：{allowed}")
    action, _, reason_required = rule
    authorize(ev.state, to, role)
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise Invalid(f"“{ACTION_LABELS[action]}”需要填写原因")
    at = at or utcnow()
    before = ev.state
    ev.state = to
    if to in STAMPS:
        setattr(ev, STAMPS[to], at)
    if action == "reopen":
        ev.closed_at = None  # open again; the earlier closing stays in the transition log
    session.flush()
    record(session, ev, from_state=before, to_state=to, action=action, actor=actor, reason=reason, at=at,
           details=details)
    return ev
