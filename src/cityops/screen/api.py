"""Big-screen API (SYS-SCREEN), bearer token:

* `GET /api/v1/screen/panels?street=CODE` → {street, street_name, generated_at, panels: {name: snapshot}}
* `GET /api/v1/screen/panels/{name}?street=CODE` → one snapshot
  Any role; a `street` user is confined to their own street (another street → 403).
* `GET /api/v1/screen/displays`, `POST /api/v1/screen/displays` (the key is in the answer, once),
  `POST /api/v1/screen/displays/{id}/revoke` — wall displays, for admins and managers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.errors import NotFound
from cityops.screen import displays
from cityops.screen.access import resolve_street
from cityops.screen.cache import cache_of, payload
from cityops.screen.panels import PANELS

router = APIRouter(prefix="/api/v1/screen", tags=["screen"])
Reader = Annotated[Principal, Depends(require())]
Manager = Annotated[Principal, Depends(require("admin", "manager"))]


@router.get("/panels")
def all_panels(request: Request, session: DbSession, who: Reader, street: str | None = None) -> dict[str, Any]:
    """Every panel of the district's screen, or of one street's."""
    code, name = resolve_street(session, who.street_scope, street)
    return payload(cache_of(request.app), code, name)


@router.get("/panels/{name}")
def one_panel(name: str, request: Request, session: DbSession, who: Reader, street: str | None = None) -> dict[str, Any]:
    if name not in PANELS:
        raise NotFound(f"未知的大屏面板 {name!r}；可用面板：{'、'.join(PANELS)}")
    code, _ = resolve_street(session, who.street_scope, street)
    return cache_of(request.app).snapshot(name, code)


class DisplayIn(BaseModel):
    name: str
    street_code: str | None = None


@router.get("/displays")
def list_displays(session: DbSession, _: Manager) -> list[dict[str, Any]]:
    return [displays.as_dict(d) for d in displays.list_displays(session)]


@router.post("/displays", status_code=201)
def create_display(body: DisplayIn, session: DbSession, who: Manager) -> dict[str, Any]:
    """The key and the display's URL are shown in this answer only; only the key's hash is kept."""
    d, key = displays.create(session, name=body.name, street_code=body.street_code, actor=who.username)
    return {**displays.as_dict(d), "key": key, "url": f"/screen/display/{key}"}


@router.post("/displays/{display_id}/revoke")
def revoke_display(display_id: int, session: DbSession, _: Manager) -> dict[str, Any]:
    return displays.as_dict(displays.revoke(session, display_id))
