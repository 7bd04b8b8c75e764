"""Scenario templates (CALL-1): what a campaign of each of the seven scenarios starts from —
script, calling windows, retry policy, attempts, priority, caller ID / line group, triggers.

`effective(session, scenario)` is the one place the dialer, the campaign service and the
triggers read a scenario's settings from: the operator's `callout_templates` row merged over
the code defaults (`scenarios.SCENARIOS`, `script.DEFAULT_SCRIPTS` plus the scripts below).

The emergency scenario (应急指挥, public safety) always has no calling window and the highest
priority, whatever is stored. Its script may say `{message}`: `triggers.broadcast` fills in the
broadcast text when it creates the campaign.

Triggers are off by default. To switch one on (e.g. for the demo)::

    templates.update(s, "hotline_callback", triggers={"event_closed": {"enabled": True, "delay_min": 30}},
                     actor="demo")
    templates.update(s, "workorder_reminder", triggers={"workorder_overdue": {"enabled": True}}, actor="demo")
    templates.update(s, "iot_alert", triggers={"alarm_unacked": {"enabled": True, "minutes": 15,
                                                                  "min_severity": "critical"}}, actor="demo")
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import time
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from cityops.callout.scenarios import SCENARIOS, Window
from cityops.callout.script import DEFAULT_SCRIPTS, Script, Step
from cityops.callout.template_models import ScenarioTemplate
from cityops.core.errors import Invalid
from cityops.core.timeutil import utcnow

DEFAULT_RETRY = {"no_answer": 30, "busy": 10, "unreachable": 60, "failed": 15}
RETRY_RESULTS = ("no_answer", "busy", "unreachable", "power_off", "failed")  # the dialer never retries the others
MAX_ATTEMPTS = 10
SEVERITIES = ("info", "warning", "major", "critical")  # monitoring alarm severities, lowest first
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_CALLER_ID = re.compile(r"^\d{3,20}$")
_LINE_GROUP = re.compile(r"^[\w.-]{1,32}$")

# Trigger settings per scenario: name -> default settings (all off until an operator enables them).
TRIGGER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "hotline_callback": {"event_closed": {"enabled": False, "delay_min": 30}},
    "workorder_reminder": {"workorder_overdue": {"enabled": False}},
    "iot_alert": {"alarm_unacked": {"enabled": False, "minutes": 15, "min_severity": "critical", "team": ""}},
}
TRIGGER_LABELS = {"event_closed": "事件处置完成后回访", "workorder_overdue": "工单超时催告",
                  "alarm_unacked": "告警未确认呼叫值班人员"}


def _ack(step_id: str, prompt: str, record: str, value: str = "收到") -> Step:
    return Step(step_id, prompt, keys={"1": value}, keywords=[value], branches={value: "thanks"}, default="hangup",
                retries=1, reprompt=prompt, record=record)


EMERGENCY = Script(name="应急指挥", start="announce", steps=[
    Step("announce", "长宁区城市运行管理中心紧急通知：{message}", default="again"),
    Step("again", "重复一遍：{message}", default="ack"),
    _ack("ack", "收到请按1。", "acknowledged"),
    Step("thanks", "已确认收到，请按通知要求行动，再见。"),
])
DUTY_CHECK = Script(name="值守保障", start="check", steps=[
    Step("check", "您好，这里是长宁区城市运行管理中心值守核查。您在岗请按1。", keys={"1": "在岗"}, keywords=["在岗"],
         branches={"在岗": "thanks"}, default="bye", retries=1, reprompt="未收到按键。您在岗请按1。", record="on_duty"),
    Step("thanks", "已登记在岗，谢谢。"),
    Step("bye", "未收到在岗确认，值班长将与您联系，再见。"),
])
IOT_ALERT = Script(name="物联感知", start="alert", steps=[
    Step("alert", "您好，这里是长宁区城市运行管理中心。物联感知设备发生严重告警，至今无人确认，请立即登录平台处置。"
                  "已知晓请按1，转人工请按0。",
         keys={"1": "已知晓", "0": "转人工"}, keywords=["知道"],
         branches={"已知晓": "thanks", "知道": "thanks", "转人工": "transfer"}, default="hangup", retries=2,
         reprompt="请按1确认已知晓，或按0转人工。", record="acknowledged"),
    Step("thanks", "感谢确认，请尽快处置，再见。"),
])
NOTICE = Script(name="信息提醒", start="notice", steps=[
    Step("notice", "您好，这里是长宁区城市运行管理中心，现向您发送一条提醒信息，请留意相关通知。", default="ack"),
    _ack("ack", "收到请按1。", "acknowledged"),
    Step("thanks", "感谢收听，再见。"),
])
STREET_APP = Script(name="街镇应用", start="notice", opt_out_key="9", steps=[
    Step("notice", "您好，这里是长宁区街道（镇）服务通知，请留意社区公告。", default="ack"),
    _ack("ack", "收到请按1，不再接收请按9。", "acknowledged"),
    Step("thanks", "感谢收听，再见。"),
])
SCRIPTS: dict[str, Script] = {**DEFAULT_SCRIPTS, "emergency": EMERGENCY, "duty_check": DUTY_CHECK,
                              "iot_alert": IOT_ALERT, "notice": NOTICE, "street_app": STREET_APP}
DEFAULT_PRIORITY = {"emergency": "highest", "iot_alert": "high"}


@dataclass
class Template:
    scenario: str
    label: str
    script: Script | None
    windows: tuple[Window, ...]
    retry_policy: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    max_attempts: int = 3
    priority: str = "normal"
    caller_id: str = ""
    line_group: str = ""
    triggers: dict[str, Any] = field(default_factory=dict)
    customised: bool = False
    public_safety: bool = False
    updated_by: str = ""
    updated_at: Any = None


def default(scenario: str) -> Template:
    sc = SCENARIOS.get(scenario)
    if sc is None:
        raise Invalid(f"未知场景 {scenario!r}", allowed=list(SCENARIOS))
    triggers = {k: dict(v) for k, v in TRIGGER_DEFAULTS.get(sc.code, {}).items()}
    return Template(scenario=sc.code, label=sc.label, script=SCRIPTS.get(sc.code), windows=sc.windows,
                    priority="highest" if sc.public_safety else DEFAULT_PRIORITY.get(sc.code, "normal"),
                    triggers=triggers, public_safety=sc.public_safety)


SETTINGS = ("script", "windows", "retry_policy", "max_attempts", "priority", "caller_id", "line_group", "triggers")


def _row(session: Session, scenario: str) -> ScenarioTemplate | None:
    return session.get(ScenarioTemplate, scenario)


def _customised(row: ScenarioTemplate | None) -> bool:
    return row is not None and any(getattr(row, k) is not None for k in SETTINGS)


def effective(session: Session, scenario: str) -> Template:
    """The scenario's template as configured: the stored settings over the code defaults."""
    t = default(scenario)
    row = _row(session, scenario)
    if row is None:
        return t
    if row.script is not None:
        t.script = Script.from_dict(row.script)
    if row.windows is not None:
        t.windows = parse_windows(row.windows)
    if row.retry_policy is not None:
        t.retry_policy = dict(row.retry_policy)
    if row.max_attempts is not None:
        t.max_attempts = row.max_attempts
    if row.priority is not None:
        t.priority = row.priority
    if row.caller_id is not None:
        t.caller_id = row.caller_id
    if row.line_group is not None:
        t.line_group = row.line_group
    if row.triggers is not None:
        for name, conf in row.triggers.items():
            t.triggers[name] = {**t.triggers.get(name, {}), **conf}
    if t.public_safety:  # whatever is stored: a public-safety broadcast must go out at once
        t.windows, t.priority = (), "highest"
    t.customised, t.updated_by, t.updated_at = _customised(row), row.updated_by, row.updated_at
    return t


def list_templates(session: Session) -> list[Template]:
    return [effective(session, code) for code in SCENARIOS]


# -- validation ----------------------------------------------------------------------------
def _hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def parse_windows(value: Any) -> tuple[Window, ...]:
    """[["09:00","12:00"], …] → sorted (start, end) pairs; refuses bad times and overlaps."""
    if not isinstance(value, list | tuple):
        raise Invalid("呼叫时段格式错误：应为 [[\"09:00\",\"12:00\"], …]")
    out: list[Window] = []
    for w in value:
        if (not isinstance(w, list | tuple) or len(w) != 2
                or not all(isinstance(x, str) and _HHMM.match(x) for x in w)):
            raise Invalid(f"呼叫时段 {w!r} 格式错误：应为 [\"HH:MM\", \"HH:MM\"]")
        a, b = _hhmm(w[0]), _hhmm(w[1])
        if a >= b:
            raise Invalid(f"呼叫时段 {w[0]}–{w[1]} 的开始须早于结束")
        out.append((a, b))
    out.sort()
    for (_, end), (start, _) in pairwise(out):
        if start < end:
            raise Invalid(f"呼叫时段重叠：{start:%H:%M} 开始的时段与到 {end:%H:%M} 结束的时段重叠")
    return tuple(out)


def windows_json(windows: tuple[Window, ...]) -> list[list[str]]:
    return [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in windows]


def placeholders(script: Script) -> set[str]:
    names: set[str] = set()
    for s in script.steps:
        for text in (s.prompt, s.reprompt):
            try:
                names |= {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                raise Invalid(f"步骤 {s.id}：提示语中的花括号不成对（{exc}）") from exc
    return names


def check_script(scenario: str, data: Any) -> Script:
    """A script JSON for this scenario, or Invalid listing the problems (CALL-1 script editor)."""
    if isinstance(data, Script):
        data = data.to_dict()
    if not isinstance(data, dict):
        raise Invalid("话术应为 JSON 对象")
    script = Script.from_dict(data)
    names = placeholders(script)
    if scenario == "emergency":
        if names - {"message"}:
            raise Invalid(f"话术中的占位符 {sorted(names - {'message'})} 无法填充；应急广播只支持 {{message}}")
        if "message" not in names:
            raise Invalid("应急指挥话术须包含 {message}（广播内容在此处播放）")
    elif names:
        raise Invalid(f"本场景的话术不支持占位符 {sorted(names)}：外呼时会原样播放")
    return script


def check_triggers(scenario: str, value: Any) -> dict[str, Any]:
    allowed = TRIGGER_DEFAULTS.get(scenario, {})
    if not isinstance(value, dict):
        raise Invalid("触发设置应为 JSON 对象")
    out: dict[str, Any] = {}
    for name, conf in value.items():
        if name not in allowed:
            raise Invalid(f"场景「{SCENARIOS[scenario].label}」没有触发方式 {name!r}", allowed=list(allowed))
        if not isinstance(conf, dict):
            raise Invalid(f"触发 {name} 的设置应为 JSON 对象")
        unknown = set(conf) - set(allowed[name])
        if unknown:
            raise Invalid(f"触发 {name} 没有设置项 {sorted(unknown)}", allowed=list(allowed[name]))
        if not isinstance(conf.get("enabled", False), bool):
            raise Invalid(f"触发 {name}：enabled 应为 true 或 false")
        for key in ("delay_min", "minutes"):
            if key in conf and (not isinstance(conf[key], int) or isinstance(conf[key], bool)
                                or not 0 <= conf[key] <= 7 * 24 * 60):
                raise Invalid(f"触发 {name}：{key} 应为 0–10080 的整数（分钟）")
        if "min_severity" in conf and conf["min_severity"] not in SEVERITIES:
            raise Invalid(f"触发 {name}：min_severity 应为 {'、'.join(SEVERITIES)} 之一")
        if "team" in conf and not isinstance(conf["team"], str):
            raise Invalid(f"触发 {name}：team 应为值班组编码")
        out[name] = dict(conf)
    return out


def check_retry(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise Invalid("重试策略应为 {结果: 间隔分钟}")
    for result, minutes in value.items():
        if result not in RETRY_RESULTS:
            raise Invalid(f"重试策略：结果 {result!r} 不会重试", allowed=list(RETRY_RESULTS))
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes < 0:
            raise Invalid(f"重试间隔无效：{result}={minutes!r}（应为不小于 0 的分钟数）")
    return dict(value)


# -- changes -------------------------------------------------------------------------------
_KEEP: Any = object()  # "leave this setting as it is"; None means "back to the code default"


def update(session: Session, scenario: str, *, script: Any = _KEEP, windows: Any = _KEEP, retry_policy: Any = _KEEP,
           max_attempts: Any = _KEEP, priority: Any = _KEEP, caller_id: Any = _KEEP, line_group: Any = _KEEP,
           triggers: Any = _KEEP, actor: str) -> Template:
    """Change a scenario's template (CALL-1). Only the settings given change; None puts one back
    to the code default. Everything is validated first; the row is audited (Audited)."""
    sc = default(scenario)
    values: dict[str, Any] = {}
    if script is not _KEEP:
        values["script"] = None if script is None else check_script(scenario, script).to_dict()
    if windows is not _KEEP:
        if windows is not None:
            wins = parse_windows(windows)
            if sc.public_safety and wins:
                raise Invalid("应急指挥是公共安全广播，不设呼叫时段：广播须随时立即送达")
            values["windows"] = windows_json(wins)
        else:
            values["windows"] = None
    if retry_policy is not _KEEP:
        values["retry_policy"] = None if retry_policy is None else check_retry(retry_policy)
    if max_attempts is not _KEEP:
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
                                         or not 1 <= max_attempts <= MAX_ATTEMPTS):
            raise Invalid(f"最大呼叫次数应为 1–{MAX_ATTEMPTS}")
        values["max_attempts"] = max_attempts
    if priority is not _KEEP:
        from cityops.callout.campaigns import (
            PRIORITIES,  # lazily: campaigns imports templates
        )

        if priority is not None and priority not in PRIORITIES:
            raise Invalid(f"未知优先级 {priority!r}", allowed=list(PRIORITIES))
        if sc.public_safety and priority not in (None, "highest"):
            raise Invalid("应急指挥是公共安全广播，优先级固定为最高")
        values["priority"] = priority
    if caller_id is not _KEEP:
        if caller_id is not None and caller_id != "" and not _CALLER_ID.match(str(caller_id)):
            raise Invalid("主叫号码只能是 3–20 位数字")
        values["caller_id"] = caller_id
    if line_group is not _KEEP:
        if line_group is not None and line_group != "" and not _LINE_GROUP.match(str(line_group)):
            raise Invalid("线路组名称只能含字母、数字、下划线、点和连字符，最长 32 位")
        values["line_group"] = line_group
    if triggers is not _KEEP:
        values["triggers"] = None if triggers is None else check_triggers(scenario, triggers)
    row = _row(session, scenario)
    if row is None:
        row = ScenarioTemplate(scenario=scenario)
        session.add(row)
    for k, v in values.items():
        setattr(row, k, v)
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()
    return effective(session, scenario)


def reset(session: Session, scenario: str, *, actor: str = "") -> Template:
    """Back to the code defaults (the row goes; the deletion is in the audit chain)."""
    default(scenario)
    row = _row(session, scenario)
    if row is not None:
        session.delete(row)
        session.flush()
    return effective(session, scenario)
