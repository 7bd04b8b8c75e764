"""The screen's data side (SYS-SCREEN), for the console cookie or a wall display's key cookie:

* `GET /screen/data?street=CODE` — every panel's snapshot (same JSON as /api/v1/screen/panels)
* `GET /screen/stream?street=CODE` — Server-Sent Events: `retry: 3000`, one `event: panel` per
  panel, then each second the panels whose version changed, and `: ping` every 15 s
* `GET /screen/geo` — streets and grids as GeoJSON for the map (ETag, cacheable)
* `GET /screen/display/{key}` — a wall display signs in: sets the `cityops_display` cookie
  (HttpOnly, SameSite=Strict, one year) and goes to its screen; a revoked or unknown key gets 403

The stream never blocks the event loop (cache reads run in the thread pool), holds no database
session between ticks, stops when the client goes away, and ends when the viewer's access does
(a revoked display, an expired console session): the browser reconnects and is asked again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cityops.screen.access import DISPLAY_COOKIE, DISPLAY_MAX_AGE, Viewer, resolve_street, screen_viewer, viewer_from
from cityops.screen.cache import cache_of, payload

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
DISPLAY_PREFIX = "/screen/display/"


class _HideDisplayKeys(logging.Filter):
    """The sign-in address carries the display's key: keep it out of uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith(DISPLAY_PREFIX):
            record.args = (*args[:2], DISPLAY_PREFIX + "…", *args[3:])
        return True


logging.getLogger("uvicorn.access").addFilter(_HideDisplayKeys())
Watcher = Annotated[Viewer, Depends(screen_viewer)]

TICK_S = 1.0
PING_S = 15.0
RECHECK_S = 60.0


def _street(request: Request, viewer: Viewer, street: str | None) -> tuple[str | None, str]:
    with request.app.state.ctx.db.session() as s:
        return resolve_street(s, viewer.street_scope, street)


@router.get("/screen/data")
def screen_data(request: Request, viewer: Watcher, street: str | None = None) -> dict[str, Any]:
    code, name = _street(request, viewer, street)
    return payload(cache_of(request.app), code, name)


def _event(snapshot: dict[str, Any]) -> str:
    return f"event: panel\ndata: {json.dumps(snapshot, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _events(request: Request, street: str | None, tick_s: float = TICK_S) -> AsyncIterator[str]:
    cache = cache_of(request.app)
    yield "retry: 3000\n\n"
    sent: dict[str, str] = {}
    last_ping = last_check = time.monotonic()
    while True:
        try:
            snaps = await run_in_threadpool(cache.all, street)
        except Exception:  # the database is away: keep the connection, try again next tick
            log.exception("screen stream could not read the panels", extra={"street": street})
            snaps = {}
        for name, snap in snaps.items():
            if sent.get(name) != snap["version"]:
                sent[name] = snap["version"]
                yield _event(snap)
        now = time.monotonic()
        if now - last_ping >= PING_S:
            last_ping = now
            yield ": ping\n\n"
        if now - last_check >= RECHECK_S:
            last_check = now
            if not await run_in_threadpool(_still_allowed, request):
                return
        await anyio.sleep(tick_s)
        if await request.is_disconnected():
            return


def _still_allowed(request: Request) -> bool:
    with request.app.state.ctx.db.session() as s:
        return viewer_from(request, s) is not None


@router.get("/screen/stream")
def screen_stream(request: Request, viewer: Watcher, street: str | None = None) -> StreamingResponse:
    code, _ = _street(request, viewer, street)
    return StreamingResponse(_events(request, code), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/screen/geo")
def screen_geo(request: Request, viewer: Watcher, street: str | None = None) -> Response:
    """Streets and grids for the map; a street viewer gets their street's only."""
    from cityops.geo.service import feature_collection, list_grids, list_streets

    with request.app.state.ctx.db.session() as s:
        code, _ = resolve_street(s, viewer.street_scope, street)
        doc = {"streets": feature_collection(list_streets(s, scope=code), "street"),
               "grids": feature_collection(list_grids(s, scope=code), "grid")}
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/screen/display/{key}")
def display_sign_in(key: str, request: Request) -> Response:
    from cityops.screen import displays
    from cityops.web.shell import templates

    with request.app.state.ctx.db.session() as s:
        d = displays.by_key(s, key)
        target = (f"/screen/street/{d.street_code}" if d.street_code else "/screen") if d else None
    if d is None:
        return templates.TemplateResponse(
            request, "screen/displays_denied.html",
            {"detail": "这个大屏访问地址无效或已被停用，显示屏无法登录。"}, status_code=403)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(DISPLAY_COOKIE, key, max_age=DISPLAY_MAX_AGE, httponly=True, samesite="strict",
                    secure=request.app.state.ctx.settings.cookie_secure, path="/screen")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp

