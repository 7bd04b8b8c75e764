"""Dispatch link API (IOT-7 / SYS-DISPATCH): platforms, dispatching an event, its work
orders and the platform's updates, and the outbox — what is stuck, retry, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.schemas import LocalTime, Out
from cityops.dispatch import outbox, service
from cityops.dispatch.adapters import registry
from cityops.dispatch.models import DispatchOutbox, DispatchPlatform
from cityops.events import service as events

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Ops = Annotated[Principal, Depends(require("admin", "manager", "duty"))]
Admin = Annotated[Principal, Depends(require("admin", "manager"))]
Staff = Annotated[Principal, Depends(require("admin", "manager", "duty", "technician", "auditor"))]


class PlatformIn(BaseModel):
    name: str = Field(..., max_length=64)
    kind: str = "open311"
    settings: dict[str, Any]
    callback_secret: str | None = Field(None, max_length=128, description="empty: generated")
    callback_base_url: str = Field("", max_length=256)
    enabled: bool = True
    is_default: bool = False
    poll_interval_s: int = 60
    status_check_after_min: int = 30


class PlatformPatch(BaseModel):
    name: str | None = Field(None, max_length=64)
    settings: dict[str, Any] | None = None
    callback_secret: str | None = Field(None, max_length=128)
    callback_base_url: str | None = Field(None, max_length=256)
    enabled: bool | None = None
    is_default: bool | None = None
    poll_interval_s: int | None = None
    status_check_after_min: int | None = None


class BreakerOut(Out):
    breaker: str
    failures: int
    open_until: LocalTime | None = None
    last_error: str
    last_success_at: LocalTime | None = None
    last_failure_at: LocalTime | None = None
    poll_cursor: LocalTime | None = None
    last_poll_at: LocalTime | None = None
    last_poll_error: str


class PlatformOut(Out):
    id: int
    name: str
    kind: str
    label: str
    settings: dict[str, Any]
    callback_url: str | None
    callback_secret_set: bool
    enabled: bool
    is_default: bool
    poll_interval_s: int
    status_check_after_min: int
    state: BreakerOut


class OrderOut(Out):
    id: int
    event_id: int
    platform_id: int
    seq: int
    idempotency_key: str
    external_id: str | None
    state: str
    raw_status: str
    notice: str
    result_text: str
    result_unit_code: str
    result_unit_name: str
    created_by: str
    created_at: LocalTime
    submitted_at: LocalTime | None
    last_update_at: LocalTime | None
    disposed_at: LocalTime | None


class MessageOut(Out):
    id: int
    event_id: int
    order_id: int
    platform_id: int
    action: str
    state: str
    attempts: int
    next_attempt_at: LocalTime | None
    last_error: str
    last_status_code: int | None
    created_at: LocalTime
    sent_at: LocalTime | None


class UpdateOut(Out):
    id: int
    update_id: str
    order_id: int | None
    external_id: str
    source: str
    state: str
    raw_status: str
    text: str
    unit_code: str
    unit_name: str
    photos: list[str]
    at: LocalTime
    received_at: LocalTime
    outcome: str


class EventDispatchOut(BaseModel):
    orders: list[OrderOut]
    messages: list[MessageOut]
    updates: list[UpdateOut]


class DispatchIn(BaseModel):
    platform_id: int | None = None
    reason: str = Field("", max_length=500)


class CancelIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=500)


def platform_out(session, p: DispatchPlatform) -> PlatformOut:
    return PlatformOut(id=p.id, name=p.name, kind=p.kind, label=registry.get(p.kind).label,
                       settings=service.public_settings(p), callback_url=service.callback_url(p),
                       callback_secret_set=bool(p.callback_secret), enabled=p.enabled, is_default=p.is_default,
                       poll_interval_s=p.poll_interval_s, status_check_after_min=p.status_check_after_min,
                       state=BreakerOut.model_validate(service.state_of(session, p.id)))


@router.get("/dispatch/platforms", response_model=list[PlatformOut])
def list_platforms(session: DbSession, _: Staff):
    return [platform_out(session, p) for p in service.list_platforms(session)]


@router.post("/dispatch/platforms", response_model=PlatformOut, status_code=201)
def create_platform(body: PlatformIn, session: DbSession, _: Admin):
    p = service.create_platform(session, **body.model_dump())
    return platform_out(session, p)


@router.get("/dispatch/platforms/{platform_id}", response_model=PlatformOut)
def get_platform(platform_id: int, session: DbSession, _: Staff):
    return platform_out(session, service.get_platform(session, platform_id))


@router.patch("/dispatch/platforms/{platform_id}", response_model=PlatformOut)
def update_platform(platform_id: int, body: PlatformPatch, session: DbSession, _: Admin):
    p = service.update_platform(session, platform_id, **body.model_dump(exclude_unset=True))
    return platform_out(session, p)


@router.delete("/dispatch/platforms/{platform_id}", status_code=204)
def delete_platform(platform_id: int, session: DbSession, _: Admin):
    service.delete_platform(session, platform_id)


@router.post("/events/{event_id:int}/dispatch", response_model=OrderOut | None)
def dispatch_event(event_id: int, body: DispatchIn, session: DbSession, p: Ops):
    """派遣: route if needed, move to dispatched, queue the work order (null when no platform
    is configured: dispatched offline)."""
    order = service.dispatch_event(session, event_id, actor=p.username, role=p.role, scope=p.street_scope,
                                   platform_id=body.platform_id, reason=body.reason)
    return OrderOut.model_validate(order) if order else None


@router.get("/events/{event_id:int}/dispatch", response_model=EventDispatchOut)
def event_dispatch(event_id: int, session: DbSession, p: Reader):
    events.get_event(session, event_id, scope=p.street_scope)
    return EventDispatchOut(orders=[OrderOut.model_validate(o) for o in service.orders_of(session, event_id)],
                            messages=[MessageOut.model_validate(m) for m in service.outbox_of(session, event_id)],
                            updates=[UpdateOut.model_validate(u) for u in service.updates_of(session, event_id)])


@router.get("/dispatch/outbox", response_model=list[MessageOut])
def list_outbox(session: DbSession, _: Staff, state: str | None = None, stuck: bool = False, limit: int = 200):
    if stuck:
        return [MessageOut.model_validate(m) for m in service.stuck(session, limit=min(limit, 1000))]
    q = select(DispatchOutbox).order_by(DispatchOutbox.id.desc()).limit(min(limit, 1000))
    if state:
        q = q.where(DispatchOutbox.state == state)
    return [MessageOut.model_validate(m) for m in session.scalars(q)]


@router.post("/dispatch/outbox/{message_id}/retry", response_model=MessageOut)
def retry(message_id: int, session: DbSession, _: Ops):
    return MessageOut.model_validate(outbox.retry_now(session, message_id))


@router.post("/dispatch/outbox/{message_id}/cancel", response_model=MessageOut)
def cancel(message_id: int, body: CancelIn, session: DbSession, p: Ops):
    return MessageOut.model_validate(outbox.cancel(session, message_id, actor=p.username, reason=body.reason))
