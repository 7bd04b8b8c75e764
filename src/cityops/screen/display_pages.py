"""Console page 大屏授权 (SYS-SCREEN): `/console/screen/displays` for admins and managers — the
wall displays, a form to add one (its sign-in address `/screen/display/<key>` is shown once,
after a Post/Redirect/Get, and never again) and a button to revoke one (the display is out at
its next request)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.screen import displays
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
URL = "/console/screen/displays"
Manager_ = Annotated[ConsoleUser, Depends(require_console("admin", "manager"))]


def _page(request: Request, session: DbSession, user: ConsoleUser, *, status_code: int = 200, **extra):
    from cityops.geo.service import list_streets

    q = request.query_params
    streets = {s.code: s.name for s in list_streets(session)}
    return render(request, "screen/displays.html", user, "screen-displays", status_code=status_code,
                  rows=displays.list_displays(session), streets=streets,
                  notice=extra.pop("notice", q.get("flash", "")),
                  notice_kind=extra.pop("notice_kind", "err" if q.get("fk") == "error" else "ok"), **extra)


NEW_KEY_COOKIE = "cityops_new_display"  # the new key, for one showing after the redirect


@router.get(URL)
def displays_page(request: Request, session: DbSession, user: Manager_, created: int | None = None):
    """The list; after a create, the new display's address once (the key comes in a one-shot
    cookie, never in the URL, and the cookie is deleted by this answer: a refresh shows no key)."""
    key = request.cookies.get(NEW_KEY_COOKIE)
    d = displays.created_with(session, created, key) if created is not None and key else None
    if d is None:
        resp = _page(request, session, user)
    else:
        path = f"/screen/display/{key}"
        resp = _page(request, session, user, created=d, created_path=path,
                     created_url=str(request.base_url).rstrip("/") + path,
                     notice=f"已添加显示屏“{d.name}”，请立即复制下面的访问地址：离开本页后将无法再次查看。")
    if key:
        resp.delete_cookie(NEW_KEY_COOKIE, path=URL)
    return resp


@router.post(URL)
def create_display(request: Request, session: DbSession, user: Manager_, csrf: Annotated[str, Form()],
                   name: Annotated[str, Form()] = "", street_code: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        d, key = displays.create(session, name=name, street_code=street_code or None, actor=user.username)
    except Problem as exc:
        return _page(request, session, user, status_code=exc.status, notice=exc.detail, notice_kind="err",
                     form={"name": name, "street_code": street_code})
    # Post/Redirect/Get, so a refresh cannot create a second display; the key rides in a short-lived
    # HttpOnly cookie for this page only, so it lands in no URL, log or history.
    resp = RedirectResponse(f"{URL}?created={d.id}", status_code=303)
    resp.set_cookie(NEW_KEY_COOKIE, key, max_age=120, path=URL, httponly=True, samesite="strict",
                    secure=request.app.state.ctx.settings.cookie_secure)
    return resp


@router.post(URL + "/{display_id}/revoke")
def revoke_display(display_id: int, session: DbSession, user: Manager_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        d = displays.revoke(session, display_id)
    except Problem as exc:
        return RedirectResponse(f"{URL}?flash={quote(exc.detail)}&fk=error", status_code=303)
    return RedirectResponse(f"{URL}?flash={quote(f'已停用显示屏“{d.name}”')}", status_code=303)
