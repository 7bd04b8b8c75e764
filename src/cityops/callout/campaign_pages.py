"""Console pages 外呼任务 and 通话记录 (CALL-1, CALL-2): campaigns with progress, start / pause /
stop and a create form; one campaign with live progress (the page polls `progress.json` every
5 s; the API wants a bearer token, the console has only its cookie) and its tasks; call records
with filters; one call's metadata, business link and dialogue transcript. Numbers are masked
for roles without access to personal data."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.callout import campaigns, labels, lists
from cityops.callout.api import show
from cityops.callout.campaign_models import CallStep, Campaign
from cityops.callout.scenarios import LABELS
from cityops.core.errors import Problem
from cityops.core.timeutil import SHANGHAI
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
URL = "/console/callout/campaigns"
RECORDS = "/console/callout/records"
PAGE = 50
FORM_FIELDS = ("name", "scenario", "list_id", "priority", "max_attempts", "concurrency", "caller_id",
               "scheduled_at", "script")


def _flash(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"flash": q.get("flash", ""), "flash_kind": "err" if q.get("kind") == "error" else "ok"}


def _back(url: str, msg: str, kind: str = "ok") -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}flash={quote(msg)}&kind={kind}", status_code=303)


def _offset(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() else 0


def _pager(base: str, filters: dict[str, Any], offset: int, total: int) -> dict[str, Any]:
    """Previous/next links that keep the filters."""
    keep = {k: v for k, v in filters.items() if v not in (None, "")}

    def link(off: int) -> str:
        return base + "?" + urlencode({**keep, "offset": off})

    return {"offset": offset, "total": total, "first": offset + 1 if total else 0, "last": min(offset + PAGE, total),
            "prev": link(max(0, offset - PAGE)) if offset > 0 else "",
            "next": link(offset + PAGE) if offset + PAGE < total else ""}


def _lists_by_scenario(session) -> list[dict[str, Any]]:
    return [{"id": cl.id, "name": cl.name, "scenario": cl.scenario, "ok": cl.ok_count,
             "expired": lists.is_expired(cl)} for cl in lists.list_lists(session)]


def _campaigns_page(request: Request, session, user: ConsoleUser, *, form: dict[str, str] | None = None,
                    flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    q = request.query_params
    filters = {"scenario": q.get("scenario", ""), "state": q.get("state", ""), "trigger": q.get("trigger", "")}
    offset = _offset(q.get("offset"))
    try:
        rows, total = campaigns.list_campaigns(session, scenario=filters["scenario"] or None,
                                               state=filters["state"] or None, trigger=filters["trigger"] or None,
                                               limit=PAGE, offset=offset)
    except Problem as exc:
        rows, total, flash, flash_kind, status_code = [], 0, exc.detail, "err", 422
    return render(request, "callout/campaigns.html", user, "callout-campaigns", status_code=status_code,
                  rows=rows, progress=campaigns.progress_many(session, rows), filters=filters,
                  pager=_pager(URL, filters, offset, total), call_lists=_lists_by_scenario(session),
                  form=form or {}, can_edit=user.can(*WRITERS), L=labels, scenario_labels=LABELS,
                  priorities=campaigns.PRIORITIES, flash=flash, flash_kind=flash_kind)


@router.get(URL)
def campaigns_page(request: Request, session: DbSession, user: Reader_):
    return _campaigns_page(request, session, user, **_flash(request))


def _scheduled(raw: str) -> datetime | None:
    """The form's datetime-local value is Beijing time."""
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise ValueError("开始时间格式不正确") from exc


def _int(raw: str, what: str) -> int | None:
    if not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{what}必须是整数") from exc


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _script(raw: str) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"话术 JSON 无法解析：第 {exc.lineno} 行第 {exc.colno} 列") from exc
    if isinstance(data, dict):
        return data
    raise ValueError("话术 JSON 必须是一个对象")  # shown in the form, like the other input errors


@router.post(URL)
def create_page(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                name: Annotated[str, Form()] = "", scenario: Annotated[str, Form()] = "",
                list_id: Annotated[str, Form()] = "", priority: Annotated[str, Form()] = "",
                max_attempts: Annotated[str, Form()] = "", concurrency: Annotated[str, Form()] = "4",
                caller_id: Annotated[str, Form()] = "", scheduled_at: Annotated[str, Form()] = "",
                script: Annotated[str, Form()] = ""):
    """Create a campaign (CALL-1) from a list of the chosen scenario, or for the scenario only."""
    check_csrf(csrf, user)
    form = dict(zip(FORM_FIELDS, (name, scenario, list_id, priority, max_attempts, concurrency, caller_id,
                                  scheduled_at, script), strict=True))
    try:
        at = _scheduled(scheduled_at)
        lid = _int(list_id, "名单")
        if lid is None and not scenario:
            raise ValueError("请选择名单或场景")
        # A list of another scenario is an error the service reports; no scenario means the list's.
        with session.begin_nested():
            c = campaigns.create_campaign(
                session, name=name[:128], list_id=lid, scenario=scenario or None, script=_script(script),
                priority=priority or None, max_attempts=_int(max_attempts, "最大呼叫次数"),
                concurrency=_or(_int(concurrency, "并发数"), 4), caller_id=caller_id.strip()[:32] or None,
                trigger="schedule" if at else "manual", scheduled_at=at, created_by=user.username)
            campaigns.audit_action(session, "create", c, scenario=c.scenario, list_id=c.list_id)
    except (Problem, ValueError) as exc:
        msg = exc.detail if isinstance(exc, Problem) else str(exc)
        return _campaigns_page(request, session, user, form=form, flash=f"创建失败：{msg}", flash_kind="err",
                               status_code=422)
    when = f"，将于 {at.strftime('%Y-%m-%d %H:%M')} 自动开始" if at else "，点击“开始”后拨打"
    return _back(f"{URL}/{c.id}", f"已创建外呼任务「{c.name}」{when}")


def _target(next_url: str, campaign_id: int) -> str:
    # Only our own pages: the form says whether it came from the list or the campaign.
    return URL if next_url == "list" else f"{URL}/{campaign_id}"


def _action(campaign_id: int, session, user: ConsoleUser, csrf: str, next_url: str, action: str, done: str):
    check_csrf(csrf, user)
    fn = {"start": campaigns.start, "pause": campaigns.pause, "stop": campaigns.stop}[action]
    try:
        with session.begin_nested():
            c = fn(session, campaign_id)
            campaigns.audit_action(session, action, c)
    except Problem as exc:
        return _back(_target(next_url, campaign_id), exc.detail, "error")
    return _back(_target(next_url, campaign_id), f"外呼任务「{c.name}」{done}")


@router.post(URL + "/{campaign_id:int}/start")
def start_page(campaign_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
               next: Annotated[str, Form()] = ""):
    return _action(campaign_id, session, user, csrf, next, "start", "已开始")


@router.post(URL + "/{campaign_id:int}/pause")
def pause_page(campaign_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
               next: Annotated[str, Form()] = ""):
    return _action(campaign_id, session, user, csrf, next, "pause", "已暂停")


@router.post(URL + "/{campaign_id:int}/stop")
def stop_page(campaign_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
              next: Annotated[str, Form()] = ""):
    return _action(campaign_id, session, user, csrf, next, "stop", "已终止，未拨打的号码已跳过")


@router.post(URL + "/{campaign_id:int}/tasks")
def add_task_page(campaign_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                  number: Annotated[str, Form()], business_ref: Annotated[str, Form()] = "",
                  contact_name: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    back = f"{URL}/{campaign_id}"
    try:
        with session.begin_nested():
            t = campaigns.add_task(session, campaign_id, number=number[:40], business_ref=business_ref.strip()[:64],
                                   contact_name=contact_name.strip()[:64])
            if t is not None:
                campaigns.audit_action(session, "add_task", campaigns.get_campaign(session, campaign_id),
                                       task_id=t.id, number_e164=t.number_e164, business_ref=t.business_ref)
    except Problem as exc:
        return _back(back, f"未能添加号码：{exc.detail}", "error")
    if t is None:
        return _back(back, "该号码（同一业务编号）已在此外呼任务中", "error")
    return _back(back, "已添加号码，拨打前仍经合规检查")


def progress_json(session, c: Campaign) -> dict[str, Any]:
    p = campaigns.progress(session, c.id)
    return {**p, "state_label": labels.CAMPAIGN_STATES.get(c.state, c.state),
            "result_labels": {k: labels.result(k) for k in p["results"]},
            "finished_at": c.finished_at.isoformat() if c.finished_at else None}


@router.get(URL + "/{campaign_id:int}/progress.json")
def progress_page(campaign_id: int, session: DbSession, user: Reader_):
    """What the campaign page polls (the console's cookie, not a bearer token)."""
    c = campaigns.get_campaign(session, campaign_id)
    return JSONResponse(progress_json(session, c), headers={"Cache-Control": "no-store"})


@router.get(URL + "/{campaign_id:int}")
def campaign_page(campaign_id: int, request: Request, session: DbSession, user: Reader_):
    c = campaigns.get_campaign(session, campaign_id)
    q = request.query_params
    state = q.get("state", "")
    offset = _offset(q.get("offset"))
    flash = _flash(request)
    try:
        tasks, total = campaigns.campaign_tasks(session, c.id, state=state or None, limit=PAGE, offset=offset)
    except Problem as exc:
        tasks, total, flash = [], 0, {"flash": exc.detail, "flash_kind": "err"}
    cl = lists.get_list(session, c.list_id) if c.list_id else None
    return render(request, "callout/campaign.html", user, "callout-campaigns", c=c, call_list=cl,
                  progress=progress_json(session, c), tasks=tasks, state=state,
                  pager=_pager(f"{URL}/{c.id}", {"state": state}, offset, total), L=labels,
                  scenario_labels=LABELS, show_number=lambda n: show(n, user), can_edit=user.can(*WRITERS),
                  **flash)


def _date(raw: str, what: str) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ValueError(f"{what}格式不正确") from exc


@router.get(RECORDS)
def records_page(request: Request, session: DbSession, user: Reader_):
    q = request.query_params
    keys = ("scenario", "campaign_id", "result", "number", "date_from", "date_to", "business_ref")
    filters = {k: q.get(k, "").strip() for k in keys}
    offset = _offset(q.get("offset"))
    flash, kind, status = "", "ok", 200
    try:
        rows, total = campaigns.list_records(
            session, scenario=filters["scenario"] or None, campaign_id=_int(filters["campaign_id"], "外呼任务编号"),
            result=filters["result"] or None, number=filters["number"] or None,
            date_from=_date(filters["date_from"], "开始日期"), date_to=_date(filters["date_to"], "结束日期"),
            business_ref=filters["business_ref"] or None, limit=PAGE, offset=offset)
    except (Problem, ValueError) as exc:
        rows, total, kind, status = [], 0, "err", 422
        flash = "筛选条件有误：" + (exc.detail if isinstance(exc, Problem) else str(exc))
    ids = {r.campaign_id for r in rows if r.campaign_id}
    names = dict(session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids))).all()) if ids else {}
    return render(request, "callout/records.html", user, "callout-records", status_code=status, rows=rows,
                  filters=filters, pager=_pager(RECORDS, filters, offset, total), campaign_names=names, L=labels,
                  scenario_labels=LABELS, show_number=lambda n: show(n, user), flash=flash, flash_kind=kind)


def transcript(steps: list[CallStep]) -> list[dict[str, Any]]:
    """The dialogue as turns: the system's prompt, then the callee's key press or words (or
    silence when the step was asked again)."""
    out = []
    for i, s in enumerate(steps):
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        silent = not s.answer_dtmf and not s.answer_text
        asked_again = nxt is not None and nxt.step == s.step and nxt.retry > s.retry
        out.append({"seq": s.seq, "step": s.step, "prompt": s.prompt, "reprompt": s.retry > 0, "retry": s.retry,
                    "dtmf": s.answer_dtmf, "text": s.answer_text, "matched": s.matched, "at": s.at,
                    "no_input": silent and asked_again, "unmatched": not silent and s.matched is None})
    return out


@router.get(RECORDS + "/{record_id:int}")
def record_page(record_id: int, request: Request, session: DbSession, user: Reader_):
    rec, steps = campaigns.get_record(session, record_id)
    c = session.get(Campaign, rec.campaign_id) if rec.campaign_id else None
    return render(request, "callout/record.html", user, "callout-records", r=rec, campaign=c,
                  turns=transcript(steps), link=labels.business_link(rec.business_ref), L=labels,
                  scenario_labels=LABELS, number=show(rec.number_e164, user))
