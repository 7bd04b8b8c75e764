"""API shapes for connections, dead letters and pending devices."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, Field

from cityops.core.schemas import LocalTime, Out


class ConnectionCreate(BaseModel):
    kind: str
    name: str = Field(min_length=1, max_length=128)
    settings: dict[str, Any] = Field(default_factory=dict)
    allowed_ips: list[str] = Field(default_factory=list)


class ConnectionUpdate(BaseModel):
    name: str | None = None
    settings: dict[str, Any] | None = None
    allowed_ips: list[str] | None = None
    enabled: bool | None = None


class ConnectionOut(BaseModel):
    id: int
    kind: str
    name: str
    settings: dict[str, Any]
    allowed_ips: list[str]
    enabled: bool
    push_url: str
    received: int
    accepted: int
    rejected: int
    last_received_at: LocalTime | None
    last_error: str
    created_at: LocalTime


class ConnectionCreated(ConnectionOut):
    """Only the creation (and token rotation) answer shows the push URL with its token."""


class DeadLetterOut(Out):
    id: int
    connection_id: int | None
    received_at: LocalTime
    reason: str
    status_code: int
    transport: str
    topic: str
    remote_addr: str
    state: str
    handled_at: LocalTime | None
    handled_by: str
    replay_result: str
    size: int = 0
    preview: str = ""

    @classmethod
    def of(cls, dl, *, full: bool = False) -> DeadLetterOut:
        out = cls.model_validate(dl)
        out.size = len(dl.raw or b"")
        raw = dl.raw or b""
        try:
            out.preview = raw[: (None if full else 400)].decode("utf-8")
        except UnicodeDecodeError:
            out.preview = "base64:" + base64.b64encode(raw[: (None if full else 300)]).decode()
        return out


class DeadLetterDetail(DeadLetterOut):
    headers: dict[str, Any]
    query: dict[str, Any]
    raw_base64: str


class PendingOut(Out):
    id: int
    connection_id: int
    external_id: str
    product_key: str
    imei: str
    first_seen_at: LocalTime
    last_seen_at: LocalTime
    messages: int
    last_message: dict[str, Any]
    state: str
    device_id: int | None


class Onboard(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    product_id: int
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    unit_id: int | None = None
    reason: str = ""


class Discard(BaseModel):
    note: str = ""
