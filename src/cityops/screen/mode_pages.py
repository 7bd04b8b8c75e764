"""Pages of the emergency/holiday monitoring modes (EMRG-4).

- Console `/console/screen/modes` (应急监测): the modes with 启用/停用 buttons, the selected mode's
  editor (indicators as JSON, validation messages inline, the text kept as typed) and its change
  log. Read: staff and street users (their street's modes and district ones); write: admin,
  manager, duty.
- Wall view `/screen/mode/{code}`: a standalone dark 1920×1080 page, one tile per indicator
  (big value, level colour, the last hour with the warn/danger lines) and the change log,
  refreshed every `refresh_s` seconds from `/screen/mode/{code}/live`. Both are admitted by
  `cityops.screen.access.screen_viewer` (console cookie or a wall display's key)."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import STAFF, DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import utcnow
from cityops.geo.service import list_streets
from cityops.screen import modes
from cityops.screen.access import Viewer, screen_viewer
from cityops.screen.mode_models import KIND_LABELS, LEVEL_LABELS, MODE_KINDS
from cityops.screen.pages import error_page
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console, templates

router = APIRouter(include_in_schema=False)
READERS = (*STAFF, "street")
WRITERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
Viewer_ = Annotated[Viewer, Depends(screen_viewer)]
BASE = "/console/screen/modes"

NEW_TEMPLATE = [{"key": "max_water", "label": "最大积水深度", "unit": "cm", "direction": "above",
                 "thresholds": {"warn": 15, "danger": 25},
                 "source": {"kind": "device_value", "device_type": "water_level", "property": "water_level",
                            "aggregate": "max"}}]


def _pretty(indicators) -> str:
    return json.dumps(indicators, ensure_ascii=False, indent=2)


def _page(request: Request, session, user: ConsoleUser, *, code: str = "", flash: str = "", flash_kind: str = "ok",
          form: dict | None = None, new_form: dict | None = None, error: str = "", new_error: str = "",
          status_code: int = 200):
    rows = modes.list_modes(session, scope=user.street_scope)
    selected = next((m for m in rows if m.code == code), rows[0] if rows else None)
    log = modes.log_of(session, selected, limit=50) if selected else []
    if selected is not None and form is None:
        form = {"name": selected.name, "kind": selected.kind, "description": selected.description,
                "refresh_s": str(selected.refresh_s), "street_code": selected.street_code or "",
                "indicators": _pretty(selected.indicators)}
    new_form = new_form or {"code": "", "name": "", "kind": "emergency", "description": "", "refresh_s": "5",
                            "street_code": "", "indicators": _pretty(NEW_TEMPLATE)}
    streets = {s.code: s.name for s in list_streets(session)}
    return render(request, "screen/modes.html", user, "screen-modes", status_code=status_code, rows=rows,
                  selected=selected, log=log, form=form, new_form=new_form, error=error, new_error=new_error,
                  kinds=MODE_KINDS, kind_labels=KIND_LABELS, level_labels=LEVEL_LABELS, streets=streets,
                  source_labels=modes.SOURCE_LABELS, can_edit=user.can(*WRITERS), flash=flash,
                  flash_kind=flash_kind, open_new=bool(new_error))


def _back(code: str, message: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{BASE}?code={quote(code)}&flash={quote(message)}{anchor}", status_code=303)


@router.get(BASE)
def modes_page(request: Request, session: DbSession, user: Reader_, code: str = ""):
    return _page(request, session, user, code=code, flash=request.query_params.get("flash", ""))


async def _form(request: Request, user: ConsoleUser) -> dict[str, str]:
    form = await request.form()
    check_csrf(form.get("csrf"), user)
    return {k: str(v) for k, v in form.items() if k != "csrf"}


def _refresh(raw: str) -> int | str:
    raw = raw.strip()
    return int(raw) if raw.lstrip("-").isdigit() else raw  # a non-number reaches the service's Chinese message


async def _switch(code: str, request: Request, session, user: ConsoleUser, switch, verb: str):
    await _form(request, user)
    try:
        mode = switch(session, code, by=user.username, scope=user.street_scope, now=utcnow())
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, code=code, flash=f"{verb}失败：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    return _back(code, f"已{verb}{mode.name}")


@router.post(BASE + "/{code}/activate")
async def activate(code: str, request: Request, session: DbSession, user: Writer_):
    return await _switch(code, request, session, user, modes.activate, "启用")


@router.post(BASE + "/{code}/deactivate")
async def deactivate(code: str, request: Request, session: DbSession, user: Writer_):
    return await _switch(code, request, session, user, modes.deactivate, "停用")


@router.post(BASE + "/{code}/edit")
async def edit(code: str, request: Request, session: DbSession, user: Writer_):
    form = await _form(request, user)
    try:
        modes.update_mode(session, code, by=user.username, scope=user.street_scope, now=utcnow(),
                          name=form.get("name", ""), kind=form.get("kind", ""),
                          description=form.get("description", ""), refresh_s=_refresh(form.get("refresh_s", "")),
                          street_code=form.get("street_code") or None, indicators=form.get("indicators", ""))
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, code=code, form=form, error=exc.detail, status_code=exc.status)
    return _back(code, "已保存", "#mode-editor")


@router.post(BASE)
async def create(request: Request, session: DbSession, user: Writer_):
    form = await _form(request, user)
    code = form.get("code", "").strip()
    try:
        modes.create_mode(session, code=code, name=form.get("name", ""), kind=form.get("kind", ""),
                          description=form.get("description", ""), refresh_s=_refresh(form.get("refresh_s", "")),
                          street_code=form.get("street_code") or None, indicators=form.get("indicators", ""),
                          by=user.username)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, new_form=form, new_error=exc.detail, status_code=exc.status)
    return _back(code, "已新建监测模式")


# -- the wall view -------------------------------------------------------------------------------

@router.get("/screen/mode/{code}")
def wall(code: str, request: Request, session: DbSession, viewer: Viewer_):
    try:
        mode = modes.get_mode(session, code, scope=viewer.street_scope)
    except Problem as exc:  # a wall shows the big screen's error page, not problem+json
        return error_page(request, exc.status, "监测模式不存在", exc.detail)
    return templates.TemplateResponse(request, "screen/mode_wall.html", {
        "mode": mode, "viewer": viewer, "kind_labels": KIND_LABELS,
        "config": {"code": mode.code, "refresh_s": mode.refresh_s, "live": f"/screen/mode/{mode.code}/live"}})


@router.get("/screen/mode/{code}/live")
def wall_live(code: str, session: DbSession, viewer: Viewer_):
    mode = modes.get_mode(session, code, scope=viewer.street_scope)
    return modes.evaluate(session, mode, now=utcnow())
