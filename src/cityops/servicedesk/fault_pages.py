"""Console pages 故障处置 (OPS-4): the fault list with grade colours and overdue marks and the
new-fault form; a fault's page with its facts, timeline entry form, state buttons, edit form
and the brief downloads; the grade table editor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Invalid, Problem
from cityops.core.timeutil import SHANGHAI, local, utcnow
from cityops.servicedesk import fault_grades, fault_service
from cityops.servicedesk.fault_api import brief_download
from cityops.servicedesk.fault_models import ENTRY_KINDS, FAULT_STATES, FaultGrade
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager", "duty", "technician")
CONFIG = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
Config_ = Annotated[ConsoleUser, Depends(require_console(*CONFIG))]
URL = "/console/faults"
MOVE_LABELS = {"responding": "开始处置", "restored": "已恢复", "closed": "关闭故障"}
EDIT_FIELDS = ("title", "description", "cause", "impact", "recovery", "follow_up", "reporter", "handler")


def parse_local(value: str, label: str) -> datetime | None:
    """A `datetime-local` form value (Beijing wall time) → aware datetime; blank → None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise Invalid(f"{label}格式不正确：{value}") from None


def _local_input(dt: datetime | None) -> str:
    return local(dt).strftime("%Y-%m-%dT%H:%M") if dt else ""


def _codes(value: str) -> list[str]:
    return [c.strip() for c in value.replace("，", ",").replace("、", ",").split(",") if c.strip()]


def _ids(value: str, label: str) -> list[int]:
    try:
        return [int(c) for c in _codes(value)]
    except ValueError:
        raise Invalid(f"{label}应为以逗号分隔的数字编号") from None


def _back(url: str, msg: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{url}?flash={quote(msg)}&kind={kind}", status_code=303)


def _flash(request: Request) -> dict[str, str]:
    q = request.query_params
    return {"flash": q.get("flash", ""), "flash_kind": "err" if q.get("kind") == "error" else "ok"}


def _systems(session) -> list[Any]:
    from cityops.catalog.models import System
    from sqlalchemy import select

    return list(session.scalars(select(System).order_by(System.code)))


# -- list and new fault ----------------------------------------------------------------------
def _list_page(request: Request, session, user: ConsoleUser, *, form: dict[str, Any] | None = None,
               flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    state = request.query_params.get("state", "")
    now = utcnow()
    rows, total = fault_service.list_faults(session, state=state if state in FAULT_STATES else None,
                                            open_only=state == "", limit=200)
    grades = {g.id: g for g in fault_grades.list_grades(session)}
    items = [(f, grades[f.grade_id], fault_service.fault_status(f, now, grades[f.grade_id])) for f in rows]
    default = {"occurred_at": _local_input(now), "grade_id": max(grades, key=lambda i: grades[i].level, default=None)}
    return render(request, "servicedesk/faults.html", user, "faults", status_code=status_code, items=items,
                  total=total, state=state, grades=list(grades.values()), form=form or default,
                  summary=fault_service.open_summary(session, now), systems=_systems(session),
                  can_write=user.can(*WRITERS), STATES=FAULT_STATES, flash=flash, flash_kind=flash_kind)


@router.get(URL)
def faults_page(request: Request, session: DbSession, user: Reader_):
    return _list_page(request, session, user, **_flash(request))


@router.post(URL)
def create_fault_page(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                      title: Annotated[str, Form()] = "", grade_id: Annotated[str, Form()] = "",
                      occurred_at: Annotated[str, Form()] = "", detected_at: Annotated[str, Form()] = "",
                      system_codes: Annotated[list[str], Form()] = [], description: Annotated[str, Form()] = "",
                      handler: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    form = {"title": title, "grade_id": int(grade_id) if grade_id.isdigit() else None, "occurred_at": occurred_at,
            "detected_at": detected_at, "system_codes": system_codes, "description": description, "handler": handler}
    try:
        if form["grade_id"] is None:
            raise Invalid("请选择故障等级")
        occurred = parse_local(occurred_at, "发生时间")
        if occurred is None:
            raise Invalid("请填写发生时间")
        f = fault_service.open_fault(session, title=title, grade_id=form["grade_id"], occurred_at=occurred,
                                     detected_at=parse_local(detected_at, "发现时间"), system_codes=system_codes,
                                     description=description, handler=handler, actor=user.username, now=utcnow())
    except Problem as exc:
        session.rollback()
        return _list_page(request, session, user, form=form, flash=f"未能登记：{exc.detail}", flash_kind="err",
                          status_code=422)
    return _back(f"{URL}/{f.id}", f"已登记故障 {f.number}，并按等级通知相关人员")


# -- grades ----------------------------------------------------------------------------------
def _grades_page(request: Request, session, user: ConsoleUser, *, flash: str = "", flash_kind: str = "ok",
                 status_code: int = 200, edit: int | None = None):
    from cityops.duty.service import list_contacts, list_teams

    contacts = list_contacts(session, active_only=True)
    return render(request, "servicedesk/fault_grades.html", user, "faults", status_code=status_code,
                  grades=fault_grades.list_grades(session), teams=list_teams(session), edit=edit,
                  contacts=contacts, contact_names={c.id: c.name for c in contacts},
                  can_edit=user.can(*CONFIG), flash=flash, flash_kind=flash_kind)


def grade_form(name: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
               scope: Annotated[str, Form()] = "", response_minutes: Annotated[str, Form()] = "",
               restore_minutes: Annotated[str, Form()] = "", notify_teams: Annotated[list[str], Form()] = [],
               notify_contacts: Annotated[list[int], Form()] = [],
               notify_managers: Annotated[str, Form()] = "", notify_note: Annotated[str, Form()] = "",
               color: Annotated[str, Form()] = "#888888", active: Annotated[str, Form()] = "") -> dict[str, Any]:
    def minutes(value: str, what: str) -> int:
        if not value.strip().isdigit():
            raise Invalid(f"{what}必须是正整数（分钟）")
        return int(value)

    return {"name": name, "label": label, "scope": scope,
            "response_minutes": lambda: minutes(response_minutes, "响应时限"),
            "restore_minutes": lambda: minutes(restore_minutes, "恢复时限"), "notify_teams": notify_teams,
            "notify_contacts": notify_contacts,
            "notify_managers": bool(notify_managers), "notify_note": notify_note, "color": color,
            "active": bool(active)}


def _values(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v() if callable(v) else v) for k, v in data.items()}


@router.get(f"{URL}/grades")
def grades_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None):
    return _grades_page(request, session, user, edit=edit, **_flash(request))


@router.post(f"{URL}/grades")
def create_grade_page(request: Request, session: DbSession, user: Config_, csrf: Annotated[str, Form()],
                      data: Annotated[dict, Depends(grade_form)], level: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        if not level.strip().isdigit():
            raise Invalid("等级序号必须是 1–9 的整数")
        g = fault_grades.create_grade(session, level=int(level), **_values(data))
    except Problem as exc:
        session.rollback()
        return _grades_page(request, session, user, flash=f"未能添加：{exc.detail}", flash_kind="err",
                            status_code=422)
    return _back(f"{URL}/grades", f"已添加故障等级 {g.name}")


@router.post(f"{URL}/grades/{{grade_id}}")
def update_grade_page(request: Request, grade_id: int, session: DbSession, user: Config_,
                      csrf: Annotated[str, Form()], data: Annotated[dict, Depends(grade_form)]):
    check_csrf(csrf, user)
    try:
        g = fault_grades.update_grade(session, grade_id, **_values(data))
    except Problem as exc:
        session.rollback()
        return _grades_page(request, session, user, edit=grade_id, flash=f"未能保存：{exc.detail}",
                            flash_kind="err", status_code=422 if exc.status != 404 else 404)
    return _back(f"{URL}/grades", f"已保存故障等级 {g.name}")


@router.post(f"{URL}/grades/{{grade_id}}/delete")
def delete_grade_page(grade_id: int, session: DbSession, user: Config_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        fault_grades.delete_grade(session, grade_id)
    except Problem as exc:
        return _back(f"{URL}/grades", exc.detail, "error")
    return _back(f"{URL}/grades", "已删除故障等级")


# -- one fault -------------------------------------------------------------------------------
def _detail(request: Request, session, user: ConsoleUser, fault_id: int, *, form: dict[str, Any] | None = None,
            flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    f = fault_service.get_fault(session, fault_id)
    grade = session.get(FaultGrade, f.grade_id)
    edit = form or {**{k: getattr(f, k) for k in EDIT_FIELDS}, "grade_id": f.grade_id,
                    "system_codes": f.system_codes, "asset_ids": ",".join(map(str, f.asset_ids)),
                    "ticket_ids": ",".join(map(str, f.ticket_ids)), "occurred_at": _local_input(f.occurred_at),
                    "detected_at": _local_input(f.detected_at)}
    return render(request, "servicedesk/fault.html", user, "faults", status_code=status_code, f=f, grade=grade,
                  st=fault_service.fault_status(f, utcnow(), grade), entries=fault_service.timeline(session, f.id),
                  moves=[(m, MOVE_LABELS[m]) for m in fault_service.MOVES[f.state]], grades=fault_grades.list_grades(session),
                  systems=_systems(session), form=edit, can_write=user.can(*WRITERS), STATES=FAULT_STATES,
                  KINDS=ENTRY_KINDS, now_input=_local_input(utcnow()), flash=flash, flash_kind=flash_kind)


@router.get(f"{URL}/{{fault_id}}")
def fault_page(request: Request, fault_id: int, session: DbSession, user: Reader_):
    return _detail(request, session, user, fault_id, **_flash(request))


@router.post(f"{URL}/{{fault_id}}")
def update_fault_page(request: Request, fault_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                      title: Annotated[str, Form()] = "", grade_id: Annotated[str, Form()] = "",
                      occurred_at: Annotated[str, Form()] = "", detected_at: Annotated[str, Form()] = "",
                      system_codes: Annotated[list[str], Form()] = [], asset_ids: Annotated[str, Form()] = "",
                      ticket_ids: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                      cause: Annotated[str, Form()] = "", impact: Annotated[str, Form()] = "",
                      recovery: Annotated[str, Form()] = "", follow_up: Annotated[str, Form()] = "",
                      reporter: Annotated[str, Form()] = "", handler: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    form = {"title": title, "grade_id": int(grade_id) if grade_id.isdigit() else None, "occurred_at": occurred_at,
            "detected_at": detected_at, "system_codes": system_codes, "asset_ids": asset_ids,
            "ticket_ids": ticket_ids, "description": description, "cause": cause, "impact": impact,
            "recovery": recovery, "follow_up": follow_up, "reporter": reporter, "handler": handler}
    try:
        current = fault_service.get_fault(session, fault_id)
        if current.state == "closed":
            values: dict[str, Any] = {"follow_up": follow_up}
        else:
            values = {k: form[k] for k in EDIT_FIELDS}
            values.update(grade_id=form["grade_id"], system_codes=system_codes,
                          asset_ids=_ids(asset_ids, "设备资产"), ticket_ids=_ids(ticket_ids, "关联工单"),
                          occurred_at=parse_local(occurred_at, "发生时间"), detected_at=parse_local(detected_at, "发现时间"))
            values = {k: v for k, v in values.items() if v is not None}
        f = fault_service.update_fault(session, fault_id, actor=user.username, now=utcnow(), **values)
    except Problem as exc:
        session.rollback()
        if exc.status == 404:
            raise
        return _detail(request, session, user, fault_id, form=form, flash=f"未能保存：{exc.detail}",
                       flash_kind="err", status_code=422)
    return _back(f"{URL}/{f.id}", "已保存")


@router.post(f"{URL}/{{fault_id}}/entries")
def add_entry_page(request: Request, fault_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                   text: Annotated[str, Form()] = "", at: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        fault_service.add_note(session, fault_id, text=text, author=user.username, now=utcnow(),
                               at=parse_local(at, "时间"))
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(f"{URL}/{fault_id}", f"未能记录：{exc.detail}", "error")
    return _back(f"{URL}/{fault_id}", "已记录处置经过")


@router.post(f"{URL}/{{fault_id}}/transition")
def move_page(request: Request, fault_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
              to: Annotated[str, Form()] = "", at: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        f = fault_service.move(session, fault_id, to, actor=user.username, now=utcnow(),
                               at=parse_local(at, "时间"), note=note)
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(f"{URL}/{fault_id}", f"未能变更状态：{exc.detail}", "error")
    return _back(f"{URL}/{f.id}", f"状态已改为{FAULT_STATES[f.state]}")


@router.get(f"{URL}/{{fault_id}}/brief.{{fmt}}")
def brief_page(fault_id: int, fmt: str, session: DbSession, user: Reader_):
    if fmt not in ("pdf", "docx"):
        raise Invalid(f"不支持的格式 {fmt}")
    return brief_download(session, fault_id, fmt, user.display_name or user.username)
