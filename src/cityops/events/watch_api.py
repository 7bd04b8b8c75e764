"""Flow-state watch API (IOT-6, issue #5 item 6): warnings, acknowledging one, the duty
officer's board and the watch settings. Street users see and acknowledge their own
street's warnings only (404 elsewhere) and get no platform breaker details."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import utcnow
from cityops.events import watch

router = APIRouter(prefix="/api/v1", tags=["events"])
READERS = ("admin", "manager", "duty", "technician", "auditor", "street")
Reader = Annotated[Principal, Depends(require(*READERS))]
Acker = Annotated[Principal, Depends(require("admin", "manager", "duty", "street"))]
Admin = Annotated[Principal, Depends(require("admin", "manager"))]


class WarningOut(Out):
    id: int
    kind: str
    subject: str
    event_id: int | None
    street_code: str | None
    severity: str
    text: str
    details: dict[str, Any]
    state: str
    first_at: LocalTime
    last_at: LocalTime
    acked_by: str
    acked_at: LocalTime | None
    resolved_at: LocalTime | None
    notified: int


class SettingsOut(Out):
    warn_pct: int | None = Field(description="SLA warn threshold in %; null = each policy's warn_at_pct")
    outbox_attempts: int
    outbox_pending_min: int
    result_hours: int
    verify_failures: int
    verify_window_h: int
    surge_factor: float
    surge_min_count: int
    notify_team: str
    notify_channels: list[int]
    quiet_info: bool
    updated_by: str
    updated_at: LocalTime


class SettingsIn(BaseModel):
    warn_pct: int | None = None
    outbox_attempts: int | None = None
    outbox_pending_min: int | None = None
    result_hours: int | None = None
    verify_failures: int | None = None
    verify_window_h: int | None = None
    surge_factor: float | None = None
    surge_min_count: int | None = None
    notify_team: str | None = Field(None, description='duty team code; "" = nobody is notified')
    notify_channels: list[int] | None = None
    quiet_info: bool | None = Field(None, description="info-level warnings only on the board, no messages")


class GridRow(BaseModel):
    state: str
    label: str
    total: int
    ok: int
    warning: int
    breached: int


class OutboxHealth(BaseModel):
    pending: int
    failed: int
    oldest_pending_at: LocalTime | None
    oldest_pending_min: int | None


class PlatformHealth(BaseModel):
    id: int
    name: str
    enabled: bool
    breaker: str
    open_until: LocalTime | None
    last_error: str
    last_success_at: LocalTime | None


class BoardOut(BaseModel):
    now: LocalTime
    grid: list[GridRow] = Field(description="open events per state × SLA state (as of the last scan)")
    warnings: dict[str, dict[str, int]] = Field(description="live warnings per kind: open / acknowledged")
    outbox: OutboxHealth
    platforms: list[PlatformHealth]
    result_missing: list[WarningOut]
    surges: list[WarningOut]


@router.get("/flow/warnings", response_model=list[WarningOut])
def warnings(session: DbSession, p: Reader, kind: str | None = None, state: str = "active"):
    """Warnings, live first (state: active = open or acknowledged, open, acknowledged,
    resolved, or all)."""
    return watch.list_warnings(session, kind=kind or None, state=None if state == "all" else state,
                               scope=p.street_scope)


@router.post("/flow/warnings/{warning_id:int}/ack", response_model=WarningOut)
def ack(warning_id: int, session: DbSession, p: Acker):
    return watch.acknowledge(session, warning_id, by=p.username, now=utcnow(), scope=p.street_scope)


@router.get("/flow/board", response_model=BoardOut)
def flow_board(session: DbSession, p: Reader):
    return watch.board(session, now=utcnow(), scope=p.street_scope)


@router.get("/flow/settings", response_model=SettingsOut)
def get_settings(session: DbSession, _: Admin):
    return watch.get_settings(session)


@router.put("/flow/settings", response_model=SettingsOut)
def put_settings(body: SettingsIn, session: DbSession, p: Admin):
    """Change the fields given; warn_pct null means each policy's own threshold."""
    return watch.update_settings(session, by=p.username, **body.model_dump(exclude_unset=True))

