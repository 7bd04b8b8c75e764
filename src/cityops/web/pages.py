"""Console shell pages: login, overview, streets and grids, units, users, audit log."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from cityops.audit import service as audit
from cityops.auth import service as users
from cityops.auth.api import login as do_login
from cityops.auth.deps import ADMINS, AUDIT_READERS, REF_WRITERS, SESSION_COOKIE, DbSession
from cityops.auth.models import ROLES, User
from cityops.catalog.models import Asset, Module, System
from cityops.core.errors import Problem
from cityops.geo import service as geo
from cityops.geo.models import APPROXIMATE
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/") and not url.startswith("//") else "/console/"


@router.get("/login")
def login_page(request: Request, next: str = "/console/"):
    return render(request, "login.html", None, next_url=_safe_next(next))


@router.post("/login")
def login_submit(request: Request, session: DbSession, username: Annotated[str, Form()],
                 password: Annotated[str, Form()], next: Annotated[str, Form()] = "/console/"):
    try:
        _, token, ttl = do_login(request, session, username, password)
    except HTTPException as exc:
        msg = "用户名或密码错误" if exc.status_code == 401 else exc.detail
        return render(request, "login.html", None, next_url=_safe_next(next), error=msg,
                      status_code=exc.status_code)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, max_age=ttl * 60, httponly=True, samesite="strict",
                    secure=request.app.state.ctx.settings.cookie_secure, path="/")
    return resp


@router.post("/logout")
def logout(user: User_, csrf: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/console/")
def dashboard(request: Request, session: DbSession, user: User_):
    scope = user.street_scope
    streets = geo.list_streets(session, scope=scope)
    grids = geo.list_grids(session, scope=scope)
    counts = {
        "streets": len(streets), "grids": len(grids), "units": len(geo.list_units(session, scope=scope)),
        "systems": session.scalar(select(func.count(System.id))) or 0,
        "modules": session.scalar(select(func.count(Module.id))) or 0,
        "assets": session.scalar(select(func.count(Asset.id))) or 0,
    }
    approx = any(s.boundary_source == APPROXIMATE for s in streets)
    per_street = {s.code: 0 for s in streets}
    for g in grids:
        per_street[g.street_code] = per_street.get(g.street_code, 0) + 1
    street_stats = [{"name": s.name, "area_km2": s.area_km2, "grids": per_street[s.code]} for s in streets]
    jobs = list(request.app.state.ctx.scheduler.jobs.values())
    return render(request, "dashboard.html", user, "dashboard", counts=counts, approximate=approx, jobs=jobs,
                  street_stats=street_stats)


@router.get("/console/geo")
def geo_page(request: Request, session: DbSession, user: User_, flash: str = "", flash_kind: str = "ok"):
    scope = user.street_scope
    streets = geo.list_streets(session, scope=scope)
    grids = geo.list_grids(session, scope=scope)
    district = geo.get_district(session)
    by_street: dict[str, list] = {}
    for g in grids:
        by_street.setdefault(g.street_code, []).append(g)
    return render(request, "geo.html", user, "geo", streets=streets, grids_by_street=by_street,
                  streets_fc=geo.feature_collection(streets, "street"), grids_fc=geo.feature_collection(grids, "grid"),
                  outline=json.loads(district.outline), approximate=any(s.boundary_source == APPROXIMATE
                                                                         for s in streets),
                  can_import=user.can(*REF_WRITERS), flash=flash, flash_kind=flash_kind)


@router.post("/console/geo/import")
async def geo_import(request: Request, session: DbSession,
                     user: Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))],
                     csrf: Annotated[str, Form()], what: Annotated[str, Form()],
                     file: Annotated[UploadFile, File()]):
    check_csrf(csrf, user)
    raw = await file.read()
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
        result = geo.import_streets(session, doc) if what == "streets" else geo.import_grids(session, doc)
    except (ValueError, Problem) as exc:
        session.rollback()
        detail = exc.detail if isinstance(exc, Problem) else f"不是有效的 GeoJSON：{exc}"
        return geo_page(request, session, user, flash=f"导入失败：{detail}", flash_kind="err")
    label = "街镇边界" if what == "streets" else "责任网格"
    return RedirectResponse(f"/console/geo?flash=已导入{result['count']}个{label}", status_code=303)


@router.get("/console/units")
def units_page(request: Request, session: DbSession, user: User_, edit: int | None = None, flash: str = ""):
    rows = geo.list_units(session, scope=user.street_scope)
    streets = {s.code: s.name for s in geo.list_streets(session)}
    return render(request, "units.html", user, "units", units=rows, streets=streets, edit=edit,
                  can_edit=user.can(*REF_WRITERS), flash=flash)


@router.post("/console/units/{unit_id}")
def units_update(unit_id: int, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*REF_WRITERS))],
                 csrf: Annotated[str, Form()], contact_name: Annotated[str, Form()] = "",
                 contact_phone: Annotated[str, Form()] = "", duty_phone: Annotated[str, Form()] = "",
                 email: Annotated[str, Form()] = "", address: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    unit = geo.update_unit(session, unit_id, contact_name=contact_name.strip(), contact_phone=contact_phone.strip(),
                           duty_phone=duty_phone.strip(), email=email.strip(), address=address.strip())
    return RedirectResponse(f"/console/units?flash=已保存：{unit.name}", status_code=303)


@router.get("/console/users")
def users_page(request: Request, session: DbSession,
               user: Annotated[ConsoleUser, Depends(require_console(*ADMINS))], flash: str = "",
               flash_kind: str = "ok"):
    rows = session.scalars(select(User).order_by(User.username)).all()
    return render(request, "users.html", user, "users", users=rows, roles=ROLES,
                  streets=geo.list_streets(session), flash=flash, flash_kind=flash_kind)


@router.post("/console/users")
def users_create(request: Request, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*ADMINS))],
                 csrf: Annotated[str, Form()], username: Annotated[str, Form()], role: Annotated[str, Form()],
                 password: Annotated[str, Form()], display_name: Annotated[str, Form()] = "",
                 street_code: Annotated[str, Form()] = "", phone: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        users.create_user(session, username=username, role=role, password=password, display_name=display_name,
                          street_code=street_code or None, phone=phone or None)
    except Problem as exc:
        session.rollback()
        return users_page(request, session, user, flash=f"创建失败：{exc.detail}", flash_kind="err")
    return RedirectResponse(f"/console/users?flash=已创建用户 {username}", status_code=303)


@router.post("/console/users/{user_id}/active")
def users_toggle(user_id: int, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*ADMINS))],
                 csrf: Annotated[str, Form()], active: Annotated[str, Form()]):
    check_csrf(csrf, user)
    if user_id == user.id:
        raise HTTPException(409, "不能停用自己的账号")
    target = users.update_user(session, user_id, active=active == "1")
    state = "启用" if target.active else "停用"
    return RedirectResponse(f"/console/users?flash=已{state}用户 {target.username}", status_code=303)


@router.get("/console/audit")
def audit_page(request: Request, session: DbSession,
               user: Annotated[ConsoleUser, Depends(require_console(*AUDIT_READERS))],
               entity: str = "", actor: str = "", page: int = 1, verified: str = ""):
    size = 50
    page = max(page, 1)
    rows, total = audit.list_entries(session, entity=entity or None, actor=actor or None, limit=size,
                                     offset=(page - 1) * size)
    return render(request, "audit.html", user, "audit", rows=rows, total=total, page=page, size=size,
                  entity=entity, actor=actor, verified=verified)


@router.post("/console/audit/verify")
def audit_verify(request: Request, session: DbSession,
                 user: Annotated[ConsoleUser, Depends(require_console(*AUDIT_READERS))],
                 csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    result = audit.verify(session)
    return render(request, "audit_verify.html", user, "audit", result=result)
