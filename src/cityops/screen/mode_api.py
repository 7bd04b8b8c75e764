"""API of the emergency/holiday monitoring modes (EMRG-4): `/api/v1/screen/modes`.

Read: staff roles and street users (a street user sees district-wide modes and its own
street's; others answer 404). Write (create, edit, switch on/off): admin, manager and duty —
the duty officer switches the typhoon mode on at 3 a.m. Indicator definitions are validated by
`cityops.screen.modes.validate_indicators`; a bad one is a 422 problem+json whose detail says
in Chinese which indicator and what is wrong."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.timeutil import utcnow
from cityops.screen import modes

router = APIRouter(prefix="/api/v1/screen/modes", tags=["screen"])
READERS = (*STAFF, "street")
WRITERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*READERS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]


class ModeIn(BaseModel):
    code: str
    name: str
    kind: str = "emergency"
    description: str = ""
    refresh_s: int = 5
    street_code: str | None = None
    indicators: Any = None  # validated by the service, for messages people can act on


class ModePatch(BaseModel):
    name: str | None = None
    kind: str | None = None
    description: str | None = None
    refresh_s: int | None = None
    street_code: str | None = None
    indicators: Any = None


@router.get("")
def list_modes(session: DbSession, who: Reader) -> list[dict[str, Any]]:
    return [modes.mode_dict(m) for m in modes.list_modes(session, scope=who.street_scope)]


@router.get("/active")
def active(session: DbSession, who: Reader) -> list[dict[str, str]]:
    """What the main screen's banner shows."""
    return modes.active_modes(session, street=who.street_scope)


@router.post("", status_code=201)
def create(body: ModeIn, session: DbSession, who: Writer) -> dict[str, Any]:
    mode = modes.create_mode(session, by=who.username, **body.model_dump())
    return modes.mode_dict(mode)


@router.get("/{code}")
def get(code: str, session: DbSession, who: Reader) -> dict[str, Any]:
    return modes.mode_dict(modes.get_mode(session, code, scope=who.street_scope))


@router.patch("/{code}")
def update(code: str, body: ModePatch, session: DbSession, who: Writer) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    mode = modes.update_mode(session, code, by=who.username, scope=who.street_scope, **fields)
    return modes.mode_dict(mode)


@router.post("/{code}/activate")
def activate(code: str, session: DbSession, who: Writer) -> dict[str, Any]:
    return modes.mode_dict(modes.activate(session, code, by=who.username, scope=who.street_scope))


@router.post("/{code}/deactivate")
def deactivate(code: str, session: DbSession, who: Writer) -> dict[str, Any]:
    return modes.mode_dict(modes.deactivate(session, code, by=who.username, scope=who.street_scope))


@router.get("/{code}/live")
def live(code: str, session: DbSession, who: Reader) -> dict[str, Any]:
    """Each indicator's value, level and last hour; the newest 50 log rows."""
    return modes.evaluate(session, modes.get_mode(session, code, scope=who.street_scope), now=utcnow())


@router.get("/{code}/log")
def log(code: str, session: DbSession, who: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before_id: int | None = None) -> list[dict[str, Any]]:
    mode = modes.get_mode(session, code, scope=who.street_scope)
    return [modes.log_dict(r) for r in modes.log_of(session, mode, limit=limit, before_id=before_id)]
