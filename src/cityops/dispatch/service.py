"""The dispatch link (IOT-7 / SYS-DISPATCH): configured platforms, and dispatching an event —
the state change, the work order and its outbox message in one transaction.

Sending happens later in `dispatch/outbox.py` (the job `dispatch.deliver`, woken at once
after commit); results come back through `dispatch/results.py`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core import secret_settings
from cityops.core.bus import bus
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.dispatch.adapters import registry
from cityops.dispatch.adapters.base import WorkOrder as WireOrder
from cityops.dispatch.models import (
    DispatchOutbox,
    DispatchPlatform,
    DispatchUpdate,
    PlatformState,
    WorkOrder,
)
from cityops.events import lifecycle
from cityops.events import service as events
from cityops.events.models import CityEvent, EventAttachment, EventCategory
from cityops.geo.models import ResponsibleUnit

QUEUED_TOPIC = "dispatch.queued"  # published after commit when outbox rows were written
FIELDS = ("name", "kind", "settings", "callback_secret", "callback_base_url", "enabled", "is_default",
          "poll_interval_s", "status_check_after_min")


# -- platforms ----------------------------------------------------------------------------

def list_platforms(session: Session) -> list[DispatchPlatform]:
    return list(session.scalars(select(DispatchPlatform).order_by(DispatchPlatform.id)))


def get_platform(session: Session, platform_id: int) -> DispatchPlatform:
    p = session.get(DispatchPlatform, platform_id)
    if p is None:
        raise NotFound(f"派单平台 {platform_id} 不存在")
    return p


def state_of(session: Session, platform_id: int) -> PlatformState:
    st = session.get(PlatformState, platform_id)
    if st is None:
        st = PlatformState(platform_id=platform_id, breaker="closed", failures=0, opened_count=0, last_error="",
                           last_poll_error="")
        session.add(st)
        session.flush()
    return st


def public_settings(p: DispatchPlatform) -> dict[str, Any]:
    return secret_settings.public(registry.get(p.kind).Settings, p.settings)


def _check(session: Session, values: dict[str, Any], current: DispatchPlatform | None) -> None:
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            raise Invalid("派单平台须填写名称")
        clash = session.scalar(select(DispatchPlatform.id).where(DispatchPlatform.name == values["name"]))
        if clash is not None and (current is None or clash != current.id):
            raise Conflict(f"已存在名为 {values['name']!r} 的派单平台")
    if "poll_interval_s" in values and not 5 <= int(values["poll_interval_s"]) <= 3600:
        raise Invalid("poll_interval_s 须在 5–3600 秒之间")
    if "status_check_after_min" in values and not 1 <= int(values["status_check_after_min"]) <= 7 * 24 * 60:
        raise Invalid("status_check_after_min 须在 1 分钟到一周之间")
    url = values.get("callback_base_url")
    if url and not url.startswith(("http://", "https://")):
        raise Invalid("callback_base_url 须以 http:// 或 https:// 开头")


def create_platform(session: Session, *, name: str, kind: str, settings: dict[str, Any],
                    callback_secret: str | None = None, **options: Any) -> DispatchPlatform:
    if kind not in registry.kinds():
        raise Invalid(f"未知的平台类型 {kind!r}；应为以下之一：{'、'.join(registry.kinds())}")
    unknown = set(options) - set(FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    values = {"name": name, **options}
    _check(session, values, None)
    model = registry.get(kind).Settings
    p = DispatchPlatform(kind=kind, settings=secret_settings.validate(model, settings, what=kind),
                         callback_secret=callback_secret or secrets.token_urlsafe(24), **values)
    session.add(p)
    session.flush()
    if p.is_default or len(list_platforms(session)) == 1:
        _make_default(session, p)
    return p


def update_platform(session: Session, platform_id: int, **changes: Any) -> DispatchPlatform:
    p = get_platform(session, platform_id)
    unknown = set(changes) - set(FIELDS) - {"kind"}
    if unknown or changes.get("kind", p.kind) != p.kind:
        raise Invalid("派单平台的类型不能修改；请另建一个平台" if not unknown
                      else f"未知字段：{'、'.join(sorted(unknown))}")
    changes.pop("kind", None)
    _check(session, changes, p)
    if "settings" in changes:
        model = registry.get(p.kind).Settings
        changes["settings"] = secret_settings.validate(model, changes["settings"], what=p.kind, previous=p.settings)
    if changes.get("callback_secret") in ("", secret_settings.MASK):
        changes.pop("callback_secret")
    make_default = changes.pop("is_default", None)
    for k, v in changes.items():
        setattr(p, k, v)
    if make_default:
        _make_default(session, p)
    elif make_default is False:
        p.is_default = False
    session.flush()
    return p


def _make_default(session: Session, p: DispatchPlatform) -> None:
    for other in list_platforms(session):
        other.is_default = other.id == p.id
    session.flush()


def delete_platform(session: Session, platform_id: int) -> None:
    p = get_platform(session, platform_id)
    if session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.platform_id == p.id)):
        raise Conflict(f"平台“{p.name}”已有工单，不能删除；可停用")
    session.delete(p)
    session.flush()


def default_platform(session: Session) -> DispatchPlatform | None:
    return session.scalar(select(DispatchPlatform).where(DispatchPlatform.enabled.is_(True))
                          .order_by(DispatchPlatform.is_default.desc(), DispatchPlatform.id))


def callback_url(p: DispatchPlatform) -> str | None:
    """Where the platform posts results: the platform's callback base, else CITYOPS_PUBLIC_URL."""
    from cityops.core.settings import get_settings

    base = (p.callback_base_url or get_settings().public_url or "").rstrip("/")
    return f"{base}/hooks/dispatch/{p.id}" if base else None


def adapter_of(p: DispatchPlatform):
    return registry.create(p.kind, p.settings)


# -- dispatching ----------------------------------------------------------------------------

def queued_after_commit(session: Session) -> None:
    """Wake the deliverer once the outbox rows are committed (never for a rolled-back one)."""
    if not sa_event.contains(session, "after_commit", _announce):
        sa_event.listen(session, "after_commit", _announce, once=True)


def _announce(session: Session) -> None:
    bus.publish(QUEUED_TOPIC, {})


def wire_order(session: Session, ev: CityEvent, order: WorkOrder, p: DispatchPlatform) -> WireOrder:
    """What the platform is told: the event as it is now (photos as console links)."""
    cat = session.get(EventCategory, ev.category_id)
    unit = session.get(ResponsibleUnit, order.unit_id) if order.unit_id else None
    from cityops.core.settings import get_settings

    base = get_settings().public_url.rstrip("/")
    photos = [] if not base else [
        f"{base}/console/events/{ev.id}/attachments/{a.id}" for a in session.scalars(
            select(EventAttachment).where(EventAttachment.event_id == ev.id,
                                          EventAttachment.content_type.like("image/%")).order_by(EventAttachment.id))]
    return WireOrder(idempotency_key=order.idempotency_key, event_no=ev.number, category_code=cat.code,
                     category_name=events.category_path(session, cat), title=ev.title, description=ev.description,
                     lon=ev.lon, lat=ev.lat, address=ev.address or None, street_code=ev.street_code,
                     unit_code=unit.code if unit else None, severity=ev.severity, reported_at=ev.reported_at,
                     attachments=photos, callback_url=callback_url(p))


def payload_of(wire: WireOrder) -> dict[str, Any]:
    data = asdict(wire)
    data["reported_at"] = wire.reported_at.isoformat() if wire.reported_at else None
    return data


def wire_from_payload(payload: dict[str, Any]) -> WireOrder:
    data = dict(payload)
    if data.get("reported_at"):
        data["reported_at"] = datetime.fromisoformat(data["reported_at"])
    return WireOrder(**data)


def dispatch_event(session: Session, event_id: int, *, actor: str, role: str = "system", scope: str | None = None,
                   platform_id: int | None = None, reason: str = "", now: datetime | None = None) -> WorkOrder | None:
    """Dispatch an accepted event: route it if it has no responsible unit, move it to
    dispatched, and queue its work order — all in the caller's transaction. Without an
    enabled platform the event is dispatched offline (by phone): no work order, said in the
    timeline. Returns the work order (None when offline)."""
    from cityops.events import routing

    now = now or utcnow()
    ev = events.get_event(session, event_id, scope=scope)
    if ev.state != "accepted":
        raise Conflict(f"事件 {ev.number} 当前状态为 {lifecycle.STATE_LABELS.get(ev.state, ev.state)}，"
                       "只有已立案的事件可以派遣")
    lifecycle.authorize(ev.state, "dispatched", role)  # before routing changes anything
    p = get_platform(session, platform_id) if platform_id is not None else default_platform(session)
    if p is not None and not p.enabled:
        raise Conflict(f"派单平台“{p.name}”已停用")
    if p is not None and ev.lon is None and not ev.address:
        raise Invalid(f"事件 {ev.number} 没有位置或地址，派单平台无法受理；请先补充地址")
    if ev.unit_id is None:
        routing.assign(session, ev.id, actor=actor, scope=scope)
    details: dict[str, Any] = {"platform": p.name if p else None}
    if p is None:
        details["offline"] = True
        reason = reason or "未配置在用的派单平台：线下（电话）派遣"
    lifecycle.transition(session, ev.id, "dispatched", actor=actor, role=role, reason=reason, at=now,
                         scope=scope, details=details)
    if p is None:
        return None
    seq = (session.scalar(select(func.max(WorkOrder.seq)).where(WorkOrder.event_id == ev.id)) or 0) + 1
    order = WorkOrder(event_id=ev.id, platform_id=p.id, seq=seq, idempotency_key=f"{ev.number}/{seq}",
                      unit_id=ev.unit_id, state="pending", created_by=actor, created_at=now)
    session.add(order)
    session.flush()
    session.add(DispatchOutbox(event_id=ev.id, order_id=order.id, platform_id=p.id, action="submit",
                               payload=payload_of(wire_order(session, ev, order, p)), state="pending",
                               next_attempt_at=now, created_by=actor, created_at=now))
    session.flush()
    queued_after_commit(session)
    return order


def move(session: Session, event_id: int, to: str, *, actor: str, role: str, reason: str = "",
         scope: str | None = None) -> CityEvent:
    """A state change asked for by a person: 派遣 goes through `dispatch_event` (so it always
    queues the work order), everything else straight to the lifecycle."""
    ev = events.get_event(session, event_id, scope=scope)
    if to == "dispatched" and ev.state == "accepted":
        dispatch_event(session, event_id, actor=actor, role=role, scope=scope, reason=reason)
        return ev
    return lifecycle.transition(session, event_id, to, actor=actor, role=role, reason=reason, scope=scope)


# -- reading ----------------------------------------------------------------------------------

def orders_of(session: Session, event_id: int) -> list[WorkOrder]:
    return list(session.scalars(select(WorkOrder).where(WorkOrder.event_id == event_id).order_by(WorkOrder.seq)))


def current_order(session: Session, event_id: int) -> WorkOrder | None:
    return session.scalar(select(WorkOrder).where(WorkOrder.event_id == event_id)
                          .order_by(WorkOrder.seq.desc()).limit(1))


def outbox_of(session: Session, event_id: int) -> list[DispatchOutbox]:
    return list(session.scalars(select(DispatchOutbox).where(DispatchOutbox.event_id == event_id)
                                .order_by(DispatchOutbox.id)))


def updates_of(session: Session, event_id: int) -> list[DispatchUpdate]:
    return list(session.scalars(select(DispatchUpdate).where(DispatchUpdate.event_id == event_id)
                                .order_by(DispatchUpdate.at, DispatchUpdate.id)))


def stuck(session: Session, *, now: datetime | None = None, limit: int = 200) -> list[DispatchOutbox]:
    """What has not gone out: failed messages, and pending ones already tried at least once
    or waiting longer than a minute — oldest first."""
    now = now or utcnow()
    q = (select(DispatchOutbox).where(
        (DispatchOutbox.state == "failed")
        | ((DispatchOutbox.state == "pending")
           & ((DispatchOutbox.attempts > 0) | (DispatchOutbox.created_at < now - timedelta(minutes=1)))))
        .order_by(DispatchOutbox.created_at, DispatchOutbox.id).limit(limit))
    return list(session.scalars(q))


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(DispatchOutbox.state, func.count()).group_by(DispatchOutbox.state)).all()
    return {state: n for state, n in rows}
