"""API shapes of fault grades and fault records (OPS-4)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class GradeIn(BaseModel):
    level: int = Field(ge=1, le=9)
    name: str = Field(min_length=1, max_length=16)
    label: str = Field("", max_length=16)
    scope: str = ""
    response_minutes: int = Field(gt=0)
    restore_minutes: int = Field(gt=0)
    notify_teams: list[str] = []
    notify_contacts: list[int] = []
    notify_managers: bool = False
    notify_note: str = Field("", max_length=200)
    channel_ids: list[int] = []
    color: str = "#888888"
    active: bool = True


class GradePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=16)
    label: str | None = Field(None, max_length=16)
    scope: str | None = None
    response_minutes: int | None = Field(None, gt=0)
    restore_minutes: int | None = Field(None, gt=0)
    notify_teams: list[str] | None = None
    notify_contacts: list[int] | None = None
    notify_managers: bool | None = None
    notify_note: str | None = Field(None, max_length=200)
    channel_ids: list[int] | None = None
    color: str | None = None
    active: bool | None = None


class GradeOut(Out):
    id: int
    level: int
    name: str
    label: str
    scope: str
    response_minutes: int
    restore_minutes: int
    notify_teams: list[str]
    notify_contacts: list[int]
    notify_managers: bool
    notify_note: str
    channel_ids: list[int]
    color: str
    active: bool


class FaultIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    grade_id: int
    occurred_at: datetime
    detected_at: datetime | None = None
    system_codes: list[str] = []
    asset_ids: list[int] = []
    ticket_ids: list[int] = []
    description: str = ""
    reporter: str = Field("", max_length=64)
    handler: str = Field("", max_length=64)


class FaultPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    grade_id: int | None = None
    occurred_at: datetime | None = None
    detected_at: datetime | None = None
    system_codes: list[str] | None = None
    asset_ids: list[int] | None = None
    ticket_ids: list[int] | None = None
    description: str | None = None
    cause: str | None = None
    impact: str | None = None
    recovery: str | None = None
    follow_up: str | None = None
    reporter: str | None = Field(None, max_length=64)
    handler: str | None = Field(None, max_length=64)


class EntryIn(BaseModel):
    text: str = Field(min_length=1)
    at: datetime | None = None


class MoveIn(BaseModel):
    to: Literal["responding", "restored", "closed"]
    at: datetime | None = None
    note: str = ""


class StatusOut(BaseModel):
    response_due: LocalTime
    restore_due: LocalTime
    response_minutes: int
    restore_minutes: int
    response_used: int
    restore_used: int
    response_met: bool
    restore_met: bool
    response_overdue: bool
    restore_overdue: bool
    duration_minutes: int
    open: bool


class EntryOut(Out):
    id: int
    at: LocalTime
    kind: str
    text: str
    author: str


class FaultOut(Out):
    id: int
    number: str
    title: str
    grade_id: int
    grade: str = ""
    state: str
    system_codes: list[str]
    asset_ids: list[int]
    ticket_ids: list[int]
    occurred_at: LocalTime
    detected_at: LocalTime
    responded_at: LocalTime | None
    restored_at: LocalTime | None
    closed_at: LocalTime | None
    description: str
    cause: str
    impact: str
    recovery: str
    follow_up: str
    reporter: str
    handler: str
    created_by: str
    status: StatusOut | None = None
    timeline: list[EntryOut] | None = None


class FaultPage(BaseModel):
    items: list[FaultOut]
    total: int
    limit: int
    offset: int
