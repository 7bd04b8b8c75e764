"""Checklists over HTTP (ROOM-1, ROOM-2): templates (managers edit; each edit is a new version),
runs (duty officers and technicians fill and submit; admin, manager or duty sign off), photos
(JPEG/PNG ≤ 10 MB). Machine-room access (ROOM-3) is included from `room_api`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.inspections import checklist_photos as photos
from cityops.inspections import checklist_service as svc
from cityops.inspections.checklist_models import ChecklistRun, ChecklistTemplate

router = APIRouter(prefix="/api/v1", tags=["inspections"])
EDITORS = ("admin", "manager")
FILLERS = ("admin", "manager", "duty", "technician")
REVIEWERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Filler = Annotated[Principal, Depends(require(*FILLERS))]
Reviewer = Annotated[Principal, Depends(require(*REVIEWERS))]


class ItemIO(BaseModel):
    code: str
    label: str
    type: str
    unit: str = ""
    min_value: float | None = None
    max_value: float | None = None
    options: list[dict[str, Any]] = []
    required: bool = True
    severity: str = "warning"
    hint: str = ""


class TemplateIn(BaseModel):
    code: str
    name: str
    kind: str = "room"
    ticket_policy: str = "major"
    items: list[ItemIO]


class TemplatePatch(BaseModel):
    name: str | None = None
    ticket_policy: str | None = None
    active: bool | None = None
    items: list[ItemIO] | None = None


class TemplateOut(Out):
    id: int
    code: str
    version: int
    name: str
    kind: str
    ticket_policy: str
    current: bool
    active: bool
    created_by: str
    created_at: LocalTime
    items: list[ItemIO] = []


class RunIn(BaseModel):
    template_id: int
    room: str = ""
    asset_id: int | None = None
    performer: str | None = None  # default: the caller's display name


class ReadingIn(BaseModel):
    item_code: str
    value: Any = None
    note: str = ""
    photo_id: int | None = None


class ReadingOut(BaseModel):
    item_code: str
    label: str
    type: str
    value: str
    ok: bool | None
    note: str
    photo_id: int | None
    at: LocalTime


class RunOut(Out):
    id: int
    template_id: int
    room: str
    asset_id: int | None
    plan_run_id: int | None
    state: str
    performer: str
    started_at: LocalTime
    submitted_at: LocalTime | None
    performer_signature: str
    reviewer: str
    reviewed_at: LocalTime | None
    review_note: str
    abnormal_count: int
    readings: list[ReadingOut] = []


class SubmitIn(BaseModel):
    signature: str


class SignOffIn(BaseModel):
    note: str = ""


class PhotoOut(Out):
    id: int
    run_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: LocalTime
    url: str = ""


def template_out(session, t: ChecklistTemplate) -> TemplateOut:
    out = TemplateOut.model_validate(t)
    out.items = [ItemIO.model_validate(i, from_attributes=True) for i in svc.items_of(session, t.id)]
    return out


def run_out(session, r: ChecklistRun, with_readings: bool = True) -> RunOut:
    out = RunOut.model_validate(r)
    if with_readings:
        readings = svc.readings_of(session, r.id)
        out.readings = [ReadingOut(item_code=i.code, label=i.label, type=i.type, value=rd.value, ok=rd.ok, note=rd.note,
                                   photo_id=rd.photo_id, at=rd.at)
                        for i in svc.items_of(session, r.template_id) if (rd := readings.get(i.id))]
    return out


def _who(p: Principal) -> str:
    return p.display_name or p.username


@router.get("/checklist-templates", response_model=list[TemplateOut])
def get_templates(session: DbSession, p: Reader, include_old: bool = False):
    return [template_out(session, t) for t in svc.list_templates(session, include_old=include_old)]


@router.post("/checklist-templates", response_model=TemplateOut, status_code=201)
def post_template(body: TemplateIn, session: DbSession, p: Editor):
    t = svc.create_template(session, code=body.code, name=body.name, kind=body.kind, ticket_policy=body.ticket_policy,
                            items=[i.model_dump() for i in body.items], actor=p.username)
    return template_out(session, t)


@router.get("/checklist-templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: int, session: DbSession, p: Reader):
    return template_out(session, svc.get_template(session, template_id))


@router.patch("/checklist-templates/{template_id}", response_model=TemplateOut)
def patch_template(template_id: int, body: TemplatePatch, session: DbSession, p: Editor):
    """Changing name, policy or items answers the NEW version (a new id)."""
    t = svc.update_template(session, template_id, name=body.name, ticket_policy=body.ticket_policy, active=body.active,
                            items=[i.model_dump() for i in body.items] if body.items is not None else None,
                            actor=p.username)
    return template_out(session, t)


@router.get("/checklist-runs", response_model=Page[RunOut])
def get_runs(session: DbSession, p: Reader, pg: Annotated[PageParams, Depends(page_params)], state: str | None = None,
             template_code: str | None = None, room: str | None = None):
    rows, total = svc.list_runs(session, state=state, template_code=template_code, room=room, limit=pg.limit,
                                offset=pg.offset)
    return Page(items=[run_out(session, r, False) for r in rows], total=total, limit=pg.limit, offset=pg.offset)


@router.post("/checklist-runs", response_model=RunOut, status_code=201)
def post_run(body: RunIn, session: DbSession, p: Filler):
    r = svc.start_run(session, template_id=body.template_id, room=body.room, asset_id=body.asset_id,
                      performer=body.performer or _who(p))
    return run_out(session, r)


@router.get("/checklist-runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, session: DbSession, p: Reader):
    return run_out(session, svc.get_run(session, run_id))


@router.post("/checklist-runs/{run_id}/readings", response_model=RunOut)
def post_readings(run_id: int, body: list[ReadingIn], session: DbSession, p: Filler):
    """Record one or more readings; an abnormal one raises a finding, a normal one clears it."""
    for rd in body:
        svc.record_reading(session, run_id, item_code=rd.item_code, value=rd.value, note=rd.note, photo_id=rd.photo_id,
                           actor=p.username)
    return run_out(session, svc.get_run(session, run_id))


@router.post("/checklist-runs/{run_id}/submit", response_model=RunOut)
def submit(run_id: int, body: SubmitIn, session: DbSession, p: Filler):
    return run_out(session, svc.submit_run(session, run_id, signature=body.signature))


@router.post("/checklist-runs/{run_id}/sign-off", response_model=RunOut)
def sign_off(run_id: int, body: SignOffIn, session: DbSession, p: Reviewer):
    return run_out(session, svc.sign_off(session, run_id, reviewer=_who(p), note=body.note))


async def read_upload(file: UploadFile) -> bytes:
    # One byte over the limit is enough to refuse; never read an arbitrary size into memory.
    return await file.read(photos.MAX_BYTES + 1)


@router.post("/photos", response_model=PhotoOut, status_code=201)
async def post_photo(request: Request, session: DbSession, p: Filler, file: Annotated[UploadFile, File()],
                     run_id: Annotated[int | None, Form()] = None):
    data = await read_upload(file)
    ph = photos.save_photo(session, var_dir=request.app.state.ctx.settings.var_dir, filename=file.filename or "",
                           data=data, actor=p.username, run_id=run_id)
    out = PhotoOut.model_validate(ph)
    out.url = f"/api/v1/photos/{ph.id}/content"
    return out


@router.get("/photos/{photo_id}", response_model=PhotoOut)
def get_photo(photo_id: int, session: DbSession, p: Reader):
    out = PhotoOut.model_validate(photos.get_photo(session, photo_id))
    out.url = f"/api/v1/photos/{photo_id}/content"
    return out


@router.get("/photos/{photo_id}/content")
def photo_content(photo_id: int, request: Request, session: DbSession, p: Reader):
    ph = photos.get_photo(session, photo_id)
    return FileResponse(photos.photo_path(request.app.state.ctx.settings.var_dir, ph), media_type=ph.content_type,
                        headers={"Cache-Control": "private, max-age=3600"})




from cityops.inspections import room_api  # noqa: E402,F401  (adds the room-access routes to `router`)
