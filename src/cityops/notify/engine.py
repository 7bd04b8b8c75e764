"""The notification engine (IOT-5 / OPS-3): routes new alarms to a policy, walks each alarm's
escalation chain, writes outbox rows, and delivers them through the channel registry.

Everything lives in the database (per-alarm `Escalation` rows, `OutboxMessage` rows), so
any process can continue after a restart and a step is never sent twice (unique dedup
key, written in the same transaction as the step). Every function takes `now`, so tests
drive time exactly. Alarms are read, never written: acknowledging and clearing are the
monitoring service's business; here they only stop the chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from cityops.core import retry
from cityops.core.timeutil import SHANGHAI, fmt_local, local
from cityops.devices.models import Device, device_tags
from cityops.duty import service as duty
from cityops.duty.models import Contact, Team
from cityops.geo.models import Street
from cityops.monitoring.models import SEVERITIES, Alarm
from cityops.notify import registry
from cityops.notify.base import Link, Notification, Recipient, SendResult, Severity
from cityops.notify.models import ChannelConfig, Escalation, OutboxMessage, Policy
from cityops.notify.service import alarms_link

log = logging.getLogger(__name__)

ROUTE_WINDOW = timedelta(hours=24)  # older alarms found without state (e.g. at first install) are not paged
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
LEASE = timedelta(minutes=2)  # longer than any channel's timeout
TYPE_LABELS = {"offline": "设备离线", "silent": "仅心跳无业务数据", "flapping": "设备频繁上下线"}
ADDRESS = {"sms": "phone", "voice": "phone", "email": "email"}
GROUP_KINDS = {"wecom"}  # the robot posts into its group; recipients are @-mentioned


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 2 min, 4 min … capped at 30 min."""
    return retry.backoff(attempts, BACKOFF_BASE, BACKOFF_MAX)


@dataclass
class AlarmContext:
    alarm: Alarm
    device: Device | None
    street_name: str = ""
    tag_ids: set[int] = field(default_factory=set)


def context(session: Session, alarm: Alarm) -> AlarmContext:
    device = session.get(Device, alarm.device_id)
    street = session.get(Street, device.street_code) if device and device.street_code else None
    tags = set(session.scalars(select(device_tags.c.tag_id).where(device_tags.c.device_id == alarm.device_id)))
    return AlarmContext(alarm, device, street.name if street else "", tags)


# -- routing --

def matches(policy: Policy, ctx: AlarmContext) -> bool:
    a, d = ctx.alarm, ctx.device
    if not policy.enabled or rank(a.severity) < rank(policy.min_severity):
        return False
    if policy.alarm_type and policy.alarm_type != a.alarm_type:
        return False
    if policy.tag_id is not None and policy.tag_id not in ctx.tag_ids:
        return False
    if policy.street_code and (d is None or d.street_code != policy.street_code):
        return False
    if policy.unit_id is not None and (d is None or d.unit_id != policy.unit_id):
        return False
    return bool(policy.steps)


def match_policy(session: Session, ctx: AlarmContext, policies: list[Policy] | None = None) -> Policy | None:
    """The first matching policy by position: put specific rules before general ones."""
    from cityops.notify.service import list_policies

    return next((p for p in (list_policies(session) if policies is None else policies) if matches(p, ctx)), None)


def quiet_until(policy: Policy, severity: str, at: datetime) -> datetime | None:
    """End of the policy's quiet hours (UTC) when `at` falls inside them and the severity is
    low enough to wait; else None."""
    if not (policy.quiet_start and policy.quiet_end) or rank(severity) > rank(policy.quiet_max_severity):
        return None
    t = local(at)
    start, end = time.fromisoformat(policy.quiet_start), time.fromisoformat(policy.quiet_end)
    now = t.time().replace(tzinfo=None)
    inside = start <= now < end if start < end else (now >= start or now < end)  # may span midnight
    if not inside:
        return None
    until = datetime.combine(t.date(), end, tzinfo=SHANGHAI)
    if until <= t:
        until += timedelta(days=1)
    return until.astimezone(at.tzinfo)


def route_new(session: Session, *, now: datetime, limit: int = 200) -> int:
    """Give every new open, unsuppressed alarm its escalation state (or 'unrouted')."""
    has_state = exists().where(Escalation.alarm_id == Alarm.id)
    alarms = session.scalars(select(Alarm).where(Alarm.state == "active", Alarm.suppressed.is_(False), ~has_state,
                                                 Alarm.last_at >= now - ROUTE_WINDOW)
                             .order_by(Alarm.id).limit(limit)).all()
    from cityops.notify.service import list_policies

    policies = list_policies(session) if alarms else []
    for alarm in alarms:
        policy = match_policy(session, context(session, alarm), policies)
        if policy is None:
            session.add(Escalation(alarm_id=alarm.id, state="unrouted", stop_reason="没有匹配的通知策略",
                                   created_at=now, updated_at=now))
            continue
        session.add(Escalation(alarm_id=alarm.id, policy_id=policy.id, state="active", next_at=now,
                               created_at=now, updated_at=now))
    session.flush()
    return len(alarms)


# -- stopping --

def stop_finished(session: Session, *, now: datetime) -> int:
    """Acknowledged, cleared or (newly) suppressed alarms stop their chain; their pending
    messages are cancelled."""
    rows = session.execute(select(Escalation, Alarm).join(Alarm, Alarm.id == Escalation.alarm_id).where(
        Escalation.state == "active", or_(Alarm.state != "active", Alarm.suppressed.is_(True)))).all()
    for esc, alarm in rows:
        reason = {"acknowledged": f"告警已确认（{alarm.acked_by}）", "cleared": "告警已清除"}.get(
            alarm.state, "告警已被抑制")
        _stop(session, esc, reason, now)
    session.flush()
    return len(rows)


def _stop(session: Session, esc: Escalation, reason: str, now: datetime) -> None:
    esc.state, esc.next_at, esc.stop_reason, esc.updated_at = "stopped", None, reason[:128], now
    session.execute(update(OutboxMessage).where(OutboxMessage.alarm_id == esc.alarm_id,
                                                OutboxMessage.state == "pending")
                    .values(state="cancelled", last_error=f"已取消：{reason}", next_attempt_at=None))


# -- escalation steps --

def type_label(ctx: AlarmContext) -> str:
    """Chinese name of the alarm type: liveness types, else the product's event name (物模型)."""
    a = ctx.alarm
    if a.alarm_type in TYPE_LABELS:
        return TYPE_LABELS[a.alarm_type]
    events = ctx.device.product.events if ctx.device is not None and ctx.device.product is not None else []
    return next((e.get("name") for e in events if e.get("identifier") == a.alarm_type and e.get("name")), "设备告警")


def message(ctx: AlarmContext, *, step: int, round_no: int) -> dict[str, Any]:
    """The Chinese alarm message every channel renders (title, text, severity, links)."""
    a, d = ctx.alarm, ctx.device
    sev = Severity(a.severity)
    kind = type_label(ctx)
    what = a.message or kind
    name = d.name if d else f"设备 #{a.device_id}"
    lines = [f"设备：{name}" + (f"（{d.code}）" if d else ""),
             f"街镇：{ctx.street_name or '未关联街镇'}" + (f"　地址：{d.address}" if d and d.address else ""),
             f"级别：{sev.label}",
             f"告警：{what}",
             f"首次发生：{fmt_local(a.first_at)}（北京时间 +08:00）"]
    if a.count > 1:
        lines.append(f"累计次数：{a.count}")
    if step or round_no:
        lines.append(f"升级通知：第 {round_no + 1} 轮第 {step + 1} 级（此前通知未获确认）")
    lines.append("请及时登录城运平台告警台确认处理。")
    return {"title": f"{kind}：{name}", "text": "\n".join(lines),
            "severity": sev.value, "links": [{"title": "打开告警台", "url": alarms_link()}]}


def recipients(session: Session, step: dict[str, Any], ctx: AlarmContext,
               at: datetime) -> tuple[list[Contact], list[str]]:
    """The contacts a step reaches now, and notes on targets that reached nobody."""
    found: dict[int, Contact] = {}
    gaps: list[str] = []
    for t in step.get("targets", []):
        people: list[Contact] = []
        if t["kind"] == "team":
            people = [c for _, c in duty.on_duty(session, team=t["team"], at=at)]
            if not people:
                gaps.append(f"{_team_name(session, t['team'])} 当前无人值班")
        elif t["kind"] == "contact":
            c = session.get(Contact, t["contact_id"])
            if c is not None and c.active:
                people = [c]
            else:
                gaps.append(f"联系人 #{t['contact_id']} 不存在或已停用")
        elif t["kind"] == "manager":
            manager = duty.team_manager(session, t["team"])
            people = [manager] if manager else [c for _, c in duty.on_duty(session, team=t["team"], at=at,
                                                                             role="leader")]
            if not people:
                gaps.append(f"{_team_name(session, t['team'])} 未设负责人且无值班长在岗")
        elif t["kind"] == "unit":
            unit_id = ctx.device.unit_id if ctx.device else None
            teams = duty.teams_of_unit(session, unit_id) if unit_id else []
            people = [c for code in teams for _, c in duty.on_duty(session, team=code, at=at)]
            if not people:
                gaps.append("设备责任单位当前无人值班" if unit_id else "设备未关联责任单位")
        for c in people:
            found.setdefault(c.id, c)
    return list(found.values()), gaps


def _team_name(session: Session, code: str) -> str:
    team = session.get(Team, code)
    return team.name if team else f"值班组 {code}"


def recipient_payload(c: Contact) -> dict[str, Any]:
    return {"name": c.name, "phone": c.phone or None, "email": c.email or None,
            "wecom_userid": c.wecom_userid or None}


def write_step(session: Session, esc: Escalation, policy: Policy, ctx: AlarmContext, now: datetime) -> int:
    """Outbox rows for the current step: one per recipient × personal channel (SMS, e-mail,
    voice), one per group channel (WeCom robot) mentioning all recipients. Rows that exist
    already (same dedup key) are not written again. Returns how many messages the step has."""
    step = policy.steps[esc.step]
    people, gaps = recipients(session, step, ctx, now)
    body = message(ctx, step=esc.step, round_no=esc.repeats_done)
    prefix = f"alarm:{esc.alarm_id}:r{esc.repeats_done}:s{esc.step}"
    existing = set(session.scalars(select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.like(prefix + ":%"))))
    channels = {c.id: c for c in session.scalars(select(ChannelConfig).where(ChannelConfig.id.in_(step["channels"])))}
    written = 0
    for cid in step["channels"]:
        ch = channels.get(cid)
        if ch is None:
            gaps.append(f"渠道 #{cid} 已删除")
            continue
        if ch.kind in GROUP_KINDS:
            # A group robot posts into one group chat: one message @-mentioning everyone,
            # not one identical post per person.
            if f"{prefix}:group:ch{cid}" in existing:
                written += 1  # written before: the step is never sent twice
            elif people:
                names = "、".join(c.name for c in people)
                session.add(OutboxMessage(dedup_key=f"{prefix}:group:ch{cid}", alarm_id=esc.alarm_id, channel_id=cid,
                                          channel_kind=ch.kind, recipient_name=names[:64], step=esc.step,
                                          round_no=esc.repeats_done, state="pending", next_attempt_at=now,
                                          payload={**body, "recipients": [recipient_payload(c) for c in people]},
                                          contact_id=people[0].id if len(people) == 1 else None, created_at=now))
                written += 1
            continue
        for c in people:
            key = f"{prefix}:c{c.id}:ch{cid}"
            if key in existing:
                written += 1
                continue
            field_ = ADDRESS.get(ch.kind)
            if field_ and not getattr(c, field_):
                gaps.append(f"{c.name} 没有{'手机号' if field_ == 'phone' else '邮箱'}，无法通过{ch.name}通知")
                continue
            session.add(OutboxMessage(dedup_key=key, alarm_id=esc.alarm_id, channel_id=cid, channel_kind=ch.kind,
                                      contact_id=c.id, recipient_name=c.name, step=esc.step, round_no=esc.repeats_done,
                                      payload={**body, "recipients": [recipient_payload(c)]}, state="pending",
                                      next_attempt_at=now, created_at=now))
            written += 1
    if gaps and f"{prefix}:gaps" not in existing:
        # Nobody to call is itself worth seeing in the log, as a failed row.
        session.add(OutboxMessage(dedup_key=f"{prefix}:gaps", alarm_id=esc.alarm_id, channel_kind="-",
                                  recipient_name="（未送达）", step=esc.step, round_no=esc.repeats_done, payload=body,
                                  state="failed", last_error="；".join(gaps)[:2000], created_at=now))
    return written


def advance_due(session: Session, *, now: datetime, limit: int = 200) -> int:
    """Run every escalation step that is due: quiet hours hold it, otherwise write its
    messages and schedule the next step (or the next round, or finish)."""
    q = (select(Escalation).where(Escalation.state == "active", Escalation.next_at <= now)
         .order_by(Escalation.next_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    done = 0
    for esc in session.scalars(q).all():
        alarm = session.get(Alarm, esc.alarm_id)
        policy = session.get(Policy, esc.policy_id) if esc.policy_id else None
        if alarm is None or alarm.state != "active" or alarm.suppressed:
            continue  # stop_finished handles it
        if policy is None or not policy.steps:
            _stop(session, esc, "通知策略已删除", now)
            continue
        held = quiet_until(policy, alarm.severity, now)
        if held is not None:
            esc.next_at, esc.held_until, esc.updated_at = held, held, now
            continue
        esc.held_until = None
        if esc.step >= len(policy.steps):  # the policy lost steps meanwhile
            esc.step = 0
        ctx = context(session, alarm)
        written = write_step(session, esc, policy, ctx, now)
        wait = timedelta(minutes=policy.steps[esc.step]["wait_minutes"])
        if written == 0:
            wait = timedelta(0)  # nobody was reached: go on to the next step at once
        if esc.step + 1 < len(policy.steps):
            esc.step += 1
            esc.next_at = now + wait
        elif esc.repeats_done < policy.repeat:
            esc.step, esc.repeats_done = 0, esc.repeats_done + 1
            esc.next_at = now + max(wait, timedelta(minutes=1))  # never a tight loop
        else:
            esc.state, esc.next_at, esc.stop_reason = "done", None, "通知链已走完，告警仍未确认"
        esc.updated_at = now
        done += 1
    session.flush()
    return done


def escalate(session: Session, *, now: datetime) -> dict[str, int]:
    """One pass of the first half of the job: route, stop, advance."""
    return {"routed": route_new(session, now=now), "stopped": stop_finished(session, now=now),
            "advanced": advance_due(session, now=now)}


# -- delivery --

def notification(m: OutboxMessage) -> Notification:
    p = m.payload
    return Notification(title=p["title"], text=p["text"], severity=p.get("severity", "info"),
                        recipients=[Recipient(r.get("name", ""), phone=r.get("phone"), email=r.get("email"),
                                              wecom_userid=r.get("wecom_userid")) for r in p.get("recipients", [])],
                        links=[Link(x["title"], x["url"]) for x in p.get("links", [])], dedup_key=m.dedup_key)


@dataclass
class Claimed:
    """A message taken for sending, with everything the send needs (no session required)."""

    id: int
    kind: str
    settings: dict[str, Any]
    notification: Notification


def claim_due(session: Session, *, now: datetime, limit: int = 20) -> list[Claimed]:
    """Take due pending messages for sending: a short transaction that leases them (pushes
    `next_attempt_at` by LEASE, so another process — or this one after a crash — picks them up
    again only if no outcome was recorded). Messages of closed alarms are cancelled, messages of
    deleted or disabled channels fail here."""
    q = (select(OutboxMessage).where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
         .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    claimed = []
    for m in session.scalars(q).all():
        alarm = session.get(Alarm, m.alarm_id) if m.alarm_id else None
        if alarm is not None and (alarm.state != "active" or alarm.suppressed):
            m.state, m.next_attempt_at, m.last_error = "cancelled", None, "已取消：告警已确认、清除或抑制"
            continue
        ch = session.get(ChannelConfig, m.channel_id) if m.channel_id else None
        if ch is None or not ch.enabled:
            m.state, m.next_attempt_at = "failed", None
            m.last_error = "通知渠道已删除" if ch is None else f"通知渠道“{ch.name}”已停用"
            continue
        m.next_attempt_at = now + LEASE
        claimed.append(Claimed(m.id, ch.kind, dict(ch.settings), notification(m)))
    session.flush()
    return claimed


def send(c: Claimed) -> SendResult:
    """Deliver once through the channel registry, outside any transaction."""
    try:
        return registry.get(c.kind).send(c.notification, c.settings)
    except Exception as exc:  # a bug or bad stored settings must not stop the other messages
        log.exception("notify: channel %s raised", c.kind)
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:2000], retryable=False)


def record(session: Session, c: Claimed, result: SendResult, *, now: datetime) -> str:
    """Store the outcome: sent; retryable → again after backoff(attempts); else (or after
    MAX_ATTEMPTS) failed. Returns the new state."""
    m = session.get(OutboxMessage, c.id)
    if m is None or m.state != "pending":
        return m.state if m else "gone"  # retried, cancelled or deleted meanwhile
    m.attempts += 1
    if result.ok:
        m.state, m.sent_at, m.next_attempt_at, m.last_error = "sent", now, None, ""
        m.provider_message_id = (result.provider_message_id or "")[:128]
    elif result.retryable and m.attempts < MAX_ATTEMPTS:
        m.next_attempt_at, m.last_error = now + backoff(m.attempts), (result.error or "临时失败")[:2000]
    else:
        m.state, m.next_attempt_at = "failed", None
        suffix = f"（已重试 {m.attempts} 次）" if result.retryable else ""
        m.last_error = ((result.error or "发送失败") + suffix)[:2000]
    session.flush()
    return m.state


def escalation_of(session: Session, alarm_id: int) -> Escalation | None:
    return session.get(Escalation, alarm_id)

