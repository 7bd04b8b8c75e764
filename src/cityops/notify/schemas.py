"""API shapes for notification channels, policies and the notification log (IOT-5 / OPS-3).
Channel secrets never leave the server; phone numbers in the log are always masked."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cityops.audit.service import mask_phone
from cityops.core.schemas import LocalTime, Out
from cityops.notify.models import ChannelConfig, OutboxMessage
from cityops.notify.service import public_settings


class ChannelIn(BaseModel):
    kind: Literal["wecom", "sms", "email", "voice"]
    name: str = Field(min_length=1, max_length=64)
    settings: dict[str, Any]
    enabled: bool = True


class ChannelPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    settings: dict[str, Any] | None = None  # secrets given as "******" or left out keep their value
    enabled: bool | None = None


class ChannelOut(Out):
    id: int
    kind: str
    name: str
    settings: dict[str, Any]
    enabled: bool
    updated_at: LocalTime

    @classmethod
    def of(cls, ch: ChannelConfig) -> ChannelOut:
        return cls(id=ch.id, kind=ch.kind, name=ch.name, settings=public_settings(ch), enabled=ch.enabled,
                   updated_at=ch.updated_at)


class Target(BaseModel):
    kind: Literal["team", "contact", "manager", "unit"]
    team: str | None = None
    contact_id: int | None = None


class Step(BaseModel):
    targets: list[Target] = Field(min_length=1)
    channels: list[int] = Field(min_length=1)
    wait_minutes: int = Field(default=10, ge=0, le=24 * 60)


class PolicyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    position: int = 100
    enabled: bool = True
    min_severity: str = "info"
    alarm_type: str = ""
    tag_id: int | None = None
    street_code: str | None = None
    unit_id: int | None = None
    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=10)
    quiet_start: str = ""
    quiet_end: str = ""
    quiet_max_severity: str = "warning"

    def fields(self, **kw: Any) -> dict[str, Any]:
        data = self.model_dump(**kw)
        if "steps" in data and data["steps"] is not None:
            data["steps"] = [{**s, "targets": [{k: v for k, v in t.items() if v is not None} for t in s["targets"]]}
                             for s in data["steps"]]
        return data


class PolicyPatch(PolicyIn):
    name: str | None = Field(default=None, min_length=1, max_length=64)  # type: ignore[assignment]
    steps: list[Step] | None = Field(default=None, min_length=1)  # type: ignore[assignment]


class PolicyOut(Out):
    id: int
    name: str
    position: int
    enabled: bool
    min_severity: str
    alarm_type: str
    tag_id: int | None
    street_code: str | None
    unit_id: int | None
    steps: list[dict[str, Any]]
    repeat: int
    quiet_start: str
    quiet_end: str
    quiet_max_severity: str


class NotificationOut(BaseModel):
    id: int
    alarm_id: int | None
    channel_id: int | None
    channel_kind: str
    contact_id: int | None
    recipient: str
    step: int
    round_no: int
    title: str
    state: str
    attempts: int
    next_attempt_at: LocalTime | None
    last_error: str
    created_at: LocalTime
    sent_at: LocalTime | None

    @classmethod
    def of(cls, m: OutboxMessage) -> NotificationOut:
        return cls(id=m.id, alarm_id=m.alarm_id, channel_id=m.channel_id, channel_kind=m.channel_kind,
                   contact_id=m.contact_id, recipient=recipient_label(m), step=m.step, round_no=m.round_no,
                   title=m.payload.get("title", ""), state=m.state, attempts=m.attempts,
                   next_attempt_at=m.next_attempt_at, last_error=m.last_error, created_at=m.created_at,
                   sent_at=m.sent_at)


def recipient_label(m: OutboxMessage) -> str:
    """Names and the addresses used, phones masked: the log never shows a dialable number."""
    people = m.payload.get("recipients") or []
    if not people:
        return m.recipient_name
    out = []
    for r in people:
        address = {"sms": mask_phone(r.get("phone") or ""), "voice": mask_phone(r.get("phone") or ""),
                   "email": r.get("email") or "", "wecom": "@" + r["wecom_userid"] if r.get("wecom_userid") else ""
                   }.get(m.channel_kind, "")
        out.append(f"{r.get('name', '')} {address}".strip())
    return "、".join(out)


class TestSend(BaseModel):
    channel_id: int
    contact_id: int | None = None


class TestResult(BaseModel):
    ok: bool
    retryable: bool
    error: str | None
    status_code: int | None
    provider_message_id: str | None


class EscalationOut(Out):
    alarm_id: int
    policy_id: int | None
    state: str
    step: int
    repeats_done: int
    next_at: LocalTime | None
    held_until: LocalTime | None
    stop_reason: str
    created_at: LocalTime
    updated_at: LocalTime
