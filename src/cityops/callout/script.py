"""Dialogue scripts for outbound calls (CALL-1, CALL-2).

A script is a tree of steps. Each step plays a prompt and expects an answer by key press
(`keys`: {"1": "满意"}) or by keyword (`keywords`, matched with `asr.KeywordMatcher`); the
answer picks a branch (next step id, "hangup" or "transfer"). No input or an unmatched answer
re-prompts up to `retries` times, then `default` is taken. The script's `opt_out_key` ends the
call at any step and opts the callee out of the scenario. `record` names what an answer records
(e.g. "satisfaction" = 满意).

`run_script` is pure: the simulator and the SIP path feed it the callee's answers and store the
returned `Transcript` as the interaction data (CALL-2)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from cityops.callout.asr import KeywordMatcher
from cityops.core.errors import Invalid

TERMINALS = ("hangup", "transfer")
DTMF = set("0123456789*#")
MAX_TURNS = 50  # guards against a loop between steps


@dataclass
class Step:
    id: str
    prompt: str
    keys: dict[str, str] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=dict)  # answer value -> step id | hangup | transfer
    default: str = "hangup"  # after no (usable) answer, or for a step that expects none
    retries: int = 1
    reprompt: str = ""
    record: str = ""  # the field the matched answer is stored under

    def answers(self) -> list[str]:
        return list(dict.fromkeys([*self.keys.values(), *self.keywords]))


@dataclass
class Script:
    name: str
    start: str
    steps: list[Step]
    opt_out_key: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        try:
            steps = [Step(**s) for s in data["steps"]]
            script = cls(name=data.get("name", ""), start=data["start"], steps=steps,
                         opt_out_key=data.get("opt_out_key", ""))
        except (KeyError, TypeError) as exc:
            raise Invalid(f"话术格式错误：{exc}") from exc
        validate(script)
        return script


def validate(script: Script) -> None:
    """Raises Invalid listing every problem: unknown targets, unreachable steps, no terminal."""
    errors: list[str] = []
    ids = [s.id for s in script.steps]
    if len(set(ids)) != len(ids):
        errors.append("步骤编号重复")
    if script.start not in ids:
        errors.append(f"起始步骤 {script.start!r} 不存在")
    if script.opt_out_key and script.opt_out_key not in DTMF:
        errors.append(f"退订按键 {script.opt_out_key!r} 无效")
    has_terminal = False
    for s in script.steps:
        for k in s.keys:
            if k not in DTMF:
                errors.append(f"步骤 {s.id}：按键 {k!r} 无效")
            if k == script.opt_out_key:
                errors.append(f"步骤 {s.id}：按键 {k} 已用于退订")
        for answer in s.branches:
            if answer not in s.answers():
                errors.append(f"步骤 {s.id}：分支 {answer!r} 不是预期回答")
        for target in [*s.branches.values(), s.default]:
            if target in TERMINALS:
                has_terminal = True
            elif target not in ids:
                errors.append(f"步骤 {s.id}：跳转目标 {target!r} 不存在")
        if s.retries < 0:
            errors.append(f"步骤 {s.id}：重试次数不能为负")
    if not has_terminal:
        errors.append("话术没有结束步骤（挂机或转人工）")
    if script.start in ids and not errors:
        seen, todo = set(), [script.start]
        while todo:
            sid = todo.pop()
            if sid in seen or sid in TERMINALS:
                continue
            seen.add(sid)
            s = script.step(sid)
            todo.extend([*s.branches.values(), s.default])
        unreachable = [i for i in ids if i not in seen]
        if unreachable:
            errors.append(f"步骤不可达：{'、'.join(unreachable)}")
    if errors:
        raise Invalid("话术校验失败：" + "；".join(errors), errors=errors)


@dataclass
class Turn:
    step: str
    prompt: str
    answer_dtmf: str = ""
    answer_text: str = ""
    matched: str | None = None
    retry: int = 0  # 0 = first prompt, 1.. = re-prompts


@dataclass
class Transcript:
    turns: list[Turn] = field(default_factory=list)
    outcome: str = "hangup"  # hangup | transfer | opt_out | callee_hangup
    recorded: dict[str, str] = field(default_factory=dict)

    @property
    def dtmf(self) -> str:
        return "".join(t.answer_dtmf for t in self.turns)


def _is_dtmf(answer: str) -> bool:
    return bool(answer) and set(answer) <= DTMF and len(answer) <= 4


def run_script(script: Script, answers: Iterable[str | None], matcher: KeywordMatcher | None = None) -> Transcript:
    """Plays the script against the callee's answers: each item is key presses ("1"), recognised
    text ("非常满意") or None (silence). Running out of answers means the callee hung up."""
    matcher = matcher or KeywordMatcher()
    it = iter(answers)
    out = Transcript()
    current = script.start
    while current not in TERMINALS:
        if len(out.turns) >= MAX_TURNS:
            out.outcome = "hangup"
            return out
        step = script.step(current)
        if not step.answers():  # an announcement: play it and move on
            out.turns.append(Turn(step.id, step.prompt))
            current = step.default
            continue
        nxt = step.default
        for attempt in range(step.retries + 1):
            prompt = step.reprompt if attempt and step.reprompt else step.prompt
            try:
                answer = next(it)
            except StopIteration:
                out.turns.append(Turn(step.id, prompt, retry=attempt))
                out.outcome = "callee_hangup"
                return out
            turn = Turn(step.id, prompt, retry=attempt)
            out.turns.append(turn)
            if answer is None or answer == "":
                continue
            if _is_dtmf(answer):
                turn.answer_dtmf = answer
                if script.opt_out_key and answer[0] == script.opt_out_key:
                    turn.matched = "opt_out"
                    out.outcome = "opt_out"
                    return out
                turn.matched = step.keys.get(answer[0])
            else:
                turn.answer_text = answer
                turn.matched = matcher.match(answer, step.answers())
            if turn.matched is not None:
                if step.record:
                    out.recorded[step.record] = turn.matched
                nxt = step.branches.get(turn.matched, step.default)
                break
        current = nxt
    out.outcome = current
    return out


HOTLINE_CALLBACK = Script(
    name="热线回访", start="ask", opt_out_key="9", steps=[
        Step("ask", "您好，这里是长宁区城市运行管理中心。您反映的问题已处理完毕，满意请按1，不满意请按2，"
                    "不再接收回访请按9。",
             keys={"1": "满意", "2": "不满意"}, keywords=["满意", "不满意"],
             branches={"满意": "thanks", "不满意": "sorry"}, default="bye", retries=2,
             reprompt="抱歉没有听清。满意请按1，不满意请按2。", record="satisfaction"),
        Step("thanks", "感谢您的评价，再见。"),
        Step("sorry", "感谢您的反馈，我们将重新处理您反映的问题，再见。"),
        Step("bye", "暂未收到您的评价，再见。"),
    ])

WORKORDER_REMINDER = Script(
    name="工单催告", start="remind", opt_out_key="", steps=[
        Step("remind", "您好，这里是长宁区城市运行管理中心。贵单位有工单已超过处置时限，请尽快处理。"
                       "已知晓请按1，需要转人工请按0。",
             keys={"1": "已知晓", "0": "转人工"}, keywords=["是"],
             branches={"已知晓": "thanks", "是": "thanks", "转人工": "transfer"}, default="hangup", retries=2,
             reprompt="请按1确认已知晓，或按0转人工。", record="acknowledged"),
        Step("thanks", "感谢配合，再见。"),
    ])

DEFAULT_SCRIPTS: dict[str, Script] = {"hotline_callback": HOTLINE_CALLBACK, "workorder_reminder": WORKORDER_REMINDER}
