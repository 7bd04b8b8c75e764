"""Alarms and device state history API (IOT-5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from datetime import datetime

from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.devices.service import get_device
from cityops.monitoring import kpi, maintenance, service

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Handler = Annotated[Principal, Depends(require("admin", "manager", "duty", "technician", "street"))]


class AlarmOut(Out):
    id: int
    device_id: int
    alarm_type: str
    severity: str
    state: str
    source: str
    message: str
    first_at: LocalTime
    last_at: LocalTime
    count: int
    acked_at: LocalTime | None
    acked_by: str
    ack_note: str
    cleared_at: LocalTime | None
    cleared_by: str
    clear_reason: str
    root_alarm_id: int | None
    suppressed: bool
    details: dict[str, Any]


class StateChangeOut(Out):
    at: LocalTime
    old: str
    new: str
    reason: str


class Ack(BaseModel):
    note: str = ""


class Clear(BaseModel):
    reason: str


@router.get("/alarms", response_model=Page[AlarmOut])
def alarms(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
           state: str | None = None, open: bool = False, severity: str | None = None, device_id: int | None = None,
           alarm_type: str | None = None, include_suppressed: bool = True):
    rows, total = service.list_alarms(session, state=state, open_only=open, severity=severity, device_id=device_id,
                                      alarm_type=alarm_type, include_suppressed=include_suppressed,
                                      scope=p.street_scope, limit=page.limit, offset=page.offset)
    return Page(items=[AlarmOut.model_validate(a) for a in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/alarms/{alarm_id}/ack", response_model=AlarmOut)
def ack(alarm_id: int, body: Ack, session: DbSession, p: Handler):
    return AlarmOut.model_validate(service.acknowledge(session, alarm_id, by=p.username, note=body.note,
                                                       scope=p.street_scope))


@router.post("/alarms/{alarm_id}/clear", response_model=AlarmOut)
def clear(alarm_id: int, body: Clear, session: DbSession, p: Handler):
    """Manual clear, with the reason kept on the alarm."""
    return AlarmOut.model_validate(service.clear(session, alarm_id, by=p.username, reason=body.reason,
                                                 scope=p.street_scope))


@router.get("/devices/{device_id:int}/state-history", response_model=list[StateChangeOut])
def state_history(device_id: int, session: DbSession, p: Reader,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    get_device(session, device_id, scope=p.street_scope)
    return [StateChangeOut.model_validate(c) for c in service.state_history(session, device_id, limit)]


@router.get("/kpi/online-rate")
def online_rate(session: DbSession, p: Reader,
                by: Annotated[str, Query(pattern="^(street_code|vendor|device_type|platform|tag)$")] = "street_code"):
    """Live device online rate (设备在线率), overall and grouped."""
    return {"overall": kpi.overall(session, scope=p.street_scope),
            "by": by, "groups": kpi.online_rate(session, by=by, scope=p.street_scope)}


@router.get("/kpi/flapping")
def flapping(session: DbSession, p: Reader, hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24):
    """Top flapping devices: most online/offline changes in the last `hours`."""
    from datetime import timedelta

    from cityops.core.timeutil import utcnow

    rows = service.top_flapping(session, since=utcnow() - timedelta(hours=hours), limit=50)
    out = []
    for device_id, n in rows:
        try:
            d = get_device(session, device_id, scope=p.street_scope)
        except Exception:  # outside the caller's street
            continue
        out.append({"device_id": device_id, "code": d.code, "name": d.name, "changes": n})
    return out[:10]


@router.get("/kpi/alarm-times")
def alarm_times(session: DbSession, _: Reader):
    """Mean time to acknowledge and to clear alarms."""
    return kpi.alarm_times(session)


class WindowIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    scope_kind: str
    scope_value: str
    starts_at: datetime
    ends_at: datetime
    weekdays: list[int] = Field(default_factory=list)
    daily_start: str = ""
    daily_end: str = ""
    reason: str = ""


class WindowOut(Out):
    id: int
    name: str
    scope_kind: str
    scope_value: str
    starts_at: LocalTime
    ends_at: LocalTime
    weekdays: list[int]
    daily_start: str
    daily_end: str
    reason: str
    created_by: str


Planner = Annotated[Principal, Depends(require("admin", "manager", "technician"))]


@router.get("/maintenance-windows", response_model=list[WindowOut])
def windows(session: DbSession, _: Reader, current: bool = False):
    return [WindowOut.model_validate(w) for w in maintenance.list_windows(session, current_only=current)]


@router.post("/maintenance-windows", response_model=WindowOut, status_code=201)
def create_window(body: WindowIn, session: DbSession, p: Planner):
    """Planned maintenance for a device, tag or street: alarms are suppressed, online rate excludes them."""
    return WindowOut.model_validate(maintenance.create(session, created_by=p.username, **body.model_dump()))


@router.delete("/maintenance-windows/{window_id}", status_code=204)
def delete_window(window_id: int, session: DbSession, _: Planner):
    maintenance.delete(session, window_id)
