"""SLA watch and escalation (OPS-3).

Per priority an editable list of steps (JSON), seeded with defaults:

    {"level": 1, "target": "response" | "resolution", "pct": 80}             at 80 % of the target
    {"level": 2, "target": "resolution", "after_breach_min": 30}             30 working min after breach
    … plus "action": "notify" | "reassign" | "raise", optional "to" (a username, reassign) and
    "channels" (notification channel ids; default the desk's channels, else every enabled one).

- notify: the assignee and the desk team's people on duty (`notify.direct.enqueue`);
- reassign: to `to`, else to the desk team's leader on duty;
- raise: the ticket's escalation level becomes the step's level, and the team manager
  (`duty.service.team_manager`, else the leader on duty) is notified.

Each step runs once per ticket (`EscalationFired`, unique per ticket and step key); a step of
the response clock does not run once the ticket was accepted. The SLA warning and breach of
each clock are also written to the timeline once. `watch(session, now=)` is the job's body."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import savepoint
from cityops.core.errors import Invalid, NotFound
from cityops.core.timeutil import fmt_local, utcnow
from cityops.servicedesk import service, sla
from cityops.servicedesk.models import OPEN_STATES, PRIORITIES, EscalationFired, EscalationPolicy, Ticket
from cityops.servicedesk.queries import evaluate

ACTIONS = {"notify": "通知", "reassign": "改派", "raise": "升级"}
TARGETS = {"response": "响应", "resolution": "解决"}
SEVERITY = {"P1": "critical", "P2": "major", "P3": "warning", "P4": "info"}

DEFAULTS: dict[str, list[dict[str, Any]]] = {
    "P1": [{"level": 1, "target": "response", "pct": 50, "action": "notify"},
           {"level": 1, "target": "response", "pct": 100, "action": "reassign"},
           {"level": 2, "target": "resolution", "pct": 80, "action": "notify"},
           {"level": 3, "target": "resolution", "after_breach_min": 0, "action": "raise"}],
    "P2": [{"level": 1, "target": "response", "pct": 80, "action": "notify"},
           {"level": 1, "target": "response", "pct": 100, "action": "reassign"},
           {"level": 2, "target": "resolution", "pct": 80, "action": "notify"},
           {"level": 3, "target": "resolution", "after_breach_min": 30, "action": "raise"}],
    "P3": [{"level": 1, "target": "response", "pct": 100, "action": "notify"},
           {"level": 2, "target": "resolution", "pct": 80, "action": "notify"},
           {"level": 3, "target": "resolution", "after_breach_min": 60, "action": "raise"}],
    "P4": [{"level": 1, "target": "resolution", "pct": 100, "action": "notify"},
           {"level": 2, "target": "resolution", "after_breach_min": 240, "action": "raise"}],
}


# -- policies -----------------------------------------------------------------------------------
def check_steps(session: Session, steps: Any) -> list[dict[str, Any]]:
    """Validate and normalise a step list; a bad step is a 422 naming it."""
    from cityops.auth.models import User
    from cityops.notify.models import ChannelConfig

    if not isinstance(steps, list):
        raise Invalid("steps 须为步骤列表")
    out = []
    for n, s in enumerate(steps, 1):
        where = f"第 {n} 步"
        if not isinstance(s, dict):
            raise Invalid(f"{where}须为对象")
        unknown = set(s) - {"level", "target", "pct", "after_breach_min", "action", "to", "channels"}
        if unknown:
            raise Invalid(f"{where}有未知字段：{'、'.join(sorted(unknown))}")
        level, target, action = s.get("level"), s.get("target"), s.get("action")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 9:
            raise Invalid(f"{where}：level 须为 1～9")
        if target not in TARGETS:
            raise Invalid(f"{where}：target 须为 response 或 resolution")
        if action not in ACTIONS:
            raise Invalid(f"{where}：action 须为 notify、reassign 或 raise")
        has_pct, has_after = s.get("pct") is not None, s.get("after_breach_min") is not None
        if has_pct == has_after:
            raise Invalid(f"{where}：pct（时限百分比）与 after_breach_min（超时后分钟数）须且只能给一个")
        step: dict[str, Any] = {"level": level, "target": target, "action": action}
        if has_pct:
            if not isinstance(s["pct"], int) or isinstance(s["pct"], bool) or not 1 <= s["pct"] <= 100:
                raise Invalid(f"{where}：pct 须为 1～100")
            step["pct"] = s["pct"]
        else:
            v = s["after_breach_min"]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 60 * 24 * 30:
                raise Invalid(f"{where}：after_breach_min 须为 0～43200")
            step["after_breach_min"] = v
        if s.get("to"):
            if action != "reassign":
                raise Invalid(f"{where}：只有改派（reassign）可以指定 to")
            if session.scalar(select(User.id).where(User.username == s["to"], User.active.is_(True))) is None:
                raise Invalid(f"{where}：没有登录账号 {s['to']!r}")
            step["to"] = s["to"]
        if s.get("channels"):
            chans = s["channels"]
            if not isinstance(chans, list) or not all(isinstance(c, int) for c in chans):
                raise Invalid(f"{where}：channels 须为通知渠道编号列表")
            for c in chans:
                if session.get(ChannelConfig, c) is None:
                    raise Invalid(f"{where}：通知渠道 {c} 不存在")
            step["channels"] = chans
        out.append(step)
    keys = [step_key(s) for s in out]
    if len(set(keys)) != len(keys):
        raise Invalid("有两个步骤的时点和动作完全相同")
    return out


def step_key(s: dict[str, Any]) -> str:
    when = f"p{s['pct']}" if "pct" in s else f"b{s['after_breach_min']}"
    return f"{s['target']}:{when}:{s['action']}:L{s['level']}"


def describe(s: dict[str, Any]) -> str:
    when = (f"{TARGETS[s['target']]}时限 {s['pct']}%" if "pct" in s
            else f"{TARGETS[s['target']]}超时{' ' + str(s['after_breach_min']) + ' 分钟后' if s['after_breach_min'] else '时'}")
    extra = f" → {s['to']}" if s.get("to") else ""
    return f"{s['level']} 级 · {when} · {ACTIONS[s['action']]}{extra}"


def seed(session: Session) -> int:
    added = 0
    for p, steps in DEFAULTS.items():
        if session.get(EscalationPolicy, p) is None:
            session.add(EscalationPolicy(priority=p, steps=steps, enabled=True, updated_by="system"))
            added += 1
    session.flush()
    return added


def policies(session: Session) -> dict[str, EscalationPolicy]:
    rows = {r.priority: r for r in session.scalars(select(EscalationPolicy))}
    return {p: rows.get(p) or EscalationPolicy(priority=p, steps=DEFAULTS[p], enabled=True, updated_by="")
            for p in PRIORITIES}


def update_policy(session: Session, priority: str, *, actor: str, steps: Any = None,
                  enabled: bool | None = None) -> EscalationPolicy:
    if priority not in PRIORITIES:
        raise NotFound(f"优先级 {priority} 不存在（可选 P1～P4）")
    row = session.get(EscalationPolicy, priority)
    if row is None:
        row = EscalationPolicy(priority=priority, steps=DEFAULTS[priority], enabled=True)
        session.add(row)
    if steps is not None:
        row.steps = check_steps(session, steps)
    if enabled is not None:
        row.enabled = enabled
    row.updated_by = actor
    session.flush()
    return row


# -- the watch ----------------------------------------------------------------------------------
def _fire_once(session: Session, ticket: Ticket, key: str, now: datetime) -> bool:
    """Claim a step for a ticket; False when it ran before (also across racing processes)."""
    if session.scalar(select(EscalationFired.id).where(EscalationFired.ticket_id == ticket.id,
                                                       EscalationFired.step_key == key)) is not None:
        return False
    try:
        with savepoint(session):
            session.add(EscalationFired(ticket_id=ticket.id, step_key=key, at=now))
            session.flush()
    except IntegrityError:  # the unique index: another process fired it first
        return False
    return True


def _due(step: dict[str, Any], clock: sla.Clock) -> bool:
    if "pct" in step:
        return clock.pct >= step["pct"]
    over = clock.elapsed - timedelta(minutes=clock.target_min)
    return over > timedelta(0) and over >= timedelta(minutes=step["after_breach_min"])


def watch(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Evaluate every open ticket at `now`: SLA warnings and breaches to the timeline, due
    escalation steps run. Returns counts."""
    now = now or utcnow()
    counts = {"tickets": 0, "warnings": 0, "breaches": 0, "steps": 0}
    tickets = list(session.scalars(select(Ticket).where(Ticket.state.in_(OPEN_STATES))))
    pols = policies(session)
    for row in evaluate(session, tickets, now):
        t, clocks = row["ticket"], row["clocks"]
        counts["tickets"] += 1
        for name, clock in clocks.items():
            if clock.state == "met" or (name == "response" and t.responded_at is not None):
                continue
            if clock.state in ("warning", "breached") and _fire_once(session, t, f"warn:{name}", now):
                service.note(session, t, "sla_warning", "system", now,
                             text=f"{TARGETS[name]}时限已用 {clock.pct:.0f}%（时限 {clock.target_min} 分钟）",
                             target=name, pct=round(clock.pct, 1))
                counts["warnings"] += 1
            if clock.state == "breached" and _fire_once(session, t, f"breach:{name}", now):
                service.note(session, t, "sla_breached", "system", now,
                             text=f"{TARGETS[name]}超时（时限 {clock.target_min} 分钟）", target=name)
                counts["breaches"] += 1
        pol = pols[t.priority]
        if not pol.enabled:
            continue
        for step in pol.steps:
            clock = clocks[step["target"]]
            if step["target"] == "response" and t.responded_at is not None:
                continue
            if clock.state == "met" or not _due(step, clock):
                continue
            if _fire_once(session, t, step_key(step), now):
                _run(session, t, step, clock, now)
                counts["steps"] += 1
    session.flush()
    return counts


def _channels(session: Session, step: dict[str, Any]) -> list[int]:
    from cityops.notify.models import ChannelConfig

    if step.get("channels"):
        return list(step["channels"])
    configured = service.settings(session).channel_ids
    if configured:
        return list(configured)
    return list(session.scalars(select(ChannelConfig.id).where(ChannelConfig.enabled.is_(True))
                                .order_by(ChannelConfig.id)))


def _contact_of(session: Session, username: str | None):
    from cityops.duty.models import Contact

    if not username:
        return None
    return session.scalar(select(Contact).where(Contact.username == username, Contact.active.is_(True)).limit(1))


def _run(session: Session, t: Ticket, step: dict[str, Any], clock: sla.Clock, now: datetime) -> None:
    from cityops.duty.service import on_duty, team_manager
    from cityops.notify.direct import enqueue

    team = t.team_code or service.desk_team(session)
    key = step_key(step)
    when = describe(step)
    due = f"，应于 {fmt_local(clock.due_at, '%m-%d %H:%M')} 前" if clock.due_at else ""
    text = (f"工单 {t.number}「{t.title}」{t.priority}，{TARGETS[clock.target]}时限已用 {clock.pct:.0f}%{due}。"
            f"处理人：{t.assignee or '未分派'}")
    link = ("查看工单", f"/console/tickets/{t.id}")
    people: list = []
    if step["action"] == "notify":
        own = _contact_of(session, t.assignee)
        people = [own] if own else []
        if team:
            people += [c for _, c in on_duty(session, team=team, at=now) if c not in people]
        rows = enqueue(session, title=f"工单{TARGETS[clock.target]}时限提醒 {t.number}", text=text,
                       severity=SEVERITY[t.priority], channel_ids=_channels(session, step), contacts=people,
                       dedup_prefix=f"ticket:{t.id}:{key}", link=link, now=now)
        service.note(session, t, "notified", "system", now, text=f"{when}：通知 "
                     + ("、".join(c.name for c in people) or "（当前无人值班）"), step=step, messages=len(rows))
    elif step["action"] == "reassign":
        target = step.get("to")
        if not target and team:
            for shift, c in on_duty(session, team=team, at=now, role="leader"):
                if c.username:
                    target = c.username
                    break
        if target and target != t.assignee:
            before = t.assignee
            t.assignee = target
            if t.state == "new":
                t.state = "assigned"
            service.note(session, t, "reassigned", "system", now, to_state=t.state,
                         text=f"{when}：由 {before or '未分派'} 改派给 {target}", step=step, assignee=target,
                         previous=before)
        else:
            service.note(session, t, "reassigned", "system", now,
                         text=f"{when}：没有可改派的人（值班长不在岗或已是处理人）", step=step)
    else:
        t.escalation_level = max(t.escalation_level, step["level"])
        manager = team_manager(session, team) if team else None
        if manager is None and team:
            manager = next((c for _, c in on_duty(session, team=team, at=now, role="leader")), None)
        people = [manager] if manager else []
        rows = enqueue(session, title=f"工单升级（{step['level']} 级）{t.number}", text=text,
                       severity=SEVERITY[t.priority], channel_ids=_channels(session, step), contacts=people,
                       dedup_prefix=f"ticket:{t.id}:{key}", link=link, now=now)
        service.note(session, t, "escalated", "system", now,
                     text=f"{when}：升级至 {step['level']} 级，通知 {manager.name if manager else '（无负责人）'}",
                     step=step, level=step["level"], messages=len(rows))
