"""Inspection plans and runs over HTTP (OPS-1). Managers configure plans; duty officers and
technicians answer manual items, start checklists, re-run probes and sign off (签字确认)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.schemas import LocalTime, Out
from cityops.inspections import plan_service as svc
from cityops.inspections.checklist_api import RunOut, run_out
from cityops.inspections.plan_models import InspectionRun

router = APIRouter(prefix="/api/v1", tags=["inspections"])
EDITORS = ("admin", "manager")
WORKERS = ("admin", "manager", "duty", "technician")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Worker = Annotated[Principal, Depends(require(*WORKERS))]


class PlanIn(BaseModel):
    name: str | None = None
    active: bool | None = None
    schedule: str | None = None
    at_time: str | None = None
    weekdays: list[int] | None = None
    month_day: int | None = None
    workdays_only: bool | None = None
    probe_ids: list[int] | None = None
    template_codes: list[str] | None = None
    manual_items: list[str] | None = None
    room: str | None = None
    ticket_policy: str | None = None
    note: str | None = None


class PlanOut(Out):
    id: int
    name: str
    active: bool
    schedule: str
    at_time: str
    weekdays: list[int]
    month_day: int | None
    workdays_only: bool
    probe_ids: list[int]
    template_codes: list[str]
    manual_items: list[str]
    room: str
    ticket_policy: str
    note: str
    created_at: LocalTime


class InspectionRunOut(Out):
    id: int
    plan_id: int
    plan_name: str
    slot_at: LocalTime
    day: date
    state: str
    probe_results: list[dict[str, Any]]
    manual_results: list[dict[str, Any]]
    checklist_run_ids: list[int]
    signed_by: str
    signed_at: LocalTime | None
    conclusion: str
    remarks: str
    missing: list[str] = []


class ManualIn(BaseModel):
    index: int
    ok: bool
    note: str = ""


class ChecklistStartIn(BaseModel):
    template_code: str
    room: str = ""
    asset_id: int | None = None


class SignIn(BaseModel):
    name: str | None = None  # default: the caller's display name
    conclusion: str
    remarks: str = ""


def _out(session, r: InspectionRun) -> InspectionRunOut:
    out = InspectionRunOut.model_validate(r)
    out.missing = svc.missing_work(session, r) if r.state != "signed" else []
    return out


@router.get("/inspection-plans", response_model=list[PlanOut])
def get_plans(session: DbSession, p: Reader):
    return svc.list_plans(session)


@router.post("/inspection-plans", response_model=PlanOut, status_code=201)
def post_plan(body: PlanIn, session: DbSession, p: Editor):
    return svc.create_plan(session, body.model_dump(exclude_none=True))


@router.get("/inspection-plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: int, session: DbSession, p: Reader):
    return svc.get_plan(session, plan_id)


@router.patch("/inspection-plans/{plan_id}", response_model=PlanOut)
def patch_plan(plan_id: int, body: PlanIn, session: DbSession, p: Editor):
    return svc.update_plan(session, plan_id, body.model_dump(exclude_none=True))


@router.get("/inspection-runs", response_model=list[InspectionRunOut])
def get_runs(session: DbSession, p: Reader, plan_id: int | None = None, state: str | None = None,
             first: date | None = None, last: date | None = None, limit: int = 100):
    return [_out(session, r) for r in svc.list_runs(session, plan_id=plan_id, state=state, first=first, last=last,
                                                      limit=min(max(limit, 1), 1000))]


@router.get("/inspection-runs/{run_id}", response_model=InspectionRunOut)
def get_run(run_id: int, session: DbSession, p: Reader):
    return _out(session, svc.get_run(session, run_id))


@router.post("/inspection-runs/{run_id}/manual", response_model=InspectionRunOut)
def post_manual(run_id: int, body: ManualIn, session: DbSession, p: Worker):
    return _out(session, svc.record_manual(session, run_id, index=body.index, ok=body.ok, note=body.note,
                                           actor=p.display_name or p.username))


@router.post("/inspection-runs/{run_id}/checklists", response_model=RunOut, status_code=201)
def post_checklist(run_id: int, body: ChecklistStartIn, session: DbSession, p: Worker):
    cr = svc.start_checklist(session, run_id, template_code=body.template_code, room=body.room, asset_id=body.asset_id,
                             performer=p.display_name or p.username)
    return run_out(session, cr)


@router.post("/inspection-runs/{run_id}/probes", response_model=InspectionRunOut)
def rerun(run_id: int, session: DbSession, p: Worker):
    return _out(session, svc.rerun_probes(session, run_id, actor=p.username))


@router.post("/inspection-runs/{run_id}/sign", response_model=InspectionRunOut)
def sign(run_id: int, body: SignIn, session: DbSession, p: Worker):
    return _out(session, svc.sign_run(session, run_id, name=body.name or p.display_name or p.username,
                                      conclusion=body.conclusion, remarks=body.remarks))
