"""The big screen's pages (SYS-SCREEN): `/screen` for the whole district and
`/screen/street/{code}` for one street.

Standalone dark wall pages (they do not extend the console's base.html) designed on a
1920×1080 canvas that the browser scales to the wall. The pages carry no data themselves:
screen.js opens `/screen/stream` (SSE) and draws each panel as its snapshot arrives, falling
back to polling `/screen/data` (both in screen/stream.py, same contract as the panels API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.geo import service as geo
from cityops.geo.models import Street
from cityops.screen.access import Viewer, screen_viewer
from cityops.screen.modes import active_modes
from cityops.screen.panels import PANELS
from cityops.web.shell import templates

DISTRICT_TITLE = "长宁区“一网统管”城运大屏"
Watcher = Annotated[Viewer, Depends(screen_viewer)]  # a console session or a wall display's key

router = APIRouter(include_in_schema=False)


def _page(request: Request, session, viewer: Viewer, street: Street | None):
    streets = geo.list_streets(session)
    ctx = {
        "title": f"{street.name}城运大屏" if street else DISTRICT_TITLE,
        "street": street,
        "street_code": street.code if street else "",
        "streets": [{"code": s.code, "name": s.name} for s in streets],
        "viewer": viewer,
        "modes": active_modes(session, street=street.code if street else None),  # EMRG-4 banner
        "panels": PANELS,
    }
    return templates.TemplateResponse(request, "screen/screen.html", ctx)


def error_page(request: Request, status: int, title: str, detail: str):
    """The screens' dark Chinese error page (a wall shows this, not problem+json)."""
    return templates.TemplateResponse(request, "screen/error.html",
                                      {"status": status, "title": title, "detail": detail}, status_code=status)


@router.get("/screen")
def district_screen(request: Request, session: DbSession, viewer: Watcher):
    """The whole district; a street account (or a street's display key) sees its own street."""
    if viewer.street_scope:
        return RedirectResponse(f"/screen/street/{viewer.street_scope}", status_code=303)
    return _page(request, session, viewer, None)


@router.get("/screen/street/{code}")
def street_screen(code: str, request: Request, session: DbSession, viewer: Watcher):
    street = session.get(Street, code)
    if street is None:
        return error_page(request, 404, "未找到该街道", f"街镇代码 {code} 不存在，请从全区大屏进入。")
    if viewer.street_scope and viewer.street_scope != code:
        return error_page(request, 403, "无权查看", "当前账号只能查看本街道的城运大屏。")
    return _page(request, session, viewer, street)
