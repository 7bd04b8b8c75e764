"""Notification configuration and the notification log (IOT-5 / OPS-3): configured channels,
routing policies with their escalation chains, the outbox as a log, retry and test sends.

The engine that routes alarms and drains the outbox is `cityops.notify.engine`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityops.core import secret_settings
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.duty.models import Contact, Team
from cityops.monitoring.models import SEVERITIES
from cityops.notify import registry
from cityops.notify.base import Link, Notification, Recipient, SendResult
from cityops.notify.models import (
    ESCALATION_STATES,
    OUTBOX_STATES,
    ChannelConfig,
    Escalation,
    OutboxMessage,
    Policy,
)

MASK = secret_settings.MASK
TARGET_KINDS = ("team", "contact", "manager", "unit")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_STEPS = 10
MAX_REPEAT = 10
MAX_WAIT_MINUTES = 24 * 60


# -- channels --

def _secret_fields(kind: str) -> set[str]:
    return secret_settings.secret_fields(registry.get(kind).Settings)


def _validate_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Validate with the channel's own Settings; store plain JSON (secrets in clear: the
    database is the secret store here, as for connections)."""
    if kind not in registry.kinds():
        raise Invalid(f"未知的通知渠道类型 {kind!r}，应为以下之一：{'、'.join(registry.kinds())}")
    return secret_settings.validate(registry.get(kind).Settings, settings, what=kind)


def public_settings(channel: ChannelConfig) -> dict[str, Any]:
    """Settings as the API shows them: secrets replaced by a fixed mask."""
    return secret_settings.public(registry.get(channel.kind).Settings, channel.settings)


def list_channels(session: Session) -> list[ChannelConfig]:
    return list(session.scalars(select(ChannelConfig).order_by(ChannelConfig.kind, ChannelConfig.name)))


def get_channel(session: Session, channel_id: int) -> ChannelConfig:
    ch = session.get(ChannelConfig, channel_id)
    if ch is None:
        raise NotFound(f"通知渠道 {channel_id} 不存在")
    return ch


def create_channel(session: Session, *, kind: str, name: str, settings: dict[str, Any],
                   enabled: bool = True) -> ChannelConfig:
    name = name.strip()
    if not name:
        raise Invalid("通知渠道须有名称")
    if session.scalar(select(ChannelConfig.id).where(ChannelConfig.name == name)) is not None:
        raise Conflict(f"名为“{name}”的通知渠道已存在")
    ch = ChannelConfig(kind=kind, name=name, settings=_validate_settings(kind, settings), enabled=enabled)
    session.add(ch)
    session.flush()
    return ch


def update_channel(session: Session, channel_id: int, *, name: str | None = None,
                   settings: dict[str, Any] | None = None, enabled: bool | None = None) -> ChannelConfig:
    """`settings` replaces the old ones; a secret given as the mask (or left out) keeps its value."""
    ch = get_channel(session, channel_id)
    if name is not None and name.strip() != ch.name:
        if session.scalar(select(ChannelConfig.id).where(ChannelConfig.name == name.strip())) is not None:
            raise Conflict(f"名为“{name}”的通知渠道已存在")
        ch.name = name.strip()
    if settings is not None:
        merged = dict(settings)
        for key in _secret_fields(ch.kind):
            if merged.get(key) in (None, MASK) and ch.settings.get(key):
                merged[key] = ch.settings[key]
        ch.settings = _validate_settings(ch.kind, merged)
        ch.settings_rev += 1
    if enabled is not None:
        ch.enabled = enabled
    session.flush()
    return ch


def delete_channel(session: Session, channel_id: int) -> None:
    ch = get_channel(session, channel_id)
    used = [p.name for p in list_policies(session) if any(channel_id in s.get("channels", []) for s in p.steps)]
    if used:
        raise Conflict(f"通知渠道“{ch.name}”正被以下通知策略使用：{'、'.join(used)}；请改为停用该渠道")
    session.delete(ch)
    session.flush()


def send_test(session: Session, channel_id: int, *, contact_id: int | None = None, by: str = "") -> SendResult:
    """Send a test message now (not through the outbox): the operator waits for the answer."""
    ch = get_channel(session, channel_id)
    recipients = []
    if contact_id is not None:
        c = session.get(Contact, contact_id)
        if c is None:
            raise NotFound(f"联系人 {contact_id} 不存在")
        recipients.append(Recipient(c.name, phone=c.phone or None, email=c.email or None,
                                    wecom_userid=c.wecom_userid or None))
    note = Notification(title="城运平台通知渠道测试", severity="info", recipients=recipients,
                        text=f"这是一条测试消息，由 {by or '管理员'} 发起，用于确认“{ch.name}”渠道配置可用。无需处理。",
                        links=[Link("告警台", alarms_link())], dedup_key=f"test:{ch.id}:{utcnow().timestamp():.0f}")
    return registry.get(ch.kind).send(note, ch.settings)


def alarms_link() -> str:
    """Where the message points to. CITYOPS_PUBLIC_URL (the console's address as people
    reach it) makes the link absolute; without it the path alone is given."""
    from cityops.core.settings import get_settings

    base = get_settings().public_url.rstrip("/")
    return f"{base}/console/alarms"


# -- policies --

def _check_steps(session: Session, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not steps:
        raise Invalid("升级链至少需要一级")
    if len(steps) > MAX_STEPS:
        raise Invalid(f"升级链最多 {MAX_STEPS} 级")
    out = []
    for n, step in enumerate(steps, 1):
        targets = step.get("targets") or []
        channels = step.get("channels") or []
        wait = step.get("wait_minutes", 10)
        if not targets:
            raise Invalid(f"第 {n} 级：未指定通知对象")
        if not channels:
            raise Invalid(f"第 {n} 级：未指定通知渠道")
        if not isinstance(wait, int) or not 0 <= wait <= MAX_WAIT_MINUTES:
            raise Invalid(f"第 {n} 级：wait_minutes 须在 0–{MAX_WAIT_MINUTES} 之间")
        clean_targets = []
        for t in targets:
            kind = t.get("kind")
            if kind not in TARGET_KINDS:
                raise Invalid(f"第 {n} 级：通知对象类型 kind 应为以下之一：{'、'.join(TARGET_KINDS)}")
            if kind in ("team", "manager"):
                if not t.get("team") or session.get(Team, t["team"]) is None:
                    raise Invalid(f"第 {n} 级：未知的值班组 {t.get('team')!r}")
                clean_targets.append({"kind": kind, "team": t["team"]})
            elif kind == "contact":
                if not isinstance(t.get("contact_id"), int) or session.get(Contact, t["contact_id"]) is None:
                    raise Invalid(f"第 {n} 级：未知的联系人 {t.get('contact_id')!r}")
                clean_targets.append({"kind": kind, "contact_id": t["contact_id"]})
            else:  # the duty team(s) of the alarm's device's responsible unit
                clean_targets.append({"kind": "unit"})
        for cid in channels:
            if not isinstance(cid, int) or session.get(ChannelConfig, cid) is None:
                raise Invalid(f"第 {n} 级：未知的通知渠道 {cid!r}")
        out.append({"targets": clean_targets, "channels": list(dict.fromkeys(channels)), "wait_minutes": wait})
    return out


def _check_policy(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    if "name" in data and not (data["name"] or "").strip():
        raise Invalid("通知策略须有名称")
    for key in ("min_severity", "quiet_max_severity"):
        if key in data and data[key] not in SEVERITIES:
            raise Invalid(f"{key} 应为以下之一：{'、'.join(SEVERITIES)}")
    if "steps" in data:
        data["steps"] = _check_steps(session, data["steps"])
    if "repeat" in data and not 0 <= int(data["repeat"]) <= MAX_REPEAT:
        raise Invalid(f"repeat 须在 0–{MAX_REPEAT} 之间")
    qs, qe = data.get("quiet_start") or "", data.get("quiet_end") or ""
    if (qs or qe) and not (_HHMM.match(qs) and _HHMM.match(qe) and qs != qe):
        raise Invalid("静默时段须同时给出开始和结束时间（HH:MM 格式，两者不同），或都不填")
    if "alarm_type" in data:
        data["alarm_type"] = (data["alarm_type"] or "").strip()
    for key in ("street_code", "tag_id", "unit_id"):
        if key in data and data[key] in ("", 0):
            data[key] = None
    return data


POLICY_FIELDS = ("name", "position", "enabled", "min_severity", "alarm_type", "tag_id", "street_code", "unit_id",
                 "steps", "repeat", "quiet_start", "quiet_end", "quiet_max_severity")


def list_policies(session: Session) -> list[Policy]:
    return list(session.scalars(select(Policy).order_by(Policy.position, Policy.id)))


def get_policy(session: Session, policy_id: int) -> Policy:
    p = session.get(Policy, policy_id)
    if p is None:
        raise NotFound(f"通知策略 {policy_id} 不存在")
    return p


def _foreign_keys(session: Session, data: dict[str, Any]) -> None:
    from cityops.devices.models import Tag
    from cityops.geo.models import ResponsibleUnit, Street

    for key, model, label in (("tag_id", Tag, "设备标签"), ("street_code", Street, "街镇"),
                              ("unit_id", ResponsibleUnit, "责任单位")):
        if data.get(key) is not None and session.get(model, data[key]) is None:
            raise Invalid(f"未知的{label} {data[key]!r}")


def create_policy(session: Session, **fields: Any) -> Policy:
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise Invalid(f"未知的通知策略字段：{'、'.join(sorted(unknown))}")
    data = _check_policy(session, {"steps": [], **fields})
    _foreign_keys(session, data)
    if session.scalar(select(Policy.id).where(Policy.name == data["name"].strip())) is not None:
        raise Conflict(f"名为“{data['name']}”的通知策略已存在")
    data["name"] = data["name"].strip()
    p = Policy(**data)
    session.add(p)
    session.flush()
    _reroute_unrouted(session)
    return p


def _reroute_unrouted(session: Session) -> None:
    """Alarms that found no policy are routed again on the next run: a policy added or
    changed while they are open may now cover them."""
    session.execute(delete(Escalation).where(Escalation.state == "unrouted"))


def update_policy(session: Session, policy_id: int, **fields: Any) -> Policy:
    p = get_policy(session, policy_id)
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise Invalid(f"未知的通知策略字段：{'、'.join(sorted(unknown))}")
    merged_quiet = {"quiet_start": fields.get("quiet_start", p.quiet_start),
                    "quiet_end": fields.get("quiet_end", p.quiet_end)}
    data = _check_policy(session, {**fields, **merged_quiet})
    _foreign_keys(session, data)
    if "name" in data:
        data["name"] = data["name"].strip()
        other = session.scalar(select(Policy.id).where(Policy.name == data["name"], Policy.id != policy_id))
        if other is not None:
            raise Conflict(f"名为“{data['name']}”的通知策略已存在")
    for k, v in data.items():
        setattr(p, k, v)
    session.flush()
    _reroute_unrouted(session)
    return p


def delete_policy(session: Session, policy_id: int) -> None:
    session.delete(get_policy(session, policy_id))
    session.flush()


# -- the notification log --

def list_log(session: Session, *, state: str | None = None, alarm_id: int | None = None,
             channel_kind: str | None = None, since: datetime | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[OutboxMessage], int]:
    if state and state not in OUTBOX_STATES:
        raise Invalid(f"state 应为以下之一：{'、'.join(OUTBOX_STATES)}")
    if since is not None and since.tzinfo is None:
        raise Invalid("since 须带时区（UTC 偏移）")
    q = select(OutboxMessage)
    if state:
        q = q.where(OutboxMessage.state == state)
    if alarm_id:
        q = q.where(OutboxMessage.alarm_id == alarm_id)
    if channel_kind:
        q = q.where(OutboxMessage.channel_kind == channel_kind)
    if since:
        q = q.where(OutboxMessage.created_at >= since)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                           .limit(limit).offset(offset)).all()
    return list(rows), total


def state_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    return {s: dict(rows).get(s, 0) for s in OUTBOX_STATES}


def retry(session: Session, message_id: int, *, now: datetime | None = None) -> OutboxMessage:
    """Send a failed message again: a fresh set of attempts, due at once."""
    m = session.get(OutboxMessage, message_id)
    if m is None:
        raise NotFound(f"通知消息 {message_id} 不存在")
    if m.state != "failed":
        raise Conflict(f"通知消息 {message_id} 的状态为 {m.state}，只有发送失败（failed）的才能重发")
    if m.channel_id is None:
        raise Conflict(f"通知消息 {message_id} 没有通知渠道（无人可达或渠道已删除），请改为调整排班或通知策略")
    m.state, m.attempts, m.next_attempt_at = "pending", 0, now or utcnow()
    session.flush()
    return m


def list_escalations(session: Session, *, state: str | None = "active", alarm_id: int | None = None,
                     limit: int = 100) -> list[Escalation]:
    """Where alarms' escalation chains stand (active ones by default), next due first."""
    if state and state not in ESCALATION_STATES:
        raise Invalid(f"state 应为以下之一：{'、'.join(ESCALATION_STATES)}")
    q = select(Escalation)
    if state:
        q = q.where(Escalation.state == state)
    if alarm_id:
        q = q.where(Escalation.alarm_id == alarm_id)
    return list(session.scalars(q.order_by(Escalation.next_at, Escalation.alarm_id).limit(limit)))
