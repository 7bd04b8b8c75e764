"""Hardware maintenance API (HW, ROOM-2) under /api/v1/catalog/hardware: preventive schedules
(managers), the due list, maintenance work with ticket and spare parts, the spares inventory
and its movements (technicians, duty staff, managers), warranty buckets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.auth.deps import ASSET_WRITERS, REF_WRITERS, STAFF, DbSession, Principal, require
from cityops.catalog import hw_service
from cityops.catalog.hw_schemas import (DueOut, MovementIn, MovementOut, PartIn, PartOut, PartPatch, ScheduleIn,
                                        ScheduleOut, SchedulePatch, WarrantyBucketsOut, WorkIn)
from cityops.catalog.schemas import AssetOut, MaintenanceOut
from cityops.core.timeutil import local, utcnow

router = APIRouter(prefix="/hardware", tags=["catalog"])
Reader = Annotated[Principal, Depends(require(*STAFF))]
Planner = Annotated[Principal, Depends(require(*REF_WRITERS))]
Worker = Annotated[Principal, Depends(require(*ASSET_WRITERS))]


def _part(p) -> PartOut:
    out = PartOut.model_validate(p)
    out.low = p.quantity < p.min_stock
    return out


@router.get("/schedules", response_model=list[ScheduleOut])
def schedules(session: DbSession, _: Reader):
    return [ScheduleOut.model_validate(s) for s in hw_service.list_schedules(session)]


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
def create_schedule(body: ScheduleIn, session: DbSession, _: Planner):
    return ScheduleOut.model_validate(hw_service.create_schedule(session, **body.model_dump()))


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut)
def update_schedule(schedule_id: int, body: SchedulePatch, session: DbSession, _: Planner):
    return ScheduleOut.model_validate(hw_service.update_schedule(session, schedule_id,
                                                                 **body.model_dump(exclude_unset=True)))


@router.delete("/schedules/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: int, session: DbSession, _: Planner):
    hw_service.delete_schedule(session, schedule_id)


@router.get("/due", response_model=list[DueOut])
def due(session: DbSession, _: Reader, within: Annotated[int, Query(ge=0, le=3650)] = 30):
    """Units whose preventive maintenance is overdue or due within `within` days."""
    rows = hw_service.due_list(session, today=local(utcnow()).date(), within_days=within)
    return [DueOut(asset=AssetOut.of(r["asset"]), line_id=r["line"].id, schedule_id=r["schedule"].id,
                   last_at=r["last_at"], due=r["due"], days_left=r["days_left"], overdue=r["overdue"]) for r in rows]


@router.post("/work", response_model=MaintenanceOut, status_code=201)
def record_work(body: WorkIn, session: DbSession, p: Worker):
    """A preventive visit, repair or replacement, with its ticket and the spare parts used."""
    record = hw_service.record_work(
        session, body.asset_id, kind=body.kind, summary=body.summary,
        performed_by=body.performed_by or p.display_name or p.username, performed_at=body.performed_at,
        result=body.result, ticket_id=body.ticket_id, parts=[(u.part_id, u.quantity) for u in body.parts],
        created_by=p.username)
    return MaintenanceOut.model_validate(record)


@router.get("/spares", response_model=list[PartOut])
def spares(session: DbSession, _: Reader, low: bool = False):
    return [_part(p) for p in hw_service.list_parts(session, low_only=low)]


@router.post("/spares", response_model=PartOut, status_code=201)
def create_spare(body: PartIn, session: DbSession, p: Worker):
    return _part(hw_service.create_part(session, by=p.username, **body.model_dump()))


@router.patch("/spares/{part_id}", response_model=PartOut)
def update_spare(part_id: int, body: PartPatch, session: DbSession, _: Worker):
    return _part(hw_service.update_part(session, part_id, **body.model_dump(exclude_unset=True)))


@router.get("/spares/{part_id}/movements", response_model=list[MovementOut])
def movements(part_id: int, session: DbSession, _: Reader):
    return [MovementOut.model_validate(m) for m in hw_service.list_movements(session, part_id=part_id)]


@router.post("/spares/{part_id}/movements", response_model=MovementOut, status_code=201)
def move(part_id: int, body: MovementIn, session: DbSession, p: Worker):
    return MovementOut.model_validate(hw_service.move_stock(session, part_id, by=p.username, **body.model_dump()))


@router.get("/warranty", response_model=WarrantyBucketsOut)
def warranty(session: DbSession, _: Reader):
    """Units in use: warranty expired, ending within 30 days, within 60 days."""
    b = hw_service.warranty_buckets(session, today=local(utcnow()).date())
    return WarrantyBucketsOut(**{k: [AssetOut.of(a) for a in v] for k, v in b.items()})
