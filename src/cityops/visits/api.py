"""Visits over HTTP (VISIT-1). Managers keep the visit calendar; duty officers and technicians
run the pre-visit check; the host side (admin, manager, duty) writes the record afterwards.
`GET /visits/freeze?at=` answers whether a change freeze is in force."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import utcnow
from cityops.visits import service as svc

router = APIRouter(prefix="/api/v1/visits", tags=["visits"])
EDITORS = ("admin", "manager")
CHECKERS = ("admin", "manager", "duty", "technician")
RECORDERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Checker = Annotated[Principal, Depends(require(*CHECKERS))]
Recorder = Annotated[Principal, Depends(require(*RECORDERS))]


class VisitIn(BaseModel):
    title: str | None = None
    organisation: str | None = None
    visitor_count: int | None = None
    host: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    system_codes: list[str] | None = None
    freeze_from: datetime | None = None
    freeze_until: datetime | None = None
    check_hours: list[int] | None = None


class StateIn(BaseModel):
    state: str


class RecordIn(BaseModel):
    outcome: str
    issues: str = ""
    notes: str = ""


class CheckOut(Out):
    id: int
    visit_id: int
    hours_before: int | None
    at: LocalTime
    ok: bool
    results: list[dict[str, Any]]
    summary: str
    actor: str


class VisitOut(Out):
    id: int
    title: str
    organisation: str
    visitor_count: int
    host: str
    starts_at: LocalTime
    ends_at: LocalTime
    system_codes: list[str]
    freeze_from: LocalTime
    freeze_until: LocalTime
    check_hours: list[int]
    state: str
    at_risk: bool
    outcome: str
    issues: str
    notes: str
    recorded_by: str
    recorded_at: LocalTime | None
    created_by: str
    created_at: LocalTime
    checks: list[CheckOut] = []


class FreezeOut(BaseModel):
    at: LocalTime
    frozen: bool
    visit: VisitOut | None


def _out(session, v, checks: bool = True) -> VisitOut:
    out = VisitOut.model_validate(v)
    if checks:
        out.checks = [CheckOut.model_validate(c) for c in svc.checks_of(session, v.id)]
    return out


@router.get("", response_model=list[VisitOut])
def get_visits(session: DbSession, p: Reader, first: date | None = None, last: date | None = None,
               state: str | None = None):
    return [_out(session, v, False) for v in svc.list_visits(session, first=first, last=last, state=state)]


@router.post("", response_model=VisitOut, status_code=201)
def post_visit(body: VisitIn, session: DbSession, p: Editor):
    """Times without an offset are Beijing time; freeze defaults to 08:00 of the visit day → its end."""
    return _out(session, svc.create_visit(session, body.model_dump(exclude_none=True), actor=p.username))


@router.get("/freeze", response_model=FreezeOut)
def get_freeze(session: DbSession, p: Reader, at: datetime | None = None):
    at = svc.parse_time(at, "时间") if at else utcnow()
    v = svc.active_freeze(session, at)
    return FreezeOut(at=at, frozen=v is not None, visit=_out(session, v, False) if v else None)


@router.get("/{visit_id}", response_model=VisitOut)
def get_visit(visit_id: int, session: DbSession, p: Reader):
    return _out(session, svc.get(session, visit_id))


@router.patch("/{visit_id}", response_model=VisitOut)
def patch_visit(visit_id: int, body: VisitIn, session: DbSession, p: Editor):
    return _out(session, svc.update_visit(session, visit_id, body.model_dump(exclude_none=True)))


@router.post("/{visit_id}/state", response_model=VisitOut)
def post_state(visit_id: int, body: StateIn, session: DbSession, p: Editor):
    return _out(session, svc.set_state(session, visit_id, body.state))


@router.post("/{visit_id}/checks", response_model=CheckOut, status_code=201)
def post_check(visit_id: int, session: DbSession, p: Checker):
    """Run the pre-visit check now (the manual button)."""
    return svc.run_check(session, visit_id, actor=p.username)


@router.post("/{visit_id}/record", response_model=VisitOut)
def post_record(visit_id: int, body: RecordIn, session: DbSession, p: Recorder):
    return _out(session, svc.record(session, visit_id, outcome=body.outcome, issues=body.issues, notes=body.notes,
                                    actor=p.display_name or p.username))
