"""Console pages 维护计划 (OPS-2) and 维护日志 (SVC-2).

维护计划: today's and overdue tasks with done/skip forms (duty officers, technicians), the plans
with their next five slots, the plan form (admin/manager), recently closed tasks.
维护日志: one Beijing day grouped by kind with date paging, the free-entry form, corrections,
admin delete with a reason, search with paging and CSV export, the half-year book download."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityops.auth.deps import DbSession
from cityops.catalog.models import System
from cityops.core.errors import Invalid, Problem
from cityops.core.timeutil import local, utcnow
from cityops.maintenance import logbook, plans, tasks
from cityops.maintenance.api import half_year_download
from cityops.maintenance.log_models import LOG_KINDS
from cityops.maintenance.models import FREQUENCIES, LAYERS, TASK_STATES
from cityops.monitoring.kpi_export import attachment
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WORKERS = ("admin", "manager", "duty", "technician")
EDITORS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Worker_ = Annotated[ConsoleUser, Depends(require_console(*WORKERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
Admin_ = Annotated[ConsoleUser, Depends(require_console("admin"))]
PLANS_URL = "/console/maintenance-plans"
LOG_URL = "/console/maintenance-log"
PAGE_SIZE = 50


def _back(url: str, msg: str, kind: str = "ok", **params: Any) -> RedirectResponse:
    # "fk" (flash kind), not "kind": the log page's search already uses kind
    query = urlencode({**{k: v for k, v in params.items() if v not in (None, "")}, "flash": msg, "fk": kind})
    return RedirectResponse(f"{url}?{query}", status_code=303)


def _systems(session) -> list[System]:
    from sqlalchemy import select

    return list(session.scalars(select(System).order_by(System.seq)))


# -- 维护计划 ------------------------------------------------------------------------------------
def _plans_page(request: Request, session, user: ConsoleUser, *, edit: int | None = None,
                form: dict[str, Any] | None = None, flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    now = utcnow()
    rows = plans.list_plans(session)
    previews = {p.id: plans.preview(session, p, now=now, n=5) for p in rows}
    editing = next((p for p in rows if p.id == edit), None) if edit else None
    if editing is not None and form is None:
        form = {k: getattr(editing, k) for k in plans.FIELDS}
        form["steps"] = "\n".join(editing.steps)
    recent, _ = tasks.list_tasks(session, now=now, overdue=False, limit=20)
    return render(request, "maintenance/plans.html", user, "maintenance-plans", status_code=status_code,
                  plans=rows, previews=previews, due=tasks.due_today(session, now=now),
                  recent=[tasks.task_dict(t, now) for t in recent if t.state != "open"], editing=editing,
                  form=form or {"frequency": "daily", "at_time": "09:00", "month_day": 1, "expected_minutes": 30,
                                "enabled": True, "layer": "application", "weekdays": ""},
                  systems=_systems(session), describe=plans.describe, local=local,
                  can_edit=user.can(*EDITORS), can_work=user.can(*WORKERS), LAYERS=LAYERS, FREQUENCIES=FREQUENCIES,
                  TASK_STATES=TASK_STATES, WEEKDAYS=plans.WEEKDAY_LABELS, message=flash, message_kind=flash_kind)


@router.get(PLANS_URL)
def plans_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None):
    q = request.query_params
    return _plans_page(request, session, user, edit=edit, flash=q.get("flash", ""),
                       flash_kind="err" if q.get("fk") == "error" else "ok")


def plan_form(name: Annotated[str, Form()] = "", layer: Annotated[str, Form()] = "",
              system_code: Annotated[str, Form()] = "", module_id: Annotated[str, Form()] = "",
              title: Annotated[str, Form()] = "", steps: Annotated[str, Form()] = "",
              expected_minutes: Annotated[str, Form()] = "30", frequency: Annotated[str, Form()] = "daily",
              at_time: Annotated[str, Form()] = "", weekdays: Annotated[list[str] | None, Form()] = None,
              month_day: Annotated[str, Form()] = "1", workdays_only: Annotated[str, Form()] = "",
              assignee: Annotated[str, Form()] = "", duty_team: Annotated[str, Form()] = "",
              enabled: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> dict[str, Any]:
    """Unticked boxes are not posted at all, hence "" → False."""
    return {"name": name, "layer": layer, "system_code": system_code or None, "module_id": module_id or None,
            "title": title, "steps": steps, "expected_minutes": expected_minutes, "frequency": frequency,
            "at_time": at_time, "weekdays": ",".join(weekdays or []), "month_day": month_day,
            "workdays_only": bool(workdays_only), "assignee": assignee, "duty_team": duty_team,
            "enabled": bool(enabled), "note": note}


@router.post(PLANS_URL)
def create_plan_page(request: Request, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                     data: Annotated[dict, Depends(plan_form)]):
    check_csrf(csrf, user)
    try:
        p = plans.create_plan(session, now=utcnow(), **data)
    except Problem as exc:
        return _plans_page(request, session, user, form=data, flash=f"未能添加：{exc.detail}", flash_kind="err",
                           status_code=422)
    return _back(PLANS_URL, f"已添加维护计划「{p.name}」（{plans.describe(p)}）")


@router.post(PLANS_URL + "/seed")
def seed_page(session: DbSession, user: Editor_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    added = plans.seed_plans(session, now=utcnow())
    return _back(PLANS_URL, f"已载入 {added} 个默认维护计划" if added else "默认维护计划均已存在")


@router.post(PLANS_URL + "/generate")
def generate_page(session: DbSession, user: Editor_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    made = tasks.generate(session, now=utcnow())
    return _back(PLANS_URL, f"已生成 {made} 个到期任务" if made else "没有需要生成的任务（后台每 5 分钟自动生成）")


@router.post(PLANS_URL + "/{plan_id}")
def update_plan_page(request: Request, plan_id: int, session: DbSession, user: Editor_,
                     csrf: Annotated[str, Form()], data: Annotated[dict, Depends(plan_form)]):
    check_csrf(csrf, user)
    try:
        p = plans.update_plan(session, plan_id, **data)
    except Problem as exc:
        if exc.status == 404:
            return _back(PLANS_URL, exc.detail, "error")
        return _plans_page(request, session, user, edit=plan_id, form=data, flash=f"未能保存：{exc.detail}",
                           flash_kind="err", status_code=422)
    return _back(PLANS_URL, f"已保存「{p.name}」")


@router.post(PLANS_URL + "/{plan_id}/delete")
def delete_plan_page(plan_id: int, session: DbSession, user: Editor_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        plans.delete_plan(session, plan_id)
    except Problem as exc:
        return _back(PLANS_URL, exc.detail, "error")
    return _back(PLANS_URL, "已删除维护计划")


@router.post("/console/maintenance-tasks/{task_id}/done")
def done_page(request: Request, task_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
              result: Annotated[str, Form()] = "", ticks: Annotated[list[int] | None, Form()] = None,
              actual_minutes: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        minutes = int(actual_minutes) if actual_minutes.strip() else None
    except ValueError:
        return _back(PLANS_URL, "实际用时应为整数（分钟）", "error")
    try:
        t = tasks.complete(session, task_id, result=result, ticks=ticks or [], actual_minutes=minutes,
                           by=user.username, now=utcnow())
    except Problem as exc:
        return _back(PLANS_URL, f"未能完成任务：{exc.detail}", "error")
    return _back(PLANS_URL, f"已完成「{t.title}」，已记入维护日志")


@router.post("/console/maintenance-tasks/{task_id}/skip")
def skip_page(task_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
              reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        t = tasks.skip(session, task_id, reason=reason, by=user.username, now=utcnow())
    except Problem as exc:
        return _back(PLANS_URL, f"未能跳过任务：{exc.detail}", "error")
    return _back(PLANS_URL, f"已跳过「{t.title}」，原因已记入维护日志")


# -- 维护日志 ------------------------------------------------------------------------------------
def _day(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{label}应为 YYYY-MM-DD") from None


def _search_filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {"q": q.get("q", ""), "kind": q.get("kind") or None, "system_code": q.get("system") or None,
            "day_from": _day(q.get("from"), "开始日期"), "day_to": _day(q.get("to"), "结束日期")}


def _log_page(request: Request, session, user: ConsoleUser, *, form: dict[str, Any] | None = None, flash: str = "",
              flash_kind: str = "ok", status_code: int = 200):
    q = request.query_params
    today = local(utcnow()).date()
    error = ""
    try:
        day = _day(q.get("day"), "日期") or today
        filters = _search_filters(request)
    except Invalid as exc:
        day, filters, error = today, {}, exc.detail
    searching = any(q.get(k) for k in ("q", "kind", "system", "from", "to"))
    offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
    results, total = [], 0
    if searching and not error:
        try:
            results, total = logbook.search(session, limit=PAGE_SIZE, offset=offset, **filters)
        except Invalid as exc:
            error = exc.detail
    names = logbook.system_names(session)
    search_query = urlencode({k: q.get(k) for k in ("q", "kind", "system", "from", "to") if q.get(k)})
    this_year = today.year
    return render(request, "maintenance/log.html", user, "maintenance-log", status_code=status_code,
                  view=logbook.day_view(session, day), day=day, today=today, prev_day=day - timedelta(days=1),
                  next_day=day + timedelta(days=1), searching=searching, results=results, total=total, offset=offset,
                  page_size=PAGE_SIZE, search_query=search_query, q=q, names=names, systems=_systems(session),
                  form=form or {}, LOG_KINDS=LOG_KINDS, can_write=user.can(*WORKERS), is_admin=user.role == "admin",
                  # the last finished half by default
                  default_year=this_year if today.month > 6 else this_year - 1, default_half=1 if today.month > 6 else 2,
                  message=error or flash, message_kind="err" if error else flash_kind)


@router.get(LOG_URL)
def log_page(request: Request, session: DbSession, user: Reader_):
    q = request.query_params
    return _log_page(request, session, user, flash=q.get("flash", ""),
                     flash_kind="err" if q.get("fk") == "error" else "ok")


@router.post(LOG_URL + "/entries")
def add_entry_page(request: Request, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
                   summary: Annotated[str, Form()] = "", detail: Annotated[str, Form()] = "",
                   system_code: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        row = logbook.add_free(session, summary=summary, detail=detail, system_code=system_code or None,
                               author=user.username, now=utcnow())
    except Problem as exc:
        return _log_page(request, session, user, form={"summary": summary, "detail": detail,
                                                       "system_code": system_code},
                         flash=f"未能记录：{exc.detail}", flash_kind="err", status_code=422)
    return _back(LOG_URL, f"已记录 #{row.id}", day=row.day.isoformat())


@router.post(LOG_URL + "/{entry_id}/correct")
def correct_page(entry_id: int, session: DbSession, user: Worker_, csrf: Annotated[str, Form()],
                 summary: Annotated[str, Form()] = "", detail: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        row = logbook.correct(session, entry_id, summary=summary, detail=detail, author=user.username, now=utcnow())
    except Problem as exc:
        return _back(LOG_URL, f"未能更正：{exc.detail}", "error")
    return _back(LOG_URL, f"已记录对 #{entry_id} 的更正（#{row.id}）", day=row.day.isoformat())


@router.post(LOG_URL + "/{entry_id}/delete")
def delete_page(entry_id: int, session: DbSession, user: Admin_, csrf: Annotated[str, Form()],
                reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        row = logbook.get_entry(session, entry_id)
        day = row.day.isoformat()
        logbook.delete_entry(session, entry_id, reason=reason, by=user.username)
    except Problem as exc:
        return _back(LOG_URL, f"未能删除：{exc.detail}", "error")
    return _back(LOG_URL, f"已删除 #{entry_id}（已记入审计日志）", day=day)


@router.get(LOG_URL + "/export.csv")
def export_page(request: Request, session: DbSession, user: Reader_) -> Response:
    try:
        body = logbook.export_csv(session, actor=user.username, **_search_filters(request))
    except Problem as exc:
        return _back(LOG_URL, exc.detail, "error")
    stamp = local(utcnow()).strftime("%Y%m%d")
    return attachment(body, "csv", f"maintenance-log-{stamp}.csv", f"系统维护日志-{stamp}.csv")


@router.get(LOG_URL + "/half-year")
def half_year_page(session: DbSession, user: Reader_, year: str = "", half: str = "", period: str = "calendar",
                   format: str = "pdf") -> Response:
    try:
        if not (year.isdigit() and half.isdigit()):
            raise Invalid("请填写年份并选择上半年或下半年")
        if format not in ("pdf", "docx"):
            raise Invalid("格式应为 pdf 或 docx")
        return half_year_download(session, fmt=format, year=int(year), half=int(half), period=period)
    except Problem as exc:
        return RedirectResponse(f"{LOG_URL}?flash={quote('未能生成：' + exc.detail)}&fk=error#half-year",
                                status_code=303)
