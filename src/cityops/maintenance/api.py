"""Maintenance over HTTP (OPS-2, SVC-2): plans (admin/manager edit), tasks (duty officers and
technicians complete or skip them), the maintenance log (search, day view, CSV, free entries,
corrections; only admins delete) and the half-year compiled log as PDF or DOCX.
District O&M staff read; street users have no access."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import local, utcnow
from cityops.maintenance import halfyear, logbook, plans, tasks
from cityops.maintenance.models import MaintenancePlan
from cityops.monitoring.kpi_export import attachment

router = APIRouter(prefix="/api/v1", tags=["maintenance"])
WORKERS = ("admin", "manager", "duty", "technician")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require("admin", "manager"))]
Worker = Annotated[Principal, Depends(require(*WORKERS))]
Admin = Annotated[Principal, Depends(require("admin"))]
PDF_DOCX = ("pdf", "docx")


class PlanIn(BaseModel):
    name: str | None = None
    layer: str | None = None
    system_code: str | None = None
    module_id: int | None = None
    title: str | None = None
    steps: list[str] | None = None
    expected_minutes: int | None = None
    frequency: str | None = None
    at_time: str | None = None
    weekdays: list[int] | None = None
    month_day: int | None = None
    workdays_only: bool | None = None
    assignee: str | None = None
    duty_team: str | None = None
    enabled: bool | None = None
    note: str | None = None


class PlanOut(Out):
    id: int
    name: str
    layer: str
    system_code: str | None
    module_id: int | None
    title: str
    steps: list[str]
    expected_minutes: int
    frequency: str
    at_time: str
    weekdays: list[int]
    month_day: int
    workdays_only: bool
    assignee: str
    duty_team: str
    enabled: bool
    note: str
    schedule: str
    active_from: LocalTime
    updated_at: LocalTime

    @classmethod
    def of(cls, p: MaintenancePlan) -> PlanOut:
        data = {k: getattr(p, k) for k in cls.model_fields if k not in ("weekdays", "schedule")}
        return cls(**data, weekdays=[int(x) for x in p.weekdays.split(",") if x], schedule=plans.describe(p))


class TaskOut(BaseModel):
    id: int
    plan_id: int
    title: str
    layer: str
    layer_label: str
    system_code: str | None
    assignee: str
    state: str
    state_label: str
    slot_at: LocalTime
    due_at: LocalTime
    overdue: bool
    steps: list[str]
    ticks: list[int]
    result: str
    actual_minutes: int | None
    closed_by: str
    closed_at: LocalTime | None
    url: str


class CompleteIn(BaseModel):
    result: str
    ticks: list[int] = []
    actual_minutes: int | None = None


class SkipIn(BaseModel):
    reason: str


class EntryIn(BaseModel):
    summary: str
    detail: str = ""
    system_code: str | None = None


class CorrectionIn(BaseModel):
    summary: str
    detail: str = ""


class EntryOut(BaseModel):
    id: int
    day: date
    at: LocalTime
    kind: str
    kind_label: str
    source: str
    source_ref: str
    summary: str
    detail: str
    author: str
    system_code: str | None
    system_name: str
    asset_id: int | None
    corrects_id: int | None


class DayGroup(BaseModel):
    kind: str
    label: str
    entries: list[EntryOut]


class DayOut(BaseModel):
    day: date
    total: int
    groups: list[DayGroup]


# -- plans -------------------------------------------------------------------------------------
def _plan_values(body: PlanIn) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@router.get("/maintenance-plans", response_model=list[PlanOut])
def list_plans(session: DbSession, _: Reader, layer: str | None = None, system: str | None = None):
    return [PlanOut.of(p) for p in plans.list_plans(session, layer=layer, system_code=system)]


@router.post("/maintenance-plans", response_model=PlanOut, status_code=201)
def create_plan(body: PlanIn, session: DbSession, _: Editor):
    return PlanOut.of(plans.create_plan(session, now=utcnow(), **_plan_values(body)))


@router.post("/maintenance-plans/seed")
def seed_plans(session: DbSession, _: Editor) -> dict[str, int]:
    return {"added": plans.seed_plans(session, now=utcnow())}


@router.get("/maintenance-plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: int, session: DbSession, _: Reader):
    return PlanOut.of(plans.get_plan(session, plan_id))


@router.get("/maintenance-plans/{plan_id}/preview")
def preview(plan_id: int, session: DbSession, _: Reader, n: Annotated[int, Query(ge=1, le=50)] = 5) -> dict[str, Any]:
    """The next `n` slots (Beijing time, ISO 8601 with offset)."""
    plan = plans.get_plan(session, plan_id)
    return {"schedule": plans.describe(plan),
            "slots": [local(t).isoformat() for t in plans.preview(session, plan, now=utcnow(), n=n)]}


@router.patch("/maintenance-plans/{plan_id}", response_model=PlanOut)
def update_plan(plan_id: int, body: PlanIn, session: DbSession, _: Editor):
    return PlanOut.of(plans.update_plan(session, plan_id, **_plan_values(body)))


@router.delete("/maintenance-plans/{plan_id}", status_code=204)
def delete_plan(plan_id: int, session: DbSession, _: Editor):
    plans.delete_plan(session, plan_id)


# -- tasks -------------------------------------------------------------------------------------
@router.get("/maintenance-tasks", response_model=Page[TaskOut])
def list_tasks(session: DbSession, _: Reader, pg: Annotated[PageParams, Depends(page_params)],
               state: str | None = None, overdue: bool | None = None, plan_id: int | None = None,
               assignee: str | None = None):
    now = utcnow()
    rows, total = tasks.list_tasks(session, now=now, state=state, overdue=overdue, plan_id=plan_id,
                                   assignee=assignee, limit=pg.limit, offset=pg.offset)
    return Page(items=[TaskOut(**tasks.task_dict(t, now)) for t in rows], total=total, limit=pg.limit,
                offset=pg.offset)


@router.get("/maintenance-tasks/due-today", response_model=list[TaskOut])
def due_today(session: DbSession, _: Reader):
    return [TaskOut(**d) for d in tasks.due_today(session, now=utcnow())]


@router.get("/maintenance-tasks/{task_id}", response_model=TaskOut)
def get_task(task_id: int, session: DbSession, _: Reader):
    return TaskOut(**tasks.task_dict(tasks.get_task(session, task_id), utcnow()))


@router.post("/maintenance-tasks/{task_id}/complete", response_model=TaskOut)
def complete_task(task_id: int, body: CompleteIn, session: DbSession, p: Worker):
    now = utcnow()
    t = tasks.complete(session, task_id, result=body.result, ticks=body.ticks, actual_minutes=body.actual_minutes,
                       by=p.username, now=now)
    return TaskOut(**tasks.task_dict(t, now))


@router.post("/maintenance-tasks/{task_id}/skip", response_model=TaskOut)
def skip_task(task_id: int, body: SkipIn, session: DbSession, p: Worker):
    now = utcnow()
    return TaskOut(**tasks.task_dict(tasks.skip(session, task_id, reason=body.reason, by=p.username, now=now), now))


# -- the maintenance log -------------------------------------------------------------------------
def _filters(q: str = "", kind: str | None = None, system: str | None = None, date_from: Annotated[
        date | None, Query(alias="from")] = None, date_to: Annotated[date | None, Query(alias="to")] = None) -> dict:
    return {"q": q, "kind": kind or None, "system_code": system or None, "day_from": date_from, "day_to": date_to}


Filters = Annotated[dict, Depends(_filters)]


@router.get("/maintenance-log", response_model=Page[EntryOut])
def search_log(session: DbSession, _: Reader, f: Filters, pg: Annotated[PageParams, Depends(page_params)]):
    rows, total = logbook.search(session, limit=pg.limit, offset=pg.offset, **f)
    names = logbook.system_names(session)
    return Page(items=[EntryOut(**logbook.entry_dict(r, names)) for r in rows], total=total, limit=pg.limit,
                offset=pg.offset)


@router.get("/maintenance-log/export.csv")
def export_log(session: DbSession, p: Reader, f: Filters):
    body = logbook.export_csv(session, actor=p.username, **f)
    stamp = utcnow().strftime("%Y%m%d")
    return attachment(body, "csv", f"maintenance-log-{stamp}.csv", f"系统维护日志-{stamp}.csv")


@router.get("/maintenance-log/days/{day}", response_model=DayOut)
def day_view(day: date, session: DbSession, _: Reader):
    view = logbook.day_view(session, day)
    names = logbook.system_names(session)
    return DayOut(day=view["day"], total=view["total"],
                  groups=[DayGroup(kind=g["kind"], label=g["label"],
                                   entries=[EntryOut(**logbook.entry_dict(e, names)) for e in g["entries"]])
                          for g in view["groups"]])


@router.get("/maintenance-log/half-year.{fmt}")
def half_year(fmt: str, session: DbSession, _: Reader, year: int, half: int, period: str = "calendar"):
    """The compiled half-year log (SVC-2); `period=service` halves the service year from 1 May."""
    if fmt not in PDF_DOCX:
        raise Invalid("格式应为 pdf 或 docx")
    return half_year_download(session, fmt=fmt, year=year, half=half, period=period)


def half_year_download(session, *, fmt: str, year: int, half: int, period: str) -> Response:
    """The rendered book as an attachment (Chinese file name via RFC 6266), audited like exports."""
    from cityops.audit import service as audit

    body = halfyear.render(session, year=year, half=half, fmt=fmt, period=period, now=utcnow())
    ascii_stem, zh_stem = halfyear.file_stem(year, half, period)
    audit.record(session, "export", "maintenance_log_entries", fmt,
                 after={"book": "half-year", "year": year, "half": half, "period": period, "bytes": len(body)})
    return attachment(body, fmt, f"{ascii_stem}.{fmt}", f"{zh_stem}.{fmt}")


@router.post("/maintenance-log", response_model=EntryOut, status_code=201)
def add_entry(body: EntryIn, session: DbSession, p: Worker):
    row = logbook.add_free(session, summary=body.summary, detail=body.detail, system_code=body.system_code,
                           author=p.username, now=utcnow())
    return EntryOut(**logbook.entry_dict(row, logbook.system_names(session)))


@router.post("/maintenance-log/{entry_id}/corrections", response_model=EntryOut, status_code=201)
def correct_entry(entry_id: int, body: CorrectionIn, session: DbSession, p: Worker):
    row = logbook.correct(session, entry_id, summary=body.summary, detail=body.detail, author=p.username,
                          now=utcnow())
    return EntryOut(**logbook.entry_dict(row, logbook.system_names(session)))


@router.delete("/maintenance-log/{entry_id}", status_code=204)
def delete_entry(entry_id: int, session: DbSession, p: Admin, reason: str = ""):
    logbook.delete_entry(session, entry_id, reason=reason, by=p.username)
    return Response(status_code=204)
