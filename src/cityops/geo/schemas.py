"""API shapes for streets, grids, units and lookups."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cityops.audit.service import mask_phone
from cityops.core.schemas import LocalTime, Out
from cityops.geo.models import APPROXIMATE, ResponsibleUnit


class StreetOut(Out):
    code: str
    name: str
    kind: str
    approx_point: list[float]
    boundary_source: str
    approximate: bool
    area_km2: float
    boundary_updated_at: LocalTime

    @classmethod
    def of(cls, s) -> StreetOut:
        return cls(code=s.code, name=s.name, kind=s.kind, approx_point=[s.approx_lon, s.approx_lat],
                   boundary_source=s.boundary_source, approximate=s.boundary_source == APPROXIMATE,
                   area_km2=s.area_km2, boundary_updated_at=s.boundary_updated_at)


class GridOut(Out):
    code: str
    name: str
    street_code: str
    seq: int
    boundary_source: str
    approximate: bool
    area_km2: float

    @classmethod
    def of(cls, g) -> GridOut:
        return cls(code=g.code, name=g.name, street_code=g.street_code, seq=g.seq, boundary_source=g.boundary_source,
                   approximate=g.boundary_source == APPROXIMATE, area_km2=g.area_km2)


class WithGeometry(BaseModel):
    geometry: dict[str, Any]


class StreetDetail(StreetOut, WithGeometry):
    pass


class GridDetail(GridOut, WithGeometry):
    pass


class LocationOut(BaseModel):
    lon: float
    lat: float
    street_code: str | None
    street_name: str | None
    grid_code: str | None
    grid_name: str | None
    approximate: bool
    inside_district: bool


class UnitOut(Out):
    id: int
    code: str
    name: str
    kind: str
    street_code: str | None
    contact_name: str
    contact_phone: str
    duty_phone: str
    email: str
    address: str
    active: bool

    @classmethod
    def of(cls, u: ResponsibleUnit, *, pii: bool) -> UnitOut:
        out = cls.model_validate(u)
        if not pii:
            out.contact_phone = mask_phone(out.contact_phone)
            out.duty_phone = mask_phone(out.duty_phone)
        return out


class UnitCreate(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    kind: str
    street_code: str | None = None
    contact_name: str = ""
    contact_phone: str = ""
    duty_phone: str = ""
    email: str = ""
    address: str = ""


class UnitUpdate(BaseModel):
    name: str | None = None
    kind: str | None = None
    street_code: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    duty_phone: str | None = None
    email: str | None = None
    address: str | None = None
    active: bool | None = None
