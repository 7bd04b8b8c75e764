"""Catalog API: the maintained systems and modules (SYS-*) and the machine-room hardware (HW)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.auth.deps import ALL_ROLES, ASSET_WRITERS, REF_WRITERS, STAFF, DbSession, Principal, require
from cityops.catalog import service
from cityops.catalog.schemas import (AssetOut, AssetUpdate, HardwareLineOut, MaintenanceIn, MaintenanceOut, ModuleOut,
                                     ModuleUpdate, SystemOut, SystemUpdate, WarrantyOut)
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.timeutil import local, utcnow

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require(*REF_WRITERS))]
HardwareReader = Annotated[Principal, Depends(require(*STAFF))]  # street users see no hardware
AssetWriter = Annotated[Principal, Depends(require(*ASSET_WRITERS))]


@router.get("/systems", response_model=list[SystemOut])
def systems(session: DbSession, _: Reader):
    return [SystemOut.of(s) for s in service.list_systems(session)]


@router.get("/systems/{code}", response_model=SystemOut)
def system(code: str, session: DbSession, _: Reader):
    return SystemOut.of(service.get_system(session, code))


@router.patch("/systems/{code}", response_model=SystemOut)
def update_system(code: str, body: SystemUpdate, session: DbSession, _: Writer):
    return SystemOut.of(service.update_system(session, code, **body.model_dump(exclude_unset=True)))


@router.get("/modules", response_model=list[ModuleOut])
def modules(session: DbSession, _: Reader, system: str | None = None, section: str | None = None):
    return [ModuleOut.of(m) for m in service.list_modules(session, system_code=system, section=section)]


@router.get("/modules/{module_id}", response_model=ModuleOut)
def module(module_id: int, session: DbSession, _: Reader):
    return ModuleOut.of(service.get_module(session, module_id))


@router.patch("/modules/{module_id}", response_model=ModuleOut)
def update_module(module_id: int, body: ModuleUpdate, session: DbSession, _: Writer):
    return ModuleOut.of(service.update_module(session, module_id, **body.model_dump(exclude_unset=True)))


@router.get("/hardware/lines", response_model=list[HardwareLineOut])
def hardware_lines(session: DbSession, _: HardwareReader):
    return [HardwareLineOut.model_validate(ln) for ln in service.list_hardware_lines(session)]


@router.get("/assets", response_model=Page[AssetOut])
def assets(session: DbSession, _: HardwareReader, page: Annotated[PageParams, Depends(page_params)],
           line: int | None = None, status: str | None = None, q: str | None = None):
    rows, total = service.list_assets(session, line_seq=line, status=status, q=q, limit=page.limit,
                                      offset=page.offset)
    return Page(items=[AssetOut.of(a) for a in rows], total=total, limit=page.limit, offset=page.offset)


# Declared before /assets/{asset_id} so "warranty" is not taken for an id.
@router.get("/assets/warranty", response_model=list[WarrantyOut])
def warranty(session: DbSession, _: HardwareReader, days: Annotated[int, Query(ge=0, le=3650)] = 60):
    """Units whose warranty has ended or ends within `days` days (HW)."""
    today = local(utcnow()).date()
    return [WarrantyOut(**AssetOut.of(a).model_dump(), days_left=(a.warranty_end - today).days,
                        expired=a.warranty_end < today)
            for a in service.warranty_report(session, today=today, days=days)]


@router.get("/assets/{asset_id}", response_model=AssetOut)
def asset(asset_id: int, session: DbSession, _: HardwareReader):
    return AssetOut.of(service.get_asset(session, asset_id))


@router.patch("/assets/{asset_id}", response_model=AssetOut)
def update_asset(asset_id: int, body: AssetUpdate, session: DbSession, _: AssetWriter):
    return AssetOut.of(service.update_asset(session, asset_id, **body.model_dump(exclude_unset=True)))


@router.get("/assets/{asset_id}/maintenance", response_model=list[MaintenanceOut])
def maintenance(asset_id: int, session: DbSession, _: HardwareReader):
    return [MaintenanceOut.model_validate(r) for r in service.list_maintenance_records(session, asset_id)]


@router.post("/assets/{asset_id}/maintenance", response_model=MaintenanceOut, status_code=201)
def add_maintenance(asset_id: int, body: MaintenanceIn, session: DbSession, p: AssetWriter):
    record = service.add_maintenance_record(
        session, asset_id, kind=body.kind, summary=body.summary,
        performed_by=body.performed_by or p.display_name or p.username, performed_at=body.performed_at,
        result=body.result, created_by=p.username)
    return MaintenanceOut.model_validate(record)


# HW, ROOM-2: preventive schedules, spares, repairs, warranty (catalog/hw_api.py).
from cityops.catalog.hw_api import router as _hw_router  # noqa: E402

router.include_router(_hw_router)
