"""API shapes for hardware maintenance: schedules, due list, spares, repairs, warranty (HW)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from cityops.catalog.schemas import AssetOut
from cityops.core.schemas import LocalTime, Out


class ScheduleIn(BaseModel):
    line_id: int
    interval: int = Field(ge=1, le=60)
    unit: str = "month"
    checklist: str = ""
    first_due: date
    active: bool = True


class SchedulePatch(BaseModel):
    interval: int | None = Field(default=None, ge=1, le=60)
    unit: str | None = None
    checklist: str | None = None
    first_due: date | None = None
    active: bool | None = None


class ScheduleOut(Out):
    id: int
    line_id: int
    interval: int
    unit: str
    checklist: str
    first_due: date
    active: bool


class DueOut(BaseModel):
    asset: AssetOut
    line_id: int
    schedule_id: int
    last_at: LocalTime | None
    due: date
    days_left: int
    overdue: bool


class PartIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    model: str = Field(default="", max_length=64)
    line_id: int | None = None
    quantity: int = Field(default=0, ge=0)
    location: str = Field(default="", max_length=64)
    min_stock: int = Field(default=0, ge=0)
    notes: str = ""


class PartPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    line_id: int | None = None
    location: str | None = Field(default=None, max_length=64)
    min_stock: int | None = Field(default=None, ge=0)
    notes: str | None = None


class PartOut(Out):
    id: int
    name: str
    model: str
    line_id: int | None
    quantity: int
    location: str
    min_stock: int
    notes: str
    low: bool = False


class MovementIn(BaseModel):
    delta: int
    reason: str
    note: str = ""
    record_id: int | None = None


class MovementOut(Out):
    id: int
    part_id: int
    delta: int
    reason: str
    note: str
    record_id: int | None
    quantity_after: int
    at: LocalTime
    by: str


class PartUse(BaseModel):
    part_id: int
    quantity: int = Field(ge=1)


class WorkIn(BaseModel):
    asset_id: int
    kind: str
    summary: str = Field(min_length=1)
    performed_by: str = ""
    performed_at: datetime | None = None
    result: str = ""
    ticket_id: int | None = Field(default=None, ge=1)
    parts: list[PartUse] = []


class WarrantyBucketsOut(BaseModel):
    expired: list[AssetOut]
    d30: list[AssetOut]
    d60: list[AssetOut]
