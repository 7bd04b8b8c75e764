"""API shapes for rotations, overrides, swaps, special periods, coverage and handovers (SVC-1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class Slot(BaseModel):
    code: str = Field(min_length=1, max_length=8)
    label: str = Field(default="", max_length=16)
    start: str
    end: str


class RotationIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    team_code: str
    role: str = "member"
    post: str = Field(default="", max_length=32)
    kind: str = "cycle"
    members: list[int]
    slots: list[Slot] = []
    cycle: list[str] = []
    start_date: date
    handover: str = "08:30"
    active: bool = True


class RotationPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    role: str | None = None
    post: str | None = Field(default=None, max_length=32)
    members: list[int] | None = None
    slots: list[Slot] | None = None
    cycle: list[str] | None = None
    start_date: date | None = None
    handover: str | None = None
    active: bool | None = None


class RotationOut(Out):
    id: int
    name: str
    team_code: str
    role: str
    post: str
    kind: str
    members: list[int]
    slots: list[dict[str, Any]]
    cycle: list[str]
    start_date: date
    handover: str
    active: bool


class GenerateIn(BaseModel):
    start: date
    end: date


class GenerateOut(BaseModel):
    created: int
    removed: int
    skipped: int


class OverrideIn(BaseModel):
    contact_id: int
    replacement_id: int
    starts_at: datetime
    ends_at: datetime
    team_code: str | None = None
    reason: str = ""


class OverrideOut(Out):
    id: int
    contact_id: int
    replacement_id: int
    team_code: str | None
    starts_at: LocalTime
    ends_at: LocalTime
    reason: str
    created_by: str


class SwapIn(BaseModel):
    shift_a_id: int
    shift_b_id: int
    reason: str = ""


class Decision(BaseModel):
    note: str = ""


class SwapOut(Out):
    id: int
    shift_a_id: int
    shift_b_id: int
    reason: str
    state: str
    requested_by: str
    decided_by: str
    decided_at: LocalTime | None
    decision_note: str
    created_at: LocalTime


class Requirement(BaseModel):
    label: str = ""
    role: str = ""
    post: str = ""
    count: int = 1


class PeriodIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    kind: str = "holiday"
    starts_on: date
    ends_on: date
    requirements: list[Requirement]
    note: str = ""


class PeriodOut(Out):
    id: int
    name: str
    kind: str
    starts_on: date
    ends_on: date
    requirements: list[dict[str, Any]]
    note: str


class HolidayOut(BaseModel):
    name: str
    starts_on: date
    ends_on: date
    exists: bool


class Missing(BaseModel):
    label: str
    need: int
    have: int


class Gap(BaseModel):
    start: LocalTime
    end: LocalTime
    missing: list[Missing]


class CoverageOut(BaseModel):
    start: LocalTime
    end: LocalTime
    hours: int
    gap_hours: float
    gaps: list[Gap]


class HandoverIn(BaseModel):
    team_code: str
    note: str = Field(min_length=1)


class HandoverOut(Out):
    id: int
    team_code: str
    written_by: str
    written_at: LocalTime
    note: str
    summary: dict[str, Any]
    acknowledged_by: str
    acknowledged_at: LocalTime | None
    ack_note: str


class OnDutyNowOut(BaseModel):
    team: str
    team_name: str
    role: str
    role_label: str
    post: str
    name: str
    phone: str
    until: LocalTime
    stand_in_for: str
