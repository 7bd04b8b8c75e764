"""Lines over HTTP (CALL-3): gateways and IP phones, caller IDs and their spam marking, checks and
test calls run now, the check history, line health and the line settings.

Admins and managers edit the registry; the duty officer may also run checks and test calls and
record a marking seen in a phone-security app; district staff read. The SIP password and the
marking service's API key are never returned (masked); numbers are masked for roles without
access to personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.callout import line_checks, lines, marking
from cityops.callout.api import show
from cityops.callout.line_models import CallerId, LineCheck, LineDevice
from cityops.core.errors import Problem
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.secret_settings import MASK

router = APIRouter(prefix="/api/v1/callout/lines", tags=["callout"])
EDITORS = ("admin", "manager")
CHECKERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Checker = Annotated[Principal, Depends(require(*CHECKERS))]
Admin = Annotated[Principal, Depends(require("admin"))]


class DeviceIn(BaseModel):
    kind: str | None = None
    name: str | None = None
    model: str | None = None
    host: str | None = None
    sip_port: int | None = None
    username: str | None = None
    password: str | None = None  # left out or "******": unchanged
    ports: int | None = None
    line_group: str | None = None
    http_status_url: str | None = None
    test_number: str | None = None  # "" clears it
    enabled: bool | None = None
    note: str | None = None


class DeviceOut(BaseModel):
    id: int
    kind: str
    name: str
    model: str
    host: str
    sip_port: int
    username: str
    password: str | None  # the mask when one is set
    ports: int
    line_group: str
    http_status_url: str
    test_number: str
    enabled: bool
    note: str
    state: str
    state_since: datetime | None
    sip_ok: bool | None
    http_ok: bool | None
    last_checked_at: datetime | None
    last_detail: str
    status_page: dict[str, Any]
    last_test_at: datetime | None
    last_test_ok: bool | None
    last_test_result: str


class CallerIn(BaseModel):
    number: str | None = None
    line_group: str | None = None
    carrier: str | None = None
    note: str | None = None


class CallerOut(BaseModel):
    id: int
    number: str
    line_group: str
    carrier: str
    marking: str
    label: str
    mark_count: int | None
    source: str
    checked_at: datetime | None
    marked_since: datetime | None
    note: str


class ManualMarkingIn(BaseModel):
    marked: bool
    label: str = ""
    count: int | None = None
    app: str = ""  # which phone-security app showed it


class CheckOut(BaseModel):
    id: int
    kind: str
    subject: str
    device_id: int | None
    caller_id: int | None
    ok: bool
    detail: str
    duration_ms: int | None
    data: dict[str, Any]
    at: datetime


class HealthRow(BaseModel):
    device: DeviceOut
    state: str
    options: CheckOut | None
    http: CheckOut | None
    test_call: CheckOut | None
    tests_7d: int
    passed_7d: int
    pass_rate_7d: float | None


class HealthOut(BaseModel):
    at: datetime
    counts: dict[str, int]
    devices: list[HealthRow]
    caller_ids: list[CallerOut]


class SettingsIn(BaseModel):
    marking_base_url: str | None = None
    marking_api_key: str | None = None  # "******" or left out: unchanged
    marking_timeout_s: float | None = None
    notify_team: str | None = None
    notify_channels: list[int] | None = None
    test_interval_h: float | None = None
    test_ring_timeout_s: int | None = None
    test_max_call_s: int | None = None


def device_out(d: LineDevice, p: Principal) -> DeviceOut:
    return DeviceOut(id=d.id, kind=d.kind, name=d.name, model=d.model, host=d.host, sip_port=d.sip_port,
                     username=d.username, password=MASK if d.password else None, ports=d.ports,
                     line_group=d.line_group, http_status_url=d.http_status_url,
                     test_number=show(d.test_number, p), enabled=d.enabled, note=d.note, state=d.state,
                     state_since=d.state_since, sip_ok=d.sip_ok, http_ok=d.http_ok, last_checked_at=d.last_checked_at,
                     last_detail=d.last_detail, status_page=d.status_page or {}, last_test_at=d.last_test_at,
                     last_test_ok=d.last_test_ok, last_test_result=d.last_test_result)


def caller_out(c: CallerId, p: Principal) -> CallerOut:
    return CallerOut(id=c.id, number=show(c.number_e164, p), line_group=c.line_group, carrier=c.carrier,
                     marking=c.marking, label=c.label, mark_count=c.mark_count, source=c.source,
                     checked_at=c.checked_at, marked_since=c.marked_since, note=c.note)


def check_out(r: LineCheck, p: Principal) -> CheckOut:
    data = dict(r.data or {})
    if "number" in data:
        data["number"] = show(data["number"], p)
    subject = show(r.subject, p) if r.kind == "marking" else r.subject
    return CheckOut(id=r.id, kind=r.kind, subject=subject, device_id=r.device_id, caller_id=r.caller_id, ok=r.ok,
                    detail=r.detail, duration_ms=r.duration_ms, data=data, at=r.at)


def _given(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


# -- gateways and IP phones ------------------------------------------------------------------
@router.get("/gateways", response_model=list[DeviceOut])
def get_devices(session: DbSession, p: Reader, kind: str | None = None, line_group: str | None = None):
    return [device_out(d, p) for d in lines.list_devices(session, kind=kind, line_group=line_group)]


@router.post("/gateways", response_model=DeviceOut, status_code=201)
def create_device(body: DeviceIn, session: DbSession, p: Editor):
    return device_out(lines.create_device(session, data=_given(body)), p)


@router.get("/gateways/{device_id}", response_model=DeviceOut)
def get_device(device_id: int, session: DbSession, p: Reader):
    return device_out(lines.get_device(session, device_id), p)


@router.patch("/gateways/{device_id}", response_model=DeviceOut)
def update_device(device_id: int, body: DeviceIn, session: DbSession, p: Editor):
    return device_out(lines.update_device(session, device_id, data=_given(body)), p)


@router.delete("/gateways/{device_id}", status_code=204)
def delete_device(device_id: int, session: DbSession, p: Editor):
    lines.delete_device(session, device_id)
    return Response(status_code=204)


@router.post("/gateways/{device_id}/check", response_model=DeviceOut)
def check_device(device_id: int, session: DbSession, p: Checker):
    """SIP OPTIONS and the status page, now; the device with its updated status."""
    return device_out(line_checks.check_device(session, device_id), p)


@router.post("/gateways/{device_id}/test-call", response_model=CheckOut)
def test_call(device_id: int, session: DbSession, p: Checker):
    """A test call to the device's test number, now (takes up to the ring timeout + call length).
    `data` is the normalised call result (result, sip_code, q850_cause, duration_s, dtmf …)."""
    return check_out(line_checks.test_call(session, device_id), p)


# -- caller IDs ------------------------------------------------------------------------------
@router.get("/caller-ids", response_model=list[CallerOut])
def get_callers(session: DbSession, p: Reader, marking: str | None = None):
    return [caller_out(c, p) for c in lines.list_caller_ids(session, marking=marking)]


@router.post("/caller-ids", response_model=CallerOut, status_code=201)
def create_caller(body: CallerIn, session: DbSession, p: Editor):
    return caller_out(lines.create_caller_id(session, data=_given(body)), p)


@router.get("/caller-ids/{caller_id}", response_model=CallerOut)
def get_caller(caller_id: int, session: DbSession, p: Reader):
    return caller_out(lines.get_caller_id(session, caller_id), p)


@router.patch("/caller-ids/{caller_id}", response_model=CallerOut)
def update_caller(caller_id: int, body: CallerIn, session: DbSession, p: Editor):
    return caller_out(lines.update_caller_id(session, caller_id, data=_given(body)), p)


@router.delete("/caller-ids/{caller_id}", status_code=204)
def delete_caller(caller_id: int, session: DbSession, p: Editor):
    lines.delete_caller_id(session, caller_id)
    return Response(status_code=204)


@router.post("/caller-ids/{caller_id}/marking", response_model=CallerOut)
def record_marking(caller_id: int, body: ManualMarkingIn, session: DbSession, p: Checker):
    """Record what a phone-security app shows for this number (manual entry)."""
    marking.record_manual(session, caller_id, marked=body.marked, label=body.label, count=body.count, app=body.app,
                          by=p.username)
    return caller_out(lines.get_caller_id(session, caller_id), p)


@router.post("/caller-ids/{caller_id}/query", response_model=CallerOut)
def query_marking(caller_id: int, session: DbSession, p: Checker):
    """Ask the marking-query service now; 502 (the failure kept in the history) when it fails."""
    row = marking.query_now(session, caller_id)
    if "error" in row.data:
        session.commit()
        raise Problem(502, "Bad Gateway", f"标记查询失败：{row.data['error']}")
    return caller_out(lines.get_caller_id(session, caller_id), p)


# -- history, health, settings ---------------------------------------------------------------
@router.get("/history", response_model=Page[CheckOut])
def get_history(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
                kind: str | None = None, device_id: int | None = None, caller_id: int | None = None,
                ok: bool | None = None, since: datetime | None = None):
    rows, total = lines.history(session, kind=kind, device_id=device_id, caller_id=caller_id, ok=ok, since=since,
                                limit=page.limit, offset=page.offset)
    return Page(items=[check_out(r, p) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/health", response_model=HealthOut)
def get_health(session: DbSession, p: Reader):
    h = lines.health(session)
    return HealthOut(at=h["at"], counts=h["counts"], caller_ids=[caller_out(c, p) for c in h["caller_ids"]],
                     devices=[HealthRow(device=device_out(x["device"], p), state=x["state"],
                                        options=check_out(x["options"], p) if x["options"] else None,
                                        http=check_out(x["http"], p) if x["http"] else None,
                                        test_call=check_out(x["test_call"], p) if x["test_call"] else None,
                                        tests_7d=x["tests_7d"], passed_7d=x["passed_7d"],
                                        pass_rate_7d=x["pass_rate_7d"]) for x in h["devices"]])


@router.get("/marking-service")
def get_settings(session: DbSession, p: Reader):
    """The marking-query service (API key masked), alert recipients and the test-call schedule."""
    return lines.public_settings(session)


@router.put("/marking-service")
def put_settings(body: SettingsIn, session: DbSession, p: Admin):
    lines.update_settings(session, by=p.username, changes=_given(body))
    return lines.public_settings(session)
