"""Console 机房巡检 (ROOM-1, ROOM-2): templates and recent runs, starting a run, the one-column
fill form for phones (typed inputs, numeric keyboard for numbers, camera upload for photos),
performer signature and reviewer sign-off, the template editor for managers. Machine-room
access pages (ROOM-3) are included from `room_pages`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.datastructures import UploadFile

from cityops.auth.deps import DbSession
from cityops.catalog.models import Asset
from cityops.core.errors import Problem
from cityops.inspections import checklist_photos as photos
from cityops.inspections import checklist_service as svc
from cityops.inspections.checklist_models import ITEM_TYPES, RUN_STATES, TEMPLATE_KINDS
from cityops.inspections.finding_models import FINDING_SEVERITIES
from cityops.inspections.findings import TICKET_POLICIES
from cityops.inspections.room_access import ROOMS
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console
from sqlalchemy import select

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
FILLERS = ("admin", "manager", "duty", "technician")
REVIEWERS = ("admin", "manager", "duty")
EDITORS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Filler_ = Annotated[ConsoleUser, Depends(require_console(*FILLERS))]
Reviewer_ = Annotated[ConsoleUser, Depends(require_console(*REVIEWERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
URL = "/console/checklists"
LABELS = {"ITEM_TYPES": ITEM_TYPES, "RUN_STATES": RUN_STATES, "TEMPLATE_KINDS": TEMPLATE_KINDS,
          "SEVERITIES": FINDING_SEVERITIES, "POLICIES": TICKET_POLICIES}


def _who(user: ConsoleUser) -> str:
    return user.display_name or user.username


def _flash(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"flash": q.get("flash", ""), "flash_kind": "err" if q.get("kind") == "error" else "ok"}


def _go(url: str, msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{url}?flash={quote(msg)}&kind={kind}", status_code=303)


def _index(request: Request, session, user: ConsoleUser, *, status_code: int = 200, form: dict | None = None,
           flash: str = "", flash_kind: str = "ok", state: str = ""):
    templates = svc.list_templates(session)
    runs, total = svc.list_runs(session, state=state or None, limit=50)
    names = {t.id: t for t in svc.list_templates(session, include_old=True)}
    assets = list(session.scalars(select(Asset).order_by(Asset.name).limit(500)))
    return render(request, "inspections/checklists.html", user, "checklists", status_code=status_code,
                  templates=templates, counts={t.id: len(svc.items_of(session, t.id)) for t in templates}, runs=runs,
                  total=total, names=names, assets=assets, rooms=ROOMS, form=form or {}, state=state,
                  can_fill=user.can(*FILLERS), can_edit=user.can(*EDITORS), flash=flash, flash_kind=flash_kind,
                  **LABELS)


@router.get(URL)
def checklists_page(request: Request, session: DbSession, user: Reader_, state: str = ""):
    return _index(request, session, user, state=state, **_flash(request))


@router.post(f"{URL}/runs")
def start_run_page(request: Request, session: DbSession, user: Filler_, csrf: Annotated[str, Form()],
                   template_id: Annotated[int, Form()], room: Annotated[str, Form()] = "",
                   asset_id: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        r = svc.start_run(session, template_id=template_id, room=room, performer=_who(user),
                          asset_id=int(asset_id) if asset_id.strip().isdigit() else None)
    except Problem as exc:
        return _index(request, session, user, status_code=422, form={"template_id": template_id, "room": room},
                      flash=f"未能开始巡检：{exc.detail}", flash_kind="err")
    return RedirectResponse(f"{URL}/runs/{r.id}", status_code=303)


def _run_page(request: Request, session, user: ConsoleUser, run_id: int, *, errors: dict[str, str] | None = None,
              values: dict[str, str] | None = None, status_code: int = 200, flash: str = "", flash_kind: str = "ok"):
    run = svc.get_run(session, run_id)
    t = svc.get_template(session, run.template_id)
    asset = session.get(Asset, run.asset_id) if run.asset_id else None
    return render(request, "inspections/checklist_run.html", user, "checklists", status_code=status_code, run=run,
                  t=t, asset=asset, items=svc.items_of(session, t.id), readings=svc.readings_of(session, run.id),
                  errors=errors or {}, values=values or {}, can_fill=user.can(*FILLERS) and run.state == "draft",
                  can_review=user.can(*REVIEWERS) and run.state == "submitted", who=_who(user), flash=flash,
                  flash_kind=flash_kind, **LABELS)


@router.get(URL + "/runs/{run_id}")
def run_page(request: Request, run_id: int, session: DbSession, user: Reader_):
    return _run_page(request, session, user, run_id, **_flash(request))


@router.post(URL + "/runs/{run_id}/readings")
async def readings_page(request: Request, run_id: int, session: DbSession, user: Filler_):
    """Save every filled field; fields with errors keep their value and show the message beside them."""
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    run = svc.get_run(session, run_id)
    errors, values, saved = {}, {}, 0
    var_dir = request.app.state.ctx.settings.var_dir
    for item in svc.items_of(session, run.template_id):
        raw, note = str(form.get(f"v_{item.code}") or "").strip(), str(form.get(f"n_{item.code}") or "")
        upload = form.get(f"f_{item.code}")
        values[item.code] = raw
        try:
            photo_id = None
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read(photos.MAX_BYTES + 1)
                photo_id = photos.save_photo(session, var_dir=var_dir, filename=upload.filename, data=data,
                                             actor=user.username, run_id=run.id).id
            if not raw and photo_id is None:
                continue
            svc.record_reading(session, run.id, item_code=item.code, value=raw, note=note, photo_id=photo_id,
                               actor=user.username)
            saved += 1
        except Problem as exc:
            if exc.status == 409:
                return _go(f"{URL}/runs/{run_id}", exc.detail, "error")
            errors[item.code] = exc.detail
    if errors:
        return _run_page(request, session, user, run_id, errors=errors, values=values, status_code=422,
                         flash=f"已保存 {saved} 项；{len(errors)} 项有误，请按提示修改", flash_kind="err")
    return _go(f"{URL}/runs/{run_id}", f"已保存 {saved} 项读数")


@router.post(URL + "/runs/{run_id}/submit")
def submit_page(request: Request, run_id: int, session: DbSession, user: Filler_, csrf: Annotated[str, Form()],
                signature: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        svc.submit_run(session, run_id, signature=signature)
    except Problem as exc:
        return _run_page(request, session, user, run_id, status_code=422, flash=f"未能提交：{exc.detail}",
                         flash_kind="err")
    return _go(f"{URL}/runs/{run_id}", "已提交并签名，等待复核")


@router.post(URL + "/runs/{run_id}/sign-off")
def sign_off_page(request: Request, run_id: int, session: DbSession, user: Reviewer_, csrf: Annotated[str, Form()],
                  note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        svc.sign_off(session, run_id, reviewer=_who(user), note=note)
    except Problem as exc:
        return _run_page(request, session, user, run_id, status_code=422, flash=f"未能复核：{exc.detail}",
                         flash_kind="err")
    return _go(f"{URL}/runs/{run_id}", "已复核签字，记录已归档并写入维护日志")


@router.get(URL + "/photos/{photo_id}")
def photo_page(request: Request, photo_id: int, session: DbSession, user: Reader_):
    ph = photos.get_photo(session, photo_id)
    return FileResponse(photos.photo_path(request.app.state.ctx.settings.var_dir, ph), media_type=ph.content_type)


# -- template editor -------------------------------------------------------------------------------
def _options_text(options: list[dict[str, Any]]) -> str:
    return "，".join(o["value"] + ("*" if o.get("abnormal") else "") for o in options or [])


def _parse_options(text: str) -> list[dict[str, Any]]:
    parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
    return [{"value": p.rstrip("*").strip(), "abnormal": p.endswith("*")} for p in parts]


@router.get(URL + "/templates/{template_id}")
def template_page(request: Request, template_id: int, session: DbSession, user: Reader_):
    t = svc.get_template(session, template_id)
    return render(request, "inspections/checklist_template.html", user, "checklists", t=t,
                  items=svc.items_of(session, t.id), options_text=_options_text, can_edit=user.can(*EDITORS)
                  and t.current, versions=[x for x in svc.list_templates(session, include_old=True) if x.code == t.code],
                  error="", **_flash(request), **LABELS)


@router.post(URL + "/templates/{template_id}")
async def save_template_page(request: Request, template_id: int, session: DbSession, user: Editor_):
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    cols = {k: form.getlist(k) for k in ("code", "label", "type", "unit", "min_value", "max_value", "options",
                                          "severity", "required")}
    items = []
    for i, code in enumerate(cols["code"]):
        if not str(code).strip() and not str(cols["label"][i]).strip():
            continue  # an empty spare row
        items.append({"code": code, "label": cols["label"][i], "type": cols["type"][i], "unit": cols["unit"][i],
                      "min_value": cols["min_value"][i], "max_value": cols["max_value"][i],
                      "options": _parse_options(str(cols["options"][i])), "severity": cols["severity"][i],
                      "required": str(code) in cols["required"]})
    try:
        new = svc.update_template(session, template_id, name=str(form.get("name") or ""), items=items,
                                  ticket_policy=str(form.get("ticket_policy") or "major"),
                                  active=form.get("active") is not None, actor=user.username)
    except Problem as exc:
        t = svc.get_template(session, template_id)
        return render(request, "inspections/checklist_template.html", user, "checklists", status_code=422, t=t,
                      items=svc.items_of(session, t.id), options_text=_options_text, can_edit=True,
                      versions=[x for x in svc.list_templates(session, include_old=True) if x.code == t.code],
                      error=exc.detail, flash=f"未能保存：{exc.detail}", flash_kind="err", **LABELS)
    return _go(f"{URL}/templates/{new.id}", f"已保存为第 {new.version} 版；已有记录仍按原版本保存")


from cityops.inspections import room_pages  # noqa: E402,F401  (adds the room-access pages to `router`)
