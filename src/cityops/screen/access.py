"""Who may watch the big screen (SYS-SCREEN).

A screen request is admitted by the console's session cookie (any role; a `street` user sees
their own street only) or by a wall display's key cookie `cityops_display` (set by
`GET /screen/display/{key}`): displays stay signed in for months, console tokens last an
hour. The display cookie is read here and nowhere else, so it opens the screen routes and
never the console. Page requests without either go to the login page; data requests
(`/screen/data`, `/screen/stream`, `/screen/geo` and anything not asking for HTML) get 401.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from cityops.auth.deps import principal_from
from cityops.core.errors import Problem

DISPLAY_COOKIE = "cityops_display"
DISPLAY_MAX_AGE = 365 * 24 * 3600
DATA_PATHS = ("/screen/data", "/screen/stream", "/screen/geo")


@dataclass(frozen=True)
class Viewer:
    street_scope: str | None  # the street this viewer is confined to; None = the whole district
    label: str  # who is watching, for the screen's corner: a user's name or the display's
    user: str | None  # the console user's name; None for a wall display
    role: str | None = None
    display_id: int | None = None


def _wants_page(request: Request) -> bool:
    if request.url.path.startswith(DATA_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "")


def viewer_from(request: Request, session: Session) -> Viewer | None:
    from cityops.screen import displays

    p = principal_from(request, session, allow_cookie=True)
    if p is not None:
        return Viewer(p.street_scope, p.display_name or p.username, p.username, p.role)
    d = displays.by_key(session, request.cookies.get(DISPLAY_COOKIE))
    if d is not None:
        return Viewer(d.street_code, d.name, None, None, d.id)
    return None


def screen_viewer(request: Request) -> Viewer:
    """The dependency of every screen route. Opens its own short session (the SSE stream
    must not keep one for its whole life)."""
    from cityops.web.shell import LoginRequired

    with request.app.state.ctx.db.session() as s:
        viewer = viewer_from(request, s)
    if viewer is not None:
        return viewer
    if _wants_page(request):
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    raise HTTPException(401, "请先登录控制台，或使用大屏显示密钥打开",
                        headers={"WWW-Authenticate": "Bearer"})


def resolve_street(session: Session, scope: str | None, street: str | None) -> tuple[str | None, str]:
    """(street code or None for the district, its Chinese name) for a viewer confined to `scope`
    asking for `street`: another street than one's own → 403, an unknown street → 404."""
    from cityops.geo.service import get_district, get_street

    street = (street or "").strip() or None
    if scope is not None:
        if street is not None and street != scope:
            raise Problem(403, "Forbidden", f"只能查看本街镇（{scope}）的大屏")
        street = scope
    if street is None:
        try:
            return None, get_district(session).name
        except Problem:
            return None, "全区"
    return street, get_street(session, street).name
