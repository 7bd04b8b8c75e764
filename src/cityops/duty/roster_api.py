"""Roster API (SVC-1): rotations and their generation, overrides, swaps, special periods, the
coverage check, handovers and who is on duty now. Managers configure; duty officers enter
stand-ins and handovers; everyone on the roster may ask for a swap; managers approve."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.timeutil import utcnow
from cityops.duty import coverage as cov
from cityops.duty import handover, roster, rotation
from cityops.duty.roster_schemas import (CoverageOut, Decision, GenerateIn, GenerateOut, HandoverIn, HandoverOut,
                                         HolidayOut, OnDutyNowOut, OverrideIn, OverrideOut, PeriodIn, PeriodOut,
                                         RotationIn, RotationOut, RotationPatch, SwapIn, SwapOut)
from cityops.duty.service import on_duty_now

router = APIRouter(tags=["duty"])
Staff = Annotated[Principal, Depends(require(*STAFF))]
Manager = Annotated[Principal, Depends(require("admin", "manager"))]
Officer = Annotated[Principal, Depends(require("admin", "manager", "duty"))]
Rostered = Annotated[Principal, Depends(require("admin", "manager", "duty", "technician"))]


@router.get("/rotations", response_model=list[RotationOut])
def rotations(session: DbSession, _: Staff, team: str | None = None):
    return [RotationOut.model_validate(r) for r in rotation.list_rotations(session, team=team)]


@router.post("/rotations", response_model=RotationOut, status_code=201)
def create_rotation(body: RotationIn, session: DbSession, p: Manager):
    data = body.model_dump()
    return RotationOut.model_validate(rotation.create_rotation(session, created_by=p.username, **data))


@router.get("/rotations/{rotation_id}", response_model=RotationOut)
def get_rotation(rotation_id: int, session: DbSession, _: Staff):
    return RotationOut.model_validate(rotation.get_rotation(session, rotation_id))


@router.patch("/rotations/{rotation_id}", response_model=RotationOut)
def update_rotation(rotation_id: int, body: RotationPatch, session: DbSession, _: Manager):
    return RotationOut.model_validate(rotation.update_rotation(session, rotation_id,
                                                               **body.model_dump(exclude_unset=True)))


@router.delete("/rotations/{rotation_id}", status_code=204)
def delete_rotation(rotation_id: int, session: DbSession, _: Manager):
    rotation.delete_rotation(session, rotation_id)


@router.post("/rotations/{rotation_id}/generate", response_model=GenerateOut)
def generate(rotation_id: int, body: GenerateIn, session: DbSession, p: Manager):
    """Write the rotation's shifts for the days start..end (Beijing, inclusive)."""
    return GenerateOut(**rotation.generate(session, rotation_id, body.start, body.end, actor=p.username))


@router.get("/overrides", response_model=list[OverrideOut])
def overrides(session: DbSession, _: Staff, start: datetime | None = None, end: datetime | None = None):
    start = start or utcnow() - timedelta(days=1)
    end = end or start + timedelta(days=31)
    return [OverrideOut.model_validate(o) for o in roster.list_overrides(session, start=start, end=end)]


@router.post("/overrides", response_model=OverrideOut, status_code=201)
def create_override(body: OverrideIn, session: DbSession, p: Officer):
    return OverrideOut.model_validate(roster.create_override(session, created_by=p.username, **body.model_dump()))


@router.delete("/overrides/{override_id}", status_code=204)
def delete_override(override_id: int, session: DbSession, _: Officer):
    roster.delete_override(session, override_id)


@router.get("/swaps", response_model=list[SwapOut])
def swaps(session: DbSession, _: Staff, state: str | None = None):
    return [SwapOut.model_validate(s) for s in roster.list_swaps(session, state=state)]


@router.post("/swaps", response_model=SwapOut, status_code=201)
def request_swap(body: SwapIn, session: DbSession, p: Rostered):
    return SwapOut.model_validate(roster.request_swap(session, requested_by=p.username, **body.model_dump()))


@router.post("/swaps/{swap_id}/approve", response_model=SwapOut)
def approve_swap(swap_id: int, body: Decision, session: DbSession, p: Manager):
    return SwapOut.model_validate(roster.decide_swap(session, swap_id, approve=True, decided_by=p.username,
                                                     note=body.note))


@router.post("/swaps/{swap_id}/reject", response_model=SwapOut)
def reject_swap(swap_id: int, body: Decision, session: DbSession, p: Manager):
    return SwapOut.model_validate(roster.decide_swap(session, swap_id, approve=False, decided_by=p.username,
                                                     note=body.note))


@router.get("/special-periods", response_model=list[PeriodOut])
def periods(session: DbSession, _: Staff):
    return [PeriodOut.model_validate(p) for p in roster.list_periods(session)]


@router.get("/special-periods/holidays", response_model=list[HolidayOut])
def holidays(session: DbSession, _: Staff):
    """Public holidays of the service period, offered as special periods."""
    return [HolidayOut(**h) for h in roster.holiday_offers(session)]


@router.post("/special-periods", response_model=PeriodOut, status_code=201)
def create_period(body: PeriodIn, session: DbSession, _: Manager):
    data = body.model_dump()
    return PeriodOut.model_validate(roster.create_period(session, **data))


@router.delete("/special-periods/{period_id}", status_code=204)
def delete_period(period_id: int, session: DbSession, _: Manager):
    roster.delete_period(session, period_id)


@router.get("/coverage", response_model=CoverageOut)
def coverage(session: DbSession, _: Staff,
             start: Annotated[datetime | None, Query(description="ISO 8601 with offset; default 2026-05-01")] = None,
             end: Annotated[datetime | None, Query(description="default 2027-05-01 00:00 Beijing")] = None):
    """Gaps in the roster (≥ 1 duty officer, ≥ 1 technical support, special periods' posts)."""
    if (start is None) != (end is None):
        raise Invalid("请同时给出 start 和 end，或都不给（整个服务期）")
    return CoverageOut(**cov.coverage(session, start, end))


@router.get("/handovers", response_model=list[HandoverOut])
def handovers(session: DbSession, _: Staff, team: str | None = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0):
    return [HandoverOut.model_validate(h) for h in handover.list_handovers(session, team=team, limit=limit,
                                                                          offset=offset)]


@router.post("/handovers", response_model=HandoverOut, status_code=201)
def write_handover(body: HandoverIn, session: DbSession, p: Officer):
    return HandoverOut.model_validate(handover.write(session, team_code=body.team_code, note=body.note,
                                                     written_by=p.username))


@router.post("/handovers/{handover_id}/ack", response_model=HandoverOut)
def ack_handover(handover_id: int, body: Decision, session: DbSession, p: Officer):
    return HandoverOut.model_validate(handover.acknowledge(session, handover_id, by=p.username, note=body.note))


@router.get("/on-duty-now", response_model=list[OnDutyNowOut])
def who_now(session: DbSession, _: Staff):
    """Who is on duty now, ready to show (phones masked for everyone)."""
    return [OnDutyNowOut(**row) for row in on_duty_now(session, now=utcnow())]
