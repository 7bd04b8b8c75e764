"""Duty roster API (IOT-5 / OPS-3): teams, contacts, shifts, who is on duty now.

admin/manager edit; duty and auditor read; technicians see who is on duty (masked);
street users have no access."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.timeutil import utcnow
from cityops.duty import service
from cityops.duty.schemas import (
    ContactIn,
    ContactOut,
    ContactPatch,
    OnDutyOut,
    ShiftIn,
    ShiftOut,
    ShiftPatch,
    TeamIn,
    TeamOut,
    TeamPatch,
)

router = APIRouter(prefix="/api/v1/duty", tags=["duty"])
Editor = Annotated[Principal, Depends(require("admin", "manager"))]
Reader = Annotated[Principal, Depends(require("admin", "manager", "duty", "auditor"))]
Staff = Annotated[Principal, Depends(require("admin", "manager", "duty", "technician", "auditor"))]


@router.get("/teams", response_model=list[TeamOut])
def teams(session: DbSession, _: Reader):
    return [TeamOut.model_validate(t) for t in service.list_teams(session)]


@router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(body: TeamIn, session: DbSession, _: Editor):
    return TeamOut.model_validate(service.create_team(session, **body.model_dump()))


@router.patch("/teams/{code}", response_model=TeamOut)
def update_team(code: str, body: TeamPatch, session: DbSession, _: Editor):
    return TeamOut.model_validate(service.update_team(session, code, **body.model_dump(exclude_unset=True)))


@router.delete("/teams/{code}", status_code=204)
def delete_team(code: str, session: DbSession, _: Editor):
    service.delete_team(session, code)


@router.get("/contacts", response_model=list[ContactOut])
def contacts(session: DbSession, p: Reader, team: str | None = None, active: bool = False):
    return [ContactOut.of(c, pii=p.sees_pii) for c in service.list_contacts(session, team=team, active_only=active)]


@router.post("/contacts", response_model=ContactOut, status_code=201)
def create_contact(body: ContactIn, session: DbSession, p: Editor):
    return ContactOut.of(service.create_contact(session, **body.model_dump()), pii=p.sees_pii)


@router.get("/contacts/{contact_id}", response_model=ContactOut)
def contact(contact_id: int, session: DbSession, p: Reader):
    return ContactOut.of(service.get_contact(session, contact_id), pii=p.sees_pii)


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
def update_contact(contact_id: int, body: ContactPatch, session: DbSession, p: Editor):
    return ContactOut.of(service.update_contact(session, contact_id, **body.model_dump(exclude_unset=True)),
                         pii=p.sees_pii)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: int, session: DbSession, _: Editor):
    service.delete_contact(session, contact_id)


@router.get("/shifts", response_model=list[ShiftOut])
def shifts(session: DbSession, _: Reader, start: datetime | None = None, end: datetime | None = None,
           team: str | None = None, contact_id: int | None = None):
    """Shifts overlapping [start, end); default: from now for the next 7 days."""
    start = start or utcnow()
    end = end or start + timedelta(days=7)
    return [ShiftOut.model_validate(s) for s in service.list_shifts(session, start=start, end=end, team=team,
                                                                   contact_id=contact_id)]


@router.post("/shifts", response_model=ShiftOut, status_code=201)
def create_shift(body: ShiftIn, session: DbSession, p: Editor):
    return ShiftOut.model_validate(service.create_shift(session, created_by=p.username, **body.model_dump()))


@router.patch("/shifts/{shift_id}", response_model=ShiftOut)
def update_shift(shift_id: int, body: ShiftPatch, session: DbSession, _: Editor):
    """Swap the person or move the times of a shift."""
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return ShiftOut.model_validate(service.update_shift(session, shift_id, **fields))


@router.delete("/shifts/{shift_id}", status_code=204)
def delete_shift(shift_id: int, session: DbSession, _: Editor):
    service.delete_shift(session, shift_id)


@router.get("/on-duty", response_model=list[OnDutyOut])
def on_duty(session: DbSession, p: Staff, team: str | None = None,
            at: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None):
    """Who is on duty now (or at `at`), leaders first."""
    return [OnDutyOut.of(s, c, pii=p.sees_pii) for s, c in service.on_duty(session, team=team, at=at)]


# SVC-1: rotations, overrides, swaps, special periods, coverage, handovers (duty/roster_api.py).
from cityops.duty.roster_api import router as _roster_router  # noqa: E402

router.include_router(_roster_router)
