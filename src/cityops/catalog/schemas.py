"""API shapes for the maintained systems, modules (SYS-*) and hardware assets (HW)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from cityops.catalog.models import Asset, Module, System
from cityops.core.schemas import LocalTime, Out


class ModuleOut(Out):
    id: int
    system_code: str
    seq: int
    section: str
    name: str
    owner: str
    criticality: str
    health_check_url: str
    notes: str

    @classmethod
    def of(cls, m: Module) -> ModuleOut:
        return cls(id=m.id, system_code=m.system.code, seq=m.seq, section=m.section, name=m.name, owner=m.owner,
                   criticality=m.criticality, health_check_url=m.health_check_url, notes=m.notes)


class SystemOut(Out):
    code: str
    seq: int
    name: str
    owner: str
    criticality: str
    description: str
    modules: list[ModuleOut]

    @classmethod
    def of(cls, s: System) -> SystemOut:
        return cls(code=s.code, seq=s.seq, name=s.name, owner=s.owner, criticality=s.criticality,
                   description=s.description, modules=[ModuleOut.of(m) for m in s.modules])


class SystemUpdate(BaseModel):
    owner: str | None = Field(None, max_length=64)
    criticality: str | None = None
    description: str | None = None


class ModuleUpdate(BaseModel):
    owner: str | None = Field(None, max_length=64)
    criticality: str | None = None
    health_check_url: str | None = Field(None, max_length=512)
    notes: str | None = None


class HardwareLineOut(Out):
    id: int
    seq: int
    product: str
    model: str
    quantity: int
    unit: str
    location: str


class AssetOut(Out):
    id: int
    asset_tag: str
    line_seq: int
    name: str
    model: str
    serial: str | None
    location: str
    rack: str
    ip_address: str
    status: str
    warranty_start: date | None
    warranty_end: date | None
    notes: str

    @classmethod
    def of(cls, a: Asset) -> AssetOut:
        return cls(id=a.id, asset_tag=a.asset_tag, line_seq=a.line.seq, name=a.name, model=a.model, serial=a.serial,
                   location=a.location, rack=a.rack, ip_address=a.ip_address, status=a.status,
                   warranty_start=a.warranty_start, warranty_end=a.warranty_end, notes=a.notes)


class WarrantyOut(AssetOut):
    days_left: int  # negative once the warranty has ended
    expired: bool


class AssetUpdate(BaseModel):
    """Only the fields sent are changed; `serial: null` clears the serial."""

    serial: str | None = Field(None, max_length=64)
    rack: str | None = Field(None, max_length=32)
    ip_address: str | None = Field(None, max_length=64)
    status: str | None = None
    warranty_start: date | None = None
    warranty_end: date | None = None
    notes: str | None = None


class MaintenanceIn(BaseModel):
    kind: str
    summary: str = Field(min_length=1)
    performed_by: str | None = Field(None, max_length=64)  # defaults to the caller
    performed_at: datetime | None = None  # defaults to now
    result: str = Field("", max_length=128)


class MaintenanceOut(Out):
    id: int
    asset_id: int
    performed_at: LocalTime
    kind: str
    summary: str
    performed_by: str
    result: str
    created_by: str
    ticket_id: int | None = None
