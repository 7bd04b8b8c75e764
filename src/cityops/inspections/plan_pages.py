"""Console 巡检计划 (OPS-1): the plans with their calendar, a month view of runs, a run's detail
(probe results, checklists, manual items, 签字确认) and a printable inspection record."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.core.timeutil import local, utcnow
from cityops.inspections import checklist_service, plan_service as svc
from cityops.inspections.findings import TICKET_POLICIES
from cityops.inspections.plan_models import CONCLUSIONS, RUN_STATES, SCHEDULES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WORKERS = ("admin", "manager", "duty", "technician")
EDITORS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Worker_ = Annotated[ConsoleUser, Depends(require_console(*WORKERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
URL = "/console/inspection-plans"
WEEKDAYS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "日"}
LABELS = {"SCHEDULES": SCHEDULES, "RUN_STATES": RUN_STATES, "CONCLUSIONS": CONCLUSIONS, "POLICIES": TICKET_POLICIES,
          "WEEKDAYS": WEEKDAYS}


def _who(user: ConsoleUser) -> str:
    return user.display_name or user.username


def _go(url: str, msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{url}?flash={quote(msg)}&kind={kind}", status_code=303)


def _flash(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"flash": q.get("flash", ""), "flash_kind": "err" if q.get("kind") == "error" else "ok"}


def describe(plan) -> str:
    when = {"daily": "每天", "weekly": "每周" + "、".join(WEEKDAYS[d] for d in plan.weekdays or []),
            "monthly": f"每月 {plan.month_day} 日"}[plan.schedule]
    return f"{when} {plan.at_time}" + ("（仅工作日）" if plan.workdays_only else "")


def _index(request: Request, session, user: ConsoleUser, *, month: str = "", edit: int | None = None,
           form: dict | None = None, status_code: int = 200, flash: str = "", flash_kind: str = "ok"):
    today = local(utcnow()).date()
    try:
        first = date.fromisoformat(month + "-01") if month else today.replace(day=1)
    except ValueError:
        first = today.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    runs = svc.list_runs(session, first=first, last=last, limit=2000)
    by_day: dict[date, list] = {}
    for r in sorted(runs, key=lambda r: r.slot_at):
        by_day.setdefault(r.day, []).append(r)
    plans = svc.list_plans(session)
    upcoming = sorted(((s, p) for p in plans if p.active for s in svc.next_slots(session, p, today, 7)),
                      key=lambda x: x[0])[:20]
    editing = next((p for p in plans if p.id == edit), None)
    if form is None and editing is not None:
        form = {k: getattr(editing, k) for k in svc.FIELDS}
    weeks = calendar.Calendar().monthdatescalendar(first.year, first.month)
    prev_m = (first - timedelta(days=1)).strftime("%Y-%m")
    next_m = (last + timedelta(days=1)).strftime("%Y-%m")
    return render(request, "inspections/plans.html", user, "inspection-plans", status_code=status_code, plans=plans,
                  describe=describe, weeks=weeks, first=first, by_day=by_day, today=today, prev_m=prev_m,
                  next_m=next_m, upcoming=upcoming, editing=editing,
                  form=form or {"schedule": "daily", "at_time": "09:00", "ticket_policy": "major"},
                  templates=checklist_service.list_templates(session), today_runs=svc.runs_on(session, today),
                  can_edit=user.can(*EDITORS), flash=flash, flash_kind=flash_kind, **LABELS)


@router.get(URL)
def plans_page(request: Request, session: DbSession, user: Reader_, month: str = "", edit: int | None = None):
    return _index(request, session, user, month=month, edit=edit, **_flash(request))


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace("，", ",").replace("\n", ",").split(",") if x.strip()]


@router.post(URL)
async def save_plan_page(request: Request, session: DbSession, user: Editor_):
    form = await request.form()
    check_csrf(str(form.get("csrf") or ""), user)
    plan_id = str(form.get("plan_id") or "")
    data: dict[str, Any] = {
        "name": str(form.get("name") or ""), "schedule": str(form.get("schedule") or "daily"),
        "at_time": str(form.get("at_time") or ""), "weekdays": [int(d) for d in form.getlist("weekdays") if d.isdigit()],
        "workdays_only": form.get("workdays_only") is not None, "active": form.get("active") is not None,
        "template_codes": form.getlist("template_codes"), "manual_items": [
            x.strip() for x in str(form.get("manual_items") or "").splitlines() if x.strip()],
        "room": str(form.get("room") or ""), "ticket_policy": str(form.get("ticket_policy") or "major"),
        "note": str(form.get("note") or "")}
    md = str(form.get("month_day") or "").strip()
    if md:
        data["month_day"] = int(md) if md.isdigit() else -1
    try:
        data["probe_ids"] = [int(x) for x in _lines(str(form.get("probe_ids") or ""))]
    except ValueError:
        data["probe_ids"] = ["x"]  # refused by the service with a clear message
    try:
        p = svc.update_plan(session, int(plan_id), data) if plan_id.isdigit() else svc.create_plan(session, data)
    except Problem as exc:
        form_back = {**data, "probe_ids": _lines(str(form.get("probe_ids") or ""))}
        return _index(request, session, user, edit=int(plan_id) if plan_id.isdigit() else None, form=form_back,
                      status_code=422, flash=f"未能保存：{exc.detail}", flash_kind="err")
    return _go(URL, f"已保存巡检计划「{p.name}」")


def _run_page(request: Request, session, user: ConsoleUser, run_id: int, *, status_code: int = 200,
              flash: str = "", flash_kind: str = "ok", printable: bool = False):
    run = svc.get_run(session, run_id)
    plan = svc.get_plan(session, run.plan_id)
    checklists = svc.checklists_of(session, run)
    started = {t.code for _, t in checklists}
    details = {}
    if printable:
        for cr, t in checklists:
            rd = checklist_service.readings_of(session, cr.id)
            details[cr.id] = [(i, rd.get(i.id)) for i in checklist_service.items_of(session, t.id)]
    return render(request, "inspections/plan_run_print.html" if printable else "inspections/plan_run.html", user,
                  "inspection-plans", status_code=status_code, run=run, plan=plan, checklists=checklists,
                  details=details, missing=svc.missing_work(session, run) if run.state != "signed" else [],
                  unstarted=[c for c in plan.template_codes or [] if c not in started], describe=describe,
                  can_work=user.can(*WORKERS) and run.state != "signed", who=_who(user), flash=flash,
                  flash_kind=flash_kind, **LABELS)


@router.get(URL + "/runs/{run_id}")
def run_page(request: Request, run_id: int, session: DbSession, user: Reader_):
    return _run_page(request, session, user, run_id, **_flash(request))


@router.get(URL + "/runs/{run_id}/print")
def print_page(request: Request, run_id: int, session: DbSession, user: Reader_):
    return _run_page(request, session, user, run_id, printable=True)


def _act(request: Request, session, user: ConsoleUser, run_id: int, action, ok_msg: str):
    try:
        result = action()
    except Problem as exc:
        if exc.status == 404:
            return _go(URL, exc.detail, "error")
        return _run_page(request, session, user, run_id, status_code=422 if exc.status == 422 else 409,
                         flash=exc.detail, flash_kind="err")
    if isinstance(result, RedirectResponse):
        return result
    return _go(f"{URL}/runs/{run_id}", ok_msg)


@router.post(URL + "/runs/{run_id}/manual")
def manual_page(request: Request, run_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
                index: Annotated[int, Form()], ok: Annotated[str, Form()], note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _act(request, session, user, run_id, lambda: svc.record_manual(
        session, run_id, index=index, ok=ok == "1", note=note, actor=_who(user)), "已记录人工检查结果")


@router.post(URL + "/runs/{run_id}/checklists")
def checklist_page(request: Request, run_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
                   template_code: Annotated[str, Form()], asset_id: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)

    def start():
        cr = svc.start_checklist(session, run_id, template_code=template_code, performer=_who(user),
                                 asset_id=int(asset_id) if asset_id.isdigit() else None)
        return RedirectResponse(f"/console/checklists/runs/{cr.id}", status_code=303)

    return _act(request, session, user, run_id, start, "")


@router.post(URL + "/runs/{run_id}/probes")
def probes_page(request: Request, run_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    return _act(request, session, user, run_id, lambda: svc.rerun_probes(session, run_id, actor=user.username),
                "已重新执行探针")


@router.post(URL + "/runs/{run_id}/sign")
def sign_page(request: Request, run_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
              name: Annotated[str, Form()] = "", conclusion: Annotated[str, Form()] = "",
              remarks: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    return _act(request, session, user, run_id, lambda: svc.sign_run(
        session, run_id, name=name, conclusion=conclusion, remarks=remarks), "已签字确认，巡检记录已归档")
