"""Geography API: district, streets, grids, lookup, boundary import, responsible units (IOT-1)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from cityops.auth.deps import ALL_ROLES, REF_WRITERS, DbSession, Principal, require
from cityops.geo import service
from cityops.geo.schemas import (GridDetail, GridOut, LocationOut, StreetDetail, StreetOut, UnitCreate, UnitOut,
                                 UnitUpdate)

router = APIRouter(prefix="/api/v1", tags=["geo"])
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require(*REF_WRITERS))]


@router.get("/geo/district")
def district(session: DbSession, _: Reader) -> dict[str, Any]:
    d = service.get_district(session)
    return {"code": d.code, "name": d.name, "outline": json.loads(d.outline)}


@router.get("/geo/streets", response_model=list[StreetOut])
def streets(session: DbSession, p: Reader):
    return [StreetOut.of(s) for s in service.list_streets(session, scope=p.street_scope)]


@router.get("/geo/streets.geojson")
def streets_geojson(session: DbSession, p: Reader) -> dict[str, Any]:
    return service.feature_collection(service.list_streets(session, scope=p.street_scope), "street")


@router.post("/geo/streets/import")
def import_streets(session: DbSession, _: Writer, doc: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Real street boundaries from a GeoJSON FeatureCollection (GCJ-02), matched by code or name."""
    return service.import_streets(session, doc)


@router.get("/geo/streets/{code}", response_model=StreetDetail)
def street(code: str, session: DbSession, p: Reader):
    s = service.get_street(session, code, scope=p.street_scope)
    return StreetDetail(**StreetOut.of(s).model_dump(), geometry=json.loads(s.boundary))


@router.get("/geo/grids", response_model=list[GridOut])
def grids(session: DbSession, p: Reader, street: str | None = None):
    return [GridOut.of(g) for g in service.list_grids(session, street=street, scope=p.street_scope)]


@router.get("/geo/grids.geojson")
def grids_geojson(session: DbSession, p: Reader, street: str | None = None) -> dict[str, Any]:
    return service.feature_collection(service.list_grids(session, street=street, scope=p.street_scope), "grid")


@router.post("/geo/grids/import")
def import_grids(session: DbSession, _: Writer, doc: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Real responsibility grids from GeoJSON; properties `code`, `name`, optional `street_code`."""
    return service.import_grids(session, doc)


@router.get("/geo/grids/{code}", response_model=GridDetail)
def grid(code: str, session: DbSession, p: Reader):
    g = service.get_grid(session, code, scope=p.street_scope)
    return GridDetail(**GridOut.of(g).model_dump(), geometry=json.loads(g.boundary))


@router.get("/geo/locate", response_model=LocationOut)
def locate(session: DbSession, _: Reader, lon: Annotated[float, Query()], lat: Annotated[float, Query()]):
    """Which street and grid a GCJ-02 point lies in."""
    loc = service.locate(session, lon, lat)
    return LocationOut(lon=lon, lat=lat, street_code=loc.street_code, street_name=loc.street_name,
                       grid_code=loc.grid_code, grid_name=loc.grid_name, approximate=loc.approximate,
                       inside_district=loc.street_code is not None)


@router.get("/units", response_model=list[UnitOut])
def units(session: DbSession, p: Reader, kind: str | None = None, street: str | None = None):
    return [UnitOut.of(u, pii=p.sees_pii)
            for u in service.list_units(session, scope=p.street_scope, kind=kind, street=street)]


@router.post("/units", response_model=UnitOut, status_code=201)
def create_unit(body: UnitCreate, session: DbSession, p: Writer):
    return UnitOut.of(service.create_unit(session, **body.model_dump()), pii=p.sees_pii)


@router.get("/units/{unit_id}", response_model=UnitOut)
def unit(unit_id: int, session: DbSession, p: Reader):
    return UnitOut.of(service.get_unit(session, unit_id, scope=p.street_scope), pii=p.sees_pii)


@router.patch("/units/{unit_id}", response_model=UnitOut)
def update_unit(unit_id: int, body: UnitUpdate, session: DbSession, p: Writer):
    return UnitOut.of(service.update_unit(session, unit_id, **body.model_dump(exclude_unset=True)), pii=p.sees_pii)
