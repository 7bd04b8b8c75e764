"""API shapes for the duty roster (IOT-5 / OPS-3). Phone numbers are masked for roles that
do not see personal data (`Principal.sees_pii`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cityops.audit.service import mask_phone
from cityops.core.schemas import LocalTime, Out
from cityops.duty.models import Contact, Shift


class TeamIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=64)
    unit_id: int | None = None
    manager_id: int | None = None
    active: bool = True


class TeamPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    unit_id: int | None = None
    manager_id: int | None = None
    active: bool | None = None


class TeamOut(Out):
    code: str
    name: str
    unit_id: int | None
    manager_id: int | None
    active: bool


class ContactIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=128)
    wecom_userid: str = Field(default="", max_length=64)
    username: str | None = Field(default=None, max_length=64)
    team_code: str | None = None
    unit_id: int | None = None
    active: bool = True
    note: str = ""


class ContactPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=128)
    wecom_userid: str | None = Field(default=None, max_length=64)
    username: str | None = None
    team_code: str | None = None
    unit_id: int | None = None
    active: bool | None = None
    note: str | None = None


class ContactOut(Out):
    id: int
    name: str
    phone: str
    email: str
    wecom_userid: str
    username: str | None
    team_code: str | None
    unit_id: int | None
    active: bool
    note: str

    @classmethod
    def of(cls, contact: Contact, *, pii: bool) -> ContactOut:
        out = cls.model_validate(contact)
        if not pii:
            out.phone = mask_phone(out.phone)
        return out


class ShiftIn(BaseModel):
    contact_id: int
    team_code: str
    role: str = "member"
    starts_at: datetime
    ends_at: datetime
    note: str = ""
    post: str = Field(default="", max_length=32)


class ShiftPatch(BaseModel):
    contact_id: int | None = None
    team_code: str | None = None
    role: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    note: str | None = None
    post: str | None = Field(default=None, max_length=32)


class ShiftOut(Out):
    id: int
    contact_id: int
    team_code: str
    role: str
    starts_at: LocalTime
    ends_at: LocalTime
    note: str
    created_by: str
    post: str = ""
    source: str = "manual"
    rotation_id: int | None = None


class OnDutyOut(BaseModel):
    shift: ShiftOut
    contact: ContactOut

    @classmethod
    def of(cls, shift: Shift, contact: Contact, *, pii: bool) -> OnDutyOut:
        return cls(shift=ShiftOut.model_validate(shift), contact=ContactOut.of(contact, pii=pii))
