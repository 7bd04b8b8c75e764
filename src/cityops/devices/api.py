"""Device registry API: products, devices, versions, topology, tags, statistics (IOT-1..IOT-3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cityops.auth.deps import ALL_ROLES, REF_WRITERS, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.devices import service
from cityops.devices.checks import check_devices
from cityops.devices.schemas import (DeviceCreate, DeviceOut, DeviceUpdate, MessageOut, ProductCreate, ProductOut,
                                     ProductUpdate, TagCreate, TagOut, TagRequest, VersionOut)
from cityops.ingest.service import recent_messages

router = APIRouter(prefix="/api/v1", tags=["devices"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Editor = Annotated[Principal, Depends(require(*REF_WRITERS, "technician"))]
Admin = Annotated[Principal, Depends(require(*REF_WRITERS))]


@router.get("/products", response_model=list[ProductOut])
def products(session: DbSession, _: Reader):
    return [ProductOut.model_validate(p) for p in service.list_products(session)]


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(body: ProductCreate, session: DbSession, _: Admin):
    return ProductOut.model_validate(service.create_product(session, **body.model_dump()))


@router.get("/products/{product_id}", response_model=ProductOut)
def product(product_id: int, session: DbSession, _: Reader):
    return ProductOut.model_validate(service.get_product(session, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: int, body: ProductUpdate, session: DbSession, _: Admin):
    return ProductOut.model_validate(service.update_product(session, product_id,
                                                            **body.model_dump(exclude_unset=True)))


@router.get("/devices", response_model=Page[DeviceOut])
def devices(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
            street: str | None = None, grid: str | None = None, device_type: str | None = None,
            vendor: str | None = None, platform: str | None = None, status: str | None = None,
            tag: Annotated[list[int] | None, Query()] = None, online: bool | None = None, q: str | None = None):
    """Devices filtered by street, grid, type, vendor, platform, lifecycle status, tags (all must match)."""
    rows, total = service.list_devices(session, scope=p.street_scope, street=street, grid=grid,
                                       device_type=device_type, vendor=vendor, platform=platform, status=status,
                                       tag_ids=tag, online=online, q=q, limit=page.limit, offset=page.offset)
    return Page(items=[DeviceOut.of(d) for d in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/devices", response_model=DeviceOut, status_code=201)
def create_device(body: DeviceCreate, session: DbSession, _: Editor):
    data = body.model_dump()
    reason = data.pop("reason")
    device = service.create_device(session, reason=reason, **data)
    check_devices(session, [device.id])  # IOT-1: checks run on every change
    return DeviceOut.of(device)


@router.get("/devices/stats")
def device_stats(session: DbSession, p: Reader,
                 by: Annotated[str, Query(pattern="^(street_code|grid_code|device_type|vendor|platform|status)$")]
                 = "street_code", tag: Annotated[list[int] | None, Query()] = None):
    """Device counts grouped by one dimension, optionally within tags (IOT-3 statistics)."""
    return service.counts_by(session, by, scope=p.street_scope, tag_ids=tag)


@router.get("/devices/{device_id:int}", response_model=DeviceOut)
def device(device_id: int, session: DbSession, p: Reader):
    return DeviceOut.of(service.get_device(session, device_id, scope=p.street_scope))


@router.patch("/devices/{device_id:int}", response_model=DeviceOut)
def update_device(device_id: int, body: DeviceUpdate, session: DbSession, _: Editor):
    data = body.model_dump(exclude_unset=True)
    reason = data.pop("reason", "")
    device = service.update_device(session, device_id, reason=reason, **data)
    check_devices(session, [device.id])
    return DeviceOut.of(device)


@router.get("/devices/{device_id:int}/versions", response_model=list[VersionOut])
def device_versions(device_id: int, session: DbSession, p: Reader):
    service.get_device(session, device_id, scope=p.street_scope)
    return [VersionOut.model_validate(v) for v in service.versions(session, device_id)]


@router.get("/devices/{device_id:int}/children", response_model=list[DeviceOut])
def device_children(device_id: int, session: DbSession, p: Reader):
    service.get_device(session, device_id, scope=p.street_scope)
    return [DeviceOut.of(d) for d in service.children(session, device_id) if not p.street_scope
            or d.street_code == p.street_scope]


@router.get("/devices/{device_id:int}/messages", response_model=list[MessageOut])
def device_messages(device_id: int, session: DbSession, p: Reader,
                    limit: Annotated[int, Query(ge=1, le=500)] = 20):
    service.get_device(session, device_id, scope=p.street_scope)
    return [MessageOut.model_validate(m) for m in recent_messages(session, device_id, limit)]


@router.get("/tags", response_model=list[TagOut])
def tags(session: DbSession, _: Reader, category: str | None = None):
    return [TagOut.model_validate(t) for t in service.list_tags(session, category=category)]


@router.post("/tags", response_model=TagOut, status_code=201)
def create_tag(body: TagCreate, session: DbSession, _: Admin):
    return TagOut.model_validate(service.create_tag(session, **body.model_dump()))


@router.post("/tags/{tag_id}/devices")
def tag_devices(tag_id: int, body: TagRequest, session: DbSession, _: Editor) -> dict:
    """Bulk (un)tagging by id list or by filter; each changed device gets a version."""
    data = body.model_dump(exclude_none=True)
    ids, remove, reason = data.pop("device_ids", None), data.pop("remove", False), data.pop("reason", "")
    changed = service.tag_devices(session, tag_id, device_ids=ids, remove=remove, reason=reason, **data)
    return {"changed": changed}
