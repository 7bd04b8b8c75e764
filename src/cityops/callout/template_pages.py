"""Console pages 场景与话术 and 应急广播 (CALL-1).

`/console/callout/scenarios`: the seven scenarios with calling window, priority, retries,
triggers (and their last run), customised marker. `/console/callout/scenarios/{code}`: the
template form with a script editor — JSON text plus the rendered tree of steps, a 试运行 box that
plays the (unsaved) script against typed answers, validation errors next to the editor, and
reset to the defaults. `/console/callout/broadcast`: message and audience, a confirmation step
with the counts, then the broadcast starts at once."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.audit.service import mask_phone
from cityops.auth.deps import DbSession
from cityops.callout import lists, numbers, templates, triggers
from cityops.callout.campaigns import PRIORITIES
from cityops.callout.pages import READERS, WRITERS
from cityops.callout.script import TERMINALS, Script, run_script
from cityops.callout.template_api import known
from cityops.core.errors import Problem
from cityops.core.timeutil import utcnow
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
URL = "/console/callout/scenarios"
BROADCAST = "/console/callout/broadcast"
PRIORITY_LABELS = {"normal": "普通", "high": "高", "highest": "最高"}
RESULT_LABELS = {"no_answer": "无人接听", "busy": "忙线", "unreachable": "无法接通", "failed": "呼叫失败"}
SILENCE = ("-", "静音", "（静音）")
Text = Annotated[str, Form()]


# -- form <-> settings ------------------------------------------------------------------------
def windows_text(windows) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in windows)


def parse_windows_text(text: str) -> list[list[str]]:
    out = []
    for part in re.split(r"[,，;；\s]+", text.strip()):
        if not part:
            continue
        pieces = re.split(r"[-–~]", part)
        if len(pieces) != 2:
            raise ValueError(f"呼叫时段 {part!r} 格式错误，应为 09:00-12:00")
        out.append([p.strip() for p in pieces])
    return out


def retry_text(policy: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in policy.items())


def parse_retry_text(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in re.split(r"[,，;；\s]+", text.strip()):
        if not part:
            continue
        key, sep, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"重试策略 {part!r} 格式错误，应为 结果=分钟，如 busy=10") from None
        if not sep:
            raise ValueError(f"重试策略 {part!r} 格式错误，应为 结果=分钟")
    return out


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} JSON 无法解析：第 {exc.lineno} 行第 {exc.colno} 列（{exc.msg}）") from exc


def form_of(t: templates.Template) -> dict[str, str]:
    return {"script": json.dumps(t.script.to_dict(), ensure_ascii=False, indent=2) if t.script else "",
            "windows": windows_text(t.windows), "retry_policy": retry_text(t.retry_policy),
            "max_attempts": str(t.max_attempts), "priority": t.priority, "caller_id": t.caller_id,
            "line_group": t.line_group, "triggers": json.dumps(t.triggers, ensure_ascii=False, indent=2)}


def settings_from(form: dict[str, str], code: str) -> dict[str, Any]:
    """The form's values as `templates.update` arguments; a value equal to the code default is
    stored as "default" (None), so the customised marker means a real change."""
    d = templates.default(code)
    values: dict[str, Any] = {
        "script": parse_json(form["script"], "话术") if form["script"].strip() else None,
        "windows": parse_windows_text(form["windows"]),
        "retry_policy": parse_retry_text(form["retry_policy"]),
        "priority": form["priority"] or None,
        "caller_id": form["caller_id"].strip(),
        "line_group": form["line_group"].strip(),
        "triggers": parse_json(form["triggers"], "触发设置") if form["triggers"].strip() else None,
    }
    try:
        values["max_attempts"] = int(form["max_attempts"])
    except ValueError:
        raise ValueError("最大呼叫次数应为整数") from None
    defaults = {"script": d.script.to_dict() if d.script else None, "windows": templates.windows_json(d.windows),
                "retry_policy": d.retry_policy, "priority": d.priority, "caller_id": d.caller_id,
                "line_group": d.line_group, "triggers": d.triggers, "max_attempts": d.max_attempts}
    return {k: (None if v == defaults[k] else v) for k, v in values.items()}


# -- the script tree -------------------------------------------------------------------------
def tree(script: Script) -> dict[str, Any]:
    """Nested steps from the start for the editor: each branch leads to a sub-tree, a terminal,
    or a jump back to a step already shown above (loops and shared steps)."""
    shown: set[str] = set()

    def node(step_id: str) -> dict[str, Any]:
        s = script.step(step_id)
        shown.add(step_id)
        n: dict[str, Any] = {"step": s, "branches": []}
        edges = [(f"按 {k} →「{v}」", s.branches.get(v, s.default)) for k, v in s.keys.items()]
        edges += [(f"说「{w}」", s.branches.get(w, s.default)) for w in s.keywords if w not in s.keys.values()]
        label = "无应答/未识别" if s.answers() else "播放完毕"
        edges.append((label + (f"（重试 {s.retries} 次后）" if s.answers() and s.retries else ""), s.default))
        for lbl, target in edges:
            if target in TERMINALS:
                n["branches"].append({"label": lbl, "terminal": target})
            elif target in shown:
                n["branches"].append({"label": lbl, "jump": target})
            else:
                n["branches"].append({"label": lbl, "node": node(target)})
        return n

    return {**node(script.start), "opt_out_key": script.opt_out_key}


def _errors(exc: Problem) -> list[str]:
    return list(exc.extra.get("errors") or [exc.detail])


def _answers(text: str) -> list[str | None]:
    out: list[str | None] = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            out.append(None if line in SILENCE else line)
    return out


# -- pages -----------------------------------------------------------------------------------
@router.get(URL)
def scenarios_page(request: Request, session: DbSession, user: Reader_):
    q = request.query_params
    return render(request, "callout/scenarios.html", user, "callout-scenarios", rows=templates.list_templates(session),
                  runs=triggers.last_runs(session), windows_text=windows_text, priority_labels=PRIORITY_LABELS,
                  result_labels=RESULT_LABELS, trigger_labels=templates.TRIGGER_LABELS, flash=q.get("flash", ""))


def _scenario(request: Request, session, user: ConsoleUser, code: str, *, form: dict[str, str] | None = None,
              errors: list[str] | None = None, answers: str = "", transcript=None, flash: str = "",
              status_code: int = 200):
    t = templates.effective(session, code)
    form = form or form_of(t)
    script, script_errors = None, list(errors or [])
    if form["script"].strip():
        try:
            script = templates.check_script(code, parse_json(form["script"], "话术"))
        except (Problem, ValueError) as exc:
            if not errors:
                script_errors = _errors(exc) if isinstance(exc, Problem) else [str(exc)]
            try:  # the tree still helps while only the placeholder rule fails
                script = Script.from_dict(json.loads(form["script"]))
            except (Problem, ValueError):
                script = None
    runs = triggers.last_runs(session)
    return render(request, "callout/scenario.html", user, "callout-scenarios", status_code=status_code, t=t,
                  form=form, errors=script_errors, tree=tree(script) if script else None, answers=answers,
                  transcript=transcript, flash=flash, priorities=PRIORITIES, priority_labels=PRIORITY_LABELS,
                  trigger_labels=templates.TRIGGER_LABELS, runs={k: runs[k] for k in t.triggers if k in runs},
                  can_edit=user.can(*WRITERS))


@router.get(URL + "/{code}")
def scenario_page(code: str, request: Request, session: DbSession, user: Reader_):
    return _scenario(request, session, user, known(code), flash=request.query_params.get("flash", ""))


@router.post(URL + "/{code}")
def scenario_post(code: str, request: Request, session: DbSession, user: Reader_, csrf: Text,
                  action: Text = "save", script: Text = "", windows: Text = "", retry_policy: Text = "",
                  max_attempts: Text = "3", priority: Text = "", caller_id: Text = "", line_group: Text = "",
                  triggers_json: Annotated[str, Form(alias="triggers")] = "", answers: Text = ""):
    """试运行 (simulate, any reader) plays the script in the editor; 保存 (save, writers) stores
    the form. Errors come back next to the editor with the text as typed."""
    check_csrf(csrf, user)
    known(code)
    form = {"script": script, "windows": windows, "retry_policy": retry_policy, "max_attempts": max_attempts,
            "priority": priority, "caller_id": caller_id, "line_group": line_group, "triggers": triggers_json}
    if action == "simulate":
        try:
            transcript = run_script(Script.from_dict(parse_json(script, "话术")), _answers(answers))
        except (Problem, ValueError) as exc:
            errs = _errors(exc) if isinstance(exc, Problem) else [str(exc)]
            return _scenario(request, session, user, code, form=form, errors=errs, answers=answers, status_code=422)
        return _scenario(request, session, user, code, form=form, answers=answers, transcript=transcript)
    if not user.can(*WRITERS):
        return _scenario(request, session, user, code, form=form, errors=["当前角色只能查看和试运行，不能保存"],
                         answers=answers, status_code=403)
    try:
        templates.update(session, code, **settings_from(form, code), actor=user.username)
    except (Problem, ValueError) as exc:
        session.rollback()
        errs = _errors(exc) if isinstance(exc, Problem) else [str(exc)]
        return _scenario(request, session, user, code, form=form, errors=errs, answers=answers, status_code=422)
    return RedirectResponse(f"{URL}/{code}?flash={quote('已保存场景模板')}", status_code=303)


@router.post(URL + "/{code}/reset")
def scenario_reset(code: str, session: DbSession, user: Writer_, csrf: Text):
    check_csrf(csrf, user)
    templates.reset(session, known(code), actor=user.username)
    return RedirectResponse(f"{URL}/{code}?flash={quote('已恢复默认设置')}", status_code=303)


# -- emergency broadcast -----------------------------------------------------------------------
def _broadcast(request: Request, session, user: ConsoleUser, *, form: dict[str, Any] | None = None, who=None,
               error: str = "", started: str = "", campaign_id: int | None = None, status_code: int = 200):
    from cityops.duty.service import list_teams

    show = (lambda n: n) if user.sees_pii else mask_phone
    return render(request, "callout/broadcast.html", user, "callout-broadcast", status_code=status_code,
                  form=form or {"target": "numbers"}, who=who, error=error, started=started, campaign_id=campaign_id,
                  lists=[cl for cl in lists.list_lists(session) if cl.scenario == "emergency"],
                  teams=list_teams(session, active_only=True), show=lambda n: show(_national(n)))


def _national(n: str) -> str:
    return numbers.national(n) if n and n.startswith("+") else n


@router.get(BROADCAST)
def broadcast_page(request: Request, session: DbSession, user: Writer_):
    q = request.query_params
    cid = q.get("campaign")
    return _broadcast(request, session, user, started=q.get("started", ""),
                      campaign_id=int(cid) if cid and cid.isdigit() else None)


@router.post(BROADCAST)
def broadcast_post(request: Request, session: DbSession, user: Writer_, csrf: Text, message: Text = "",
                   target: Text = "numbers", numbers_text: Annotated[str, Form(alias="numbers")] = "",
                   list_id: Text = "", team_code: Text = "", step: Text = "preview"):
    """预览 shows who would be called; 确认广播 (step=send) starts the broadcast."""
    check_csrf(csrf, user)
    form = {"message": message, "target": target, "numbers": numbers_text, "list_id": list_id,
            "team_code": team_code}
    args = {"numbers_text": numbers_text if target == "numbers" else "",
            "list_id": int(list_id) if target == "list" and list_id.isdigit() else None,
            "team_code": team_code if target == "team" else ""}
    now = utcnow()
    try:
        if not message.strip():
            raise ValueError("请填写广播内容")
        who = triggers.audience(session, **args, now=now)
        if step != "send":
            return _broadcast(request, session, user, form=form, who=who)
        c = triggers.broadcast(session, message=message, numbers=args["numbers_text"], list_id=args["list_id"],
                               team_code=args["team_code"], actor=user.username, now=now)
    except (Problem, ValueError) as exc:
        msg = exc.detail if isinstance(exc, Problem) else str(exc)
        return _broadcast(request, session, user, form=form, error=msg, status_code=422)
    text = f"应急广播已开始：共 {who['total']} 个号码，其中 {len(who['invalid'])} 个无效号码将被拒绝"
    return RedirectResponse(f"{BROADCAST}?started={quote(text)}&campaign={c.id}", status_code=303)
