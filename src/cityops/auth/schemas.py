"""API shapes for users and tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cityops.audit.service import mask_phone
from cityops.auth.models import User
from cityops.core.schemas import LocalTime, Out


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: str
    street_code: str | None
    phone: str | None
    email: str | None
    active: bool
    created_at: LocalTime
    last_login_at: LocalTime | None

    @classmethod
    def of(cls, user: User, *, pii: bool) -> UserOut:
        out = cls.model_validate(user)
        if not pii:
            out.phone = mask_phone(out.phone)
        return out


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: str
    password: str = Field(min_length=1, max_length=256)
    display_name: str = ""
    street_code: str | None = None
    phone: str | None = None
    email: str | None = None


class UserUpdate(BaseModel):
    role: str | None = None
    display_name: str | None = None
    street_code: str | None = None
    phone: str | None = None
    email: str | None = None
    active: bool | None = None


class PasswordSet(BaseModel):
    password: str = Field(min_length=1, max_length=256)
