"""API shapes for city events (IOT-6). Reporter phones are masked for roles without PII."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class CategoryOut(Out):
    id: int
    code: str
    name: str
    level: int
    parent_id: int | None
    default_severity: str
    enabled: bool
    merge_radius_m: int | None
    merge_window_min: int | None


class CategoryIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    parent_id: int | None = None
    code: str | None = Field(default=None, max_length=16)
    default_severity: str = "warning"
    enabled: bool = True
    merge_radius_m: int | None = None
    merge_window_min: int | None = None


class CategoryPatch(BaseModel):
    name: str | None = Field(default=None, max_length=64)
    default_severity: str | None = None
    enabled: bool | None = None
    merge_radius_m: int | None = None
    merge_window_min: int | None = None


class EventIn(BaseModel):
    category_id: int | None = None
    category_code: str | None = None
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    address: str = Field(default="", max_length=256)
    severity: str | None = None
    source_kind: str = "manual"
    source_ref: str = Field(default="", max_length=128)
    reporter_name: str = Field(default="", max_length=64)
    reporter_phone: str = Field(default="", max_length=32)


class EventOut(Out):
    id: int
    number: str
    category_id: int
    title: str
    description: str
    lon: float | None
    lat: float | None
    street_code: str | None
    grid_code: str | None
    address: str
    severity: str
    source_kind: str
    source_ref: str
    reporter_name: str
    reporter_phone: str
    state: str
    unit_id: int | None
    merged_into_id: int | None
    report_count: int
    created_by: str
    reported_at: LocalTime
    accepted_at: LocalTime | None
    dispatched_at: LocalTime | None
    disposed_at: LocalTime | None
    verified_at: LocalTime | None
    closed_at: LocalTime | None
    updated_at: LocalTime


class TransitionOut(Out):
    id: int
    from_state: str
    to_state: str
    action: str
    actor: str
    reason: str
    at: LocalTime
    details: dict[str, Any]


class AttachmentOut(Out):
    id: int
    name: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: LocalTime


class EventDetail(EventOut):
    category_path: str
    allowed_next: list[str]
    transitions: list[TransitionOut]
    attachments: list[AttachmentOut]
    merged_children: list[EventOut]


class TransitionIn(BaseModel):
    to: str
    reason: str = Field(default="", max_length=2000)


class UnmergeIn(BaseModel):
    reason: str = Field(default="", max_length=2000)
