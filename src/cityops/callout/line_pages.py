"""Console page 线路状态 (CALL-3), written for the big screen at 3 a.m.: per gateway / IP phone a
status light, ports, group, the last OPTIONS / status page / test call with their times and the
7-day test pass rate; caller IDs with their marking (marked ones in red, with label and since
when); forms to add and edit devices and caller IDs, run a check or a test call now, record a
marking seen in a phone-security app; admins set the marking service and alert recipients; the
recent check history."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.audit.service import mask_phone
from cityops.auth.deps import DbSession
from cityops.callout import line_checks, lines, marking, numbers
from cityops.callout.line_models import CHECK_KINDS
from cityops.core.errors import Problem
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
EDITORS = ("admin", "manager")
CHECKERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Editor_ = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
Checker_ = Annotated[ConsoleUser, Depends(require_console(*CHECKERS))]
Admin_ = Annotated[ConsoleUser, Depends(require_console("admin"))]
URL = "/console/callout/lines"
STATE_LABELS = {"up": "在线", "down": "离线", "unknown": "未检查", "disabled": "已停用"}
KIND_LABELS = {"gateway": "语音网关", "ip_phone": "IP 话机"}
CHECK_LABELS = {"options": "SIP 探测", "http": "状态页", "test_call": "测试呼叫", "marking": "标记查询"}
MARKING_LABELS = {"clean": "未标记", "marked": "已标记", "unknown": "未查询"}


def _show(number: str | None, user: ConsoleUser) -> str:
    text = numbers.national(number) if number and number.startswith("+") else (number or "")
    return text if user.sees_pii else mask_phone(text)


def _page(request: Request, session, user: ConsoleUser, *, edit: int | None = None, edit_caller: int | None = None,
          form: dict[str, Any] | None = None, caller_form: dict[str, Any] | None = None, flash: str = "",
          flash_kind: str = "ok", status_code: int = 200, kind: str = ""):
    h = lines.health(session)
    recent, _ = lines.history(session, kind=kind if kind in CHECK_KINDS else None, limit=50)
    editing = next((x["device"] for x in h["devices"] if x["device"].id == edit), None) if edit else None
    if editing is not None and form is None:
        form = {k: getattr(editing, k) for k in lines.DEVICE_FIELDS if k != "password"}
        form["test_number"] = numbers.national(editing.test_number)
    editing_caller = next((c for c in h["caller_ids"] if c.id == edit_caller), None) if edit_caller else None
    if editing_caller is not None and caller_form is None:
        caller_form = {"number": numbers.national(editing_caller.number_e164), "line_group": editing_caller.line_group,
                       "carrier": editing_caller.carrier, "note": editing_caller.note}
    return render(request, "callout/lines.html", user, "callout-lines", status_code=status_code, h=h,
                  recent=recent, kind=kind, editing=editing, editing_caller=editing_caller,
                  form=form or {"sip_port": 5060, "ports": 30, "kind": "gateway", "enabled": True, "model": "SMG1000-D40"},
                  caller_form=caller_form or {}, settings=lines.public_settings(session) if user.role == "admin" else None,
                  show_number=lambda n: _show(n, user), can_edit=user.can(*EDITORS), can_check=user.can(*CHECKERS),
                  is_admin=user.role == "admin", STATE_LABELS=STATE_LABELS, KIND_LABELS=KIND_LABELS,
                  CHECK_LABELS=CHECK_LABELS, MARKING_LABELS=MARKING_LABELS, MARK_LABELS=marking.LABELS,
                  RESULT_LABELS=line_checks.RESULT_LABELS, flash=flash, flash_kind=flash_kind)


def _back(msg: str, kind: str = "ok", anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{URL}?flash={quote(msg)}&kind={kind}{anchor}", status_code=303)


@router.get(URL)
def lines_page(request: Request, session: DbSession, user: Reader_, edit: int | None = None,
               edit_caller: int | None = None, kind: str = ""):
    q = request.query_params
    return _page(request, session, user, edit=edit, edit_caller=edit_caller, kind=kind, flash=q.get("flash", ""),
                 flash_kind="err" if q.get("kind") == "error" else "ok")


# -- devices ---------------------------------------------------------------------------------
def device_form(kind: Annotated[str, Form()] = "gateway", name: Annotated[str, Form()] = "",
                model: Annotated[str, Form()] = "", host: Annotated[str, Form()] = "",
                sip_port: Annotated[str, Form()] = "5060", username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", ports: Annotated[str, Form()] = "1",
                line_group: Annotated[str, Form()] = "", http_status_url: Annotated[str, Form()] = "",
                test_number: Annotated[str, Form()] = "", enabled: Annotated[str, Form()] = "",
                note: Annotated[str, Form()] = "") -> dict[str, Any]:
    """The device form's fields; an unticked 启用 box is not posted at all, hence `enabled` = "" → False."""
    return {"kind": kind, "name": name, "model": model, "host": host, "sip_port": sip_port, "username": username,
            "password": password, "ports": ports, "line_group": line_group, "http_status_url": http_status_url,
            "test_number": test_number, "enabled": bool(enabled), "note": note}


@router.post(f"{URL}/gateways")
def create_device_page(request: Request, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                       data: Annotated[dict, Depends(device_form)]):
    check_csrf(csrf, user)
    try:
        d = lines.create_device(session, data=data)
    except Problem as exc:
        return _page(request, session, user, form={**data, "password": ""}, flash=f"未能添加：{exc.detail}",
                     flash_kind="err", status_code=422)
    return _back(f"已添加{KIND_LABELS[d.kind]}「{d.name}」，可点“立即检查”确认连通")


@router.post(f"{URL}/gateways/{{device_id}}")
def update_device_page(request: Request, device_id: int, session: DbSession, user: Editor_,
                       csrf: Annotated[str, Form()], data: Annotated[dict, Depends(device_form)]):
    check_csrf(csrf, user)
    try:
        d = lines.update_device(session, device_id, data=data)
    except Problem as exc:
        if exc.status == 404:
            return _back(exc.detail, "error")
        return _page(request, session, user, edit=device_id, form={**data, "password": ""},
                     flash=f"未能保存：{exc.detail}", flash_kind="err", status_code=422)
    return _back(f"已保存「{d.name}」")


@router.post(f"{URL}/gateways/{{device_id}}/delete")
def delete_device_page(device_id: int, session: DbSession, user: Editor_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        lines.delete_device(session, device_id)
    except Problem as exc:
        return _back(exc.detail, "error")
    return _back("已删除该设备及其检查记录")


@router.post(f"{URL}/gateways/{{device_id}}/check")
def check_page(device_id: int, session: DbSession, user: Checker_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        d = line_checks.check_device(session, device_id)
    except Problem as exc:
        return _back(exc.detail, "error")
    return _back(f"「{d.name}」{STATE_LABELS[d.state]}：{d.last_detail}", "ok" if d.state == "up" else "error",
                 f"#device-{d.id}")


@router.post(f"{URL}/gateways/{{device_id}}/test-call")
def test_call_page(device_id: int, session: DbSession, user: Checker_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        row = line_checks.test_call(session, device_id)
    except Problem as exc:
        return _back(exc.detail, "error")
    return _back(f"「{row.subject}」测试呼叫{'通过' if row.ok else '未通过'}：{row.detail}", "ok" if row.ok else "error",
                 f"#device-{device_id}")


# -- caller IDs ------------------------------------------------------------------------------
@router.post(f"{URL}/caller-ids")
def create_caller_page(request: Request, session: DbSession, user: Editor_, csrf: Annotated[str, Form()],
                       number: Annotated[str, Form()] = "", line_group: Annotated[str, Form()] = "",
                       carrier: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    data = {"number": number, "line_group": line_group, "carrier": carrier, "note": note}
    try:
        c = lines.create_caller_id(session, data=data)
    except Problem as exc:
        return _page(request, session, user, caller_form=data, flash=f"未能添加外显号码：{exc.detail}",
                     flash_kind="err", status_code=422)
    return _back(f"已添加外显号码 {_show(c.number_e164, user)}")


@router.post(f"{URL}/caller-ids/{{caller_id}}")
def update_caller_page(request: Request, caller_id: int, session: DbSession, user: Editor_,
                       csrf: Annotated[str, Form()], number: Annotated[str, Form()] = "",
                       line_group: Annotated[str, Form()] = "", carrier: Annotated[str, Form()] = "",
                       note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    data = {"number": number, "line_group": line_group, "carrier": carrier, "note": note}
    try:
        lines.update_caller_id(session, caller_id, data=data)
    except Problem as exc:
        if exc.status == 404:
            return _back(exc.detail, "error")
        return _page(request, session, user, edit_caller=caller_id, caller_form=data,
                     flash=f"未能保存外显号码：{exc.detail}", flash_kind="err", status_code=422)
    return _back("已保存外显号码")


@router.post(f"{URL}/caller-ids/{{caller_id}}/delete")
def delete_caller_page(caller_id: int, session: DbSession, user: Editor_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        lines.delete_caller_id(session, caller_id)
    except Problem as exc:
        return _back(exc.detail, "error")
    return _back("已删除外显号码")


@router.post(f"{URL}/caller-ids/{{caller_id}}/marking")
def manual_marking_page(caller_id: int, session: DbSession, user: Checker_, csrf: Annotated[str, Form()],
                        marked: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
                        count: Annotated[str, Form()] = "", app: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        n = int(count) if count.strip() else None
        marking.record_manual(session, caller_id, marked=marked == "1", label=label, count=n, app=app,
                              by=user.username)
    except ValueError:
        return _back("标记人数必须是整数", "error", f"#caller-{caller_id}")
    except Problem as exc:
        return _back(f"未能记录：{exc.detail}", "error", f"#caller-{caller_id}")
    return _back("已记录标记情况" if marked == "1" else "已记录为未标记", "ok", f"#caller-{caller_id}")


@router.post(f"{URL}/caller-ids/{{caller_id}}/query")
def query_page(caller_id: int, session: DbSession, user: Checker_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        row = marking.query_now(session, caller_id)
    except Problem as exc:
        return _back(exc.detail, "error", f"#caller-{caller_id}")
    return _back(f"{row.subject}：{row.detail}", "ok" if row.ok else "error", f"#caller-{caller_id}")


# -- settings --------------------------------------------------------------------------------
@router.post(f"{URL}/settings")
def settings_page(request: Request, session: DbSession, user: Admin_, csrf: Annotated[str, Form()],
                  marking_base_url: Annotated[str, Form()] = "", marking_api_key: Annotated[str, Form()] = "",
                  notify_team: Annotated[str, Form()] = "", notify_channels: Annotated[str, Form()] = "",
                  test_interval_h: Annotated[str, Form()] = "6"):
    check_csrf(csrf, user)
    try:
        channels = [int(x) for x in notify_channels.replace("，", ",").split(",") if x.strip()]
        lines.update_settings(session, by=user.username, changes={
            "marking_base_url": marking_base_url, "marking_api_key": marking_api_key, "notify_team": notify_team.strip(),
            "notify_channels": channels, "test_interval_h": float(test_interval_h or 6)})
    except ValueError:
        return _back("通知渠道应为逗号分隔的编号，测试间隔应为数字", "error", "#line-settings")
    except Problem as exc:
        errors = "；".join(e["msg"] for e in exc.extra.get("errors", []))
        return _back(f"未能保存设置：{exc.detail}{('：' + errors) if errors else ''}", "error", "#line-settings")
    return _back("已保存线路设置")
