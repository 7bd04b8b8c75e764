"""Monitoring API (IOT-5): alarms and their comments, device state history, KPIs (live, daily
history, CSV/XLSX exports) and maintenance windows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.devices.service import get_device
from cityops.devices.transfer import CONTENT_TYPES
from cityops.monitoring import (
    comments,
    kpi,
    kpi_export,
    kpi_history,
    maintenance,
    service,
)

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


Fmt = Annotated[str, Query(alias="format", pattern="^(json|csv|xlsx)$")]
SHEET = {200: {"content": {"application/json": {}, "text/csv": {}, CONTENT_TYPES["xlsx"]: {}},
               "description": "JSON, or a CSV (UTF-8 with BOM) / XLSX sheet with Chinese headers"}}


@router.get("/kpi/online-rate", responses=SHEET)
def online_rate(session: DbSession, p: Reader,
                by: Annotated[str, Query(pattern="^(street_code|vendor|device_type|platform|tag)$")] = "street_code",
                fmt: Fmt = "json"):
    """Live device online rate (设备在线率), overall and grouped; `format=csv|xlsx` downloads it."""
    if fmt != "json":
        return kpi_export.live_download(session, fmt, by=by, scope=p.street_scope)
    return {"overall": kpi.overall(session, scope=p.street_scope),
            "by": by, "groups": kpi.online_rate(session, by=by, scope=p.street_scope)}


def _history_scope(session, p: Principal, street: str | None) -> str | None:
    """Street users see their own street whatever they ask; others may pick one (empty = district)."""
    if p.street_scope:
        return p.street_scope
    if street:
        from cityops.geo.service import get_street

        get_street(session, street)  # an unknown street is a 404, not an empty history
    return street or None


@router.get("/kpi/online-rate/daily", responses=SHEET)
def online_rate_daily(session: DbSession, p: Reader, dimension: str = "overall",
                      start: Annotated[str | None, Query(alias="from")] = None,
                      end: Annotated[str | None, Query(alias="to")] = None,
                      street: str | None = None, fmt: Fmt = "json"):
    """Daily online rate history (IOT-5): time-weighted availability from 5-minute samples,
    per Asia/Shanghai day; `dimension` = overall|street_code|vendor|device_type|platform|tag;
    `from`/`to` as YYYY-MM-DD (default the last 30 days); `street` = a street's own figures."""
    kpi_history.check_dimension(dimension)
    d0, d1 = kpi_history.parse_period(start, end)
    scope = _history_scope(session, p, street)
    if fmt != "json":
        return kpi_export.daily_download(session, fmt, dimension=dimension, start=d0, end=d1, scope=scope)
    rows = kpi_history.daily_online_rate(session, dimension=dimension, start=d0, end=d1, scope=scope)
    names = kpi_history.key_labels(session, dimension, sorted({r["key"] for r in rows}), scope=scope)
    return {"dimension": dimension, "from": d0, "to": d1, "scope": scope or "",
            "items": [{**r, "name": names.get(r["key"], r["key"])} for r in rows]}


@router.get("/kpi/flapping")
def flapping(session: DbSession, p: Reader, hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
             limit: Annotated[int, Query(ge=1, le=100)] = 10):
    """Top flapping devices: most online/offline changes in the last `hours` (own street for street users)."""
    from datetime import timedelta

    from cityops.core.timeutil import utcnow

    return kpi_history.top_flapping(session, since=utcnow() - timedelta(hours=hours), scope=p.street_scope,
                                    limit=limit)


@router.get("/kpi/alarm-times")
def alarm_times(session: DbSession, p: Reader):
    """Mean time to acknowledge and to clear alarms (own street for street users)."""
    return kpi.alarm_times(session, scope=p.street_scope)


@router.get("/kpi/alarm-times/history")
def alarm_times_history(session: DbSession, p: Reader, group: Annotated[str, Query(pattern="^(day|street)$")] = "day",
                        start: Annotated[str | None, Query(alias="from")] = None,
                        end: Annotated[str | None, Query(alias="to")] = None):
    """MTTA/MTTC (seconds) per day or per street of the alarms raised in [from, to] (local dates);
    suppressed alarms are left out."""
    d0, d1 = kpi_history.parse_period(start, end)
    return {"group": group, "from": d0, "to": d1,
            "items": kpi_history.alarm_times_by(session, group=group, start=d0, end=d1, scope=p.street_scope)}


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=comments.MAX_TEXT)


class CommentOut(Out):
    id: int
    alarm_id: int
    author: str
    text: str
    at: LocalTime


@router.get("/alarms/{alarm_id}/comments", response_model=list[CommentOut])
def alarm_comments(alarm_id: int, session: DbSession, p: Reader):
    return [CommentOut.model_validate(c) for c in comments.list_comments(session, alarm_id, scope=p.street_scope)]


@router.post("/alarms/{alarm_id}/comments", response_model=CommentOut, status_code=201)
def add_alarm_comment(alarm_id: int, body: CommentIn, session: DbSession, p: Handler):
    """A note on the alarm (IOT-5); same street scope as acknowledging it."""
    return CommentOut.model_validate(comments.add_comment(session, alarm_id, author=p.username, text=body.text,
                                                          scope=p.street_scope))


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
