"""Console: the notification log, and notification policies with their escalation chains
and channels (IOT-5 / OPS-3)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Invalid, Problem
from cityops.monitoring.models import Alarm
from cityops.notify import registry, service
from cityops.notify.schemas import recipient_label
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "auditor")
EDITORS = ("admin", "manager")
Reader = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Retrier = Annotated[ConsoleUser, Depends(require_console("admin", "manager", "duty"))]
Editor = Annotated[ConsoleUser, Depends(require_console(*EDITORS))]
STATE_LABELS = {"pending": "待发送", "sent": "已发送", "failed": "失败", "cancelled": "已取消"}
SEVERITY_LABELS = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "提示"}
KIND_LABELS = {kind: registry.get(kind).label for kind in registry.kinds()} | {"-": "—"}
FORM_STEPS = 4
SETTINGS_HINTS = {
    "wecom": '{"webhook_key": "…", "base_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", '
             '"msgtype": "markdown"}',
    "sms": '{"url": "https://…/sms/send", "account": "…", "secret": "…", '
           '"signature": "长宁城运"}',
    "email": '{"host": "smtp.…", "port": 587, "security": "starttls", "username": "…", "password": "…", '
             '"from_addr": "…"}',
    "voice": '{"url": "https://…/voice/calls", "token": "…"}',
}


@router.get("/console/notifications")
def notification_log(request: Request, session: DbSession, user: Reader, state: str = "", channel: str = "",
                     flash: str = "", flash_kind: str = "ok"):
    rows, total = service.list_log(session, state=state or None, channel_kind=channel or None, limit=200)
    running = service.list_escalations(session, state="active", limit=50)
    policies = {p.id: p for p in service.list_policies(session)}
    ids = {m.alarm_id for m in rows if m.alarm_id} | {e.alarm_id for e in running}
    alarms = {a.id: a for a in session.scalars(select(Alarm).where(Alarm.id.in_(ids)))} if ids else {}
    return render(request, "notify/log.html", user, "notifications", rows=rows, total=total, state=state,
                  channel=channel, counts=service.state_counts(session), alarms=alarms, labels=STATE_LABELS,
                  kinds=KIND_LABELS, severities=SEVERITY_LABELS, recipient=recipient_label, running=running,
                  policies=policies,
                  can_retry=user.can("admin", "manager", "duty"),
                  flash=flash or request.query_params.get("flash", ""), flash_kind=flash_kind)


@router.post("/console/notifications/{message_id}/retry")
def retry(message_id: int, request: Request, session: DbSession, user: Retrier, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        service.retry(session, message_id)
    except Problem as exc:
        session.rollback()
        return notification_log(request, session, user, flash=f"重发失败：{exc.detail}", flash_kind="err")
    return RedirectResponse(f"/console/notifications?flash=已重新排队发送 #{message_id}", status_code=303)


# -- policies and channels --

def _target_options(session) -> list[tuple[str, str]]:
    from cityops.duty import service as duty

    opts = []
    for t in duty.list_teams(session):
        opts += [(f"team:{t.code}", f"{t.name} 在岗人员"), (f"manager:{t.code}", f"{t.name} 负责人")]
    opts += [(f"contact:{c.id}", f"联系人：{c.name}") for c in duty.list_contacts(session, active_only=True)]
    opts.append(("unit", "设备责任单位的在岗人员"))
    return opts


def _target_value(t: dict[str, Any]) -> str:
    if t["kind"] in ("team", "manager"):
        return f"{t['kind']}:{t['team']}"
    if t["kind"] == "contact":
        return f"contact:{t['contact_id']}"
    return "unit"


@router.get("/console/notify-policies")
def policies_page(request: Request, session: DbSession, user: Reader, edit: int | None = None, flash: str = "",
                  flash_kind: str = "ok"):
    from cityops.devices.service import list_tags
    from cityops.geo.service import list_streets, list_units

    channels = service.list_channels(session)
    editing = service.get_policy(session, edit) if edit else None
    return render(request, "notify/policies.html", user, "notify_policies", policies=service.list_policies(session),
                  channels=channels, channel_names={c.id: c.name for c in channels},
                  public=service.public_settings, editing=editing, targets=_target_options(session),
                  target_value=_target_value, form_steps=FORM_STEPS, streets=list_streets(session),
                  chosen_targets=lambda st: [_target_value(t) for t in st["targets"]] if st else [],
                  tags=list_tags(session), units=list_units(session), severities=SEVERITY_LABELS,
                  kinds=KIND_LABELS, hints=SETTINGS_HINTS, can_edit=user.can(*EDITORS),
                  flash=flash or request.query_params.get("flash", ""), flash_kind=flash_kind)


async def policy_form(request: Request) -> dict[str, Any]:
    """The policy form as service fields; steps come from s{n}_targets / s{n}_channels / s{n}_wait."""
    form = await request.form()
    steps = []
    for n in range(1, FORM_STEPS + 1):
        targets, channels = form.getlist(f"s{n}_targets"), form.getlist(f"s{n}_channels")
        if not targets and not channels:
            continue
        parsed = []
        for value in targets:
            kind, _, ref = str(value).partition(":")
            parsed.append({"kind": kind, "contact_id": int(ref)} if kind == "contact" and ref.isdigit()
                          else {"kind": kind, "team": ref} if kind in ("team", "manager") else {"kind": kind})
        wait = str(form.get(f"s{n}_wait") or "10")
        steps.append({"targets": parsed, "channels": [int(c) for c in channels if str(c).isdigit()],
                      "wait_minutes": int(wait) if wait.isdigit() else -1})

    def opt_int(key: str) -> int | None:
        v = str(form.get(key) or "")
        return int(v) if v.isdigit() else None

    return {"name": str(form.get("name") or ""), "position": opt_int("position") or 100,
            "enabled": form.get("enabled") == "on", "min_severity": str(form.get("min_severity") or "info"),
            "alarm_type": str(form.get("alarm_type") or ""), "street_code": str(form.get("street_code") or "") or None,
            "tag_id": opt_int("tag_id"), "unit_id": opt_int("unit_id"), "repeat": opt_int("repeat") or 0,
            "quiet_start": str(form.get("quiet_start") or ""), "quiet_end": str(form.get("quiet_end") or ""),
            "quiet_max_severity": str(form.get("quiet_max_severity") or "warning"), "steps": steps}


PolicyForm = Annotated[dict[str, Any], Depends(policy_form)]


def _saved(request, session, user, action, ok: str, edit: int | None = None):
    try:
        action()
    except Problem as exc:
        session.rollback()
        return policies_page(request, session, user, edit=edit, flash=f"保存失败：{exc.detail}", flash_kind="err")
    return RedirectResponse(f"/console/notify-policies?flash={ok}", status_code=303)


@router.post("/console/notify-policies")
def create_policy(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
                  fields: PolicyForm):
    check_csrf(csrf, user)
    return _saved(request, session, user, lambda: service.create_policy(session, **fields), "已创建通知策略")


@router.post("/console/notify-policies/{policy_id}")
def update_policy(policy_id: int, request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
                  fields: PolicyForm):
    check_csrf(csrf, user)
    return _saved(request, session, user, lambda: service.update_policy(session, policy_id, **fields),
                  "已保存通知策略", edit=policy_id)


@router.post("/console/notify-policies/{policy_id}/delete")
def delete_policy(policy_id: int, request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    return _saved(request, session, user, lambda: service.delete_policy(session, policy_id), "已删除通知策略")


@router.post("/console/notify-channels")
def create_channel(request: Request, session: DbSession, user: Editor, csrf: Annotated[str, Form()],
                   kind: Annotated[str, Form()], name: Annotated[str, Form()], settings: Annotated[str, Form()]):
    check_csrf(csrf, user)

    def action():
        try:
            parsed = json.loads(settings)
        except ValueError as exc:
            raise Invalid(f"配置须为 JSON 对象：{exc}") from None
        if not isinstance(parsed, dict):
            raise Invalid("配置须为 JSON 对象")
        service.create_channel(session, kind=kind, name=name, settings=parsed)

    return _saved(request, session, user, action, "已添加通知渠道")


@router.post("/console/notify-channels/{channel_id}/{action}")
def channel_action(channel_id: int, action: str, request: Request, session: DbSession, user: Editor,
                   csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    if action == "test":
        try:
            result = service.send_test(session, channel_id, by=user.display_name or user.username)
        except Problem as exc:
            return policies_page(request, session, user, flash=f"测试失败：{exc.detail}", flash_kind="err")
        if result.ok:
            return RedirectResponse("/console/notify-policies?flash=测试消息已发送", status_code=303)
        hint = "（临时故障，可稍后再试）" if result.retryable else "（请检查渠道配置）"
        return policies_page(request, session, user, flash=f"测试失败：{result.error}{hint}", flash_kind="err")
    if action not in ("enable", "disable"):
        return policies_page(request, session, user, flash=f"未知操作 {action}", flash_kind="err")
    return _saved(request, session, user, lambda: service.update_channel(session, channel_id,
                                                                         enabled=action == "enable"),
                  "已启用通知渠道" if action == "enable" else "已停用通知渠道")
