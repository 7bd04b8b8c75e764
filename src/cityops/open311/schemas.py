"""Management API shapes for Open311 clients (IOT-7)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    token_mode: bool = False
    note: str = Field(default="", max_length=256)


class ClientPatch(BaseModel):
    enabled: bool | None = None
    token_mode: bool | None = None


class ClientOut(Out):
    id: int
    name: str
    key_prefix: str
    enabled: bool
    token_mode: bool
    note: str
    created_by: str
    created_at: LocalTime
    last_used_at: LocalTime | None
    requests_count: int


class ClientCreated(ClientOut):
    api_key: str = Field(description="shown once; only its SHA-256 is stored")

