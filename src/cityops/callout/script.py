"""Dialogue scripts for outbound calls (CALL-1, CALL-2).

A script is a tree of steps. Each step plays a prompt and expects an answer by key press
(`keys`: {"1": "满意"}) or by keyword (`keywords`, matched with `asr.KeywordMatcher`); the
answer picks a branch (next step id, "hangup" or "transfer"). No input or an unmatched answer
re-prompts up to `retries` times, then `default` is taken. The script's `opt_out_key` ends the
call at any step and opts the callee out of the scenario. `record` names what an answer records
(e.g. "satisfaction" = 满意).

`Dialogue` walks the tree one prompt at a time; `run_script` is pure and drives it from a list of
answers (the simulator), `sip_telephony` drives it from a live call's key presses. Both return
the `Transcript` the dialer stores as the interaction data (CALL-2)."""

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


class Dialogue:
    """One walk through a script, step by step (CALL-1, CALL-2): `prompt` is what to play now,
    `answer(value)` takes the callee's answer to it (key presses, recognised text, or None for
    no input) and moves on. `run_script` and the SIP call both drive it, so the simulator and a
    real call follow the same rules."""

    def __init__(self, script: Script, matcher: KeywordMatcher | None = None):
        self.script, self.matcher = script, matcher or KeywordMatcher()
        self.transcript = Transcript()
        self.current = script.start
        self.attempt = 0
        self.done = False

    @property
    def step(self) -> Step:
        return self.script.step(self.current)

    @property
    def prompt(self) -> str:
        step = self.step
        return step.reprompt if self.attempt and step.reprompt else step.prompt

    @property
    def expects_answer(self) -> bool:
        return bool(self.step.answers())

    def answer(self, value: str | None) -> None:
        """Record the turn for the current prompt; an announcement takes None and moves on."""
        if self.done:
            raise RuntimeError("dialogue already ended")
        step = self.step
        turn = Turn(step.id, self.prompt, retry=self.attempt)
        self.transcript.turns.append(turn)
        if not step.answers():
            self._go(step.default)
            return
        if value:
            if _is_dtmf(value):
                turn.answer_dtmf = value
                if self.script.opt_out_key and value[0] == self.script.opt_out_key:
                    turn.matched = "opt_out"
                    self._end("opt_out")
                    return
                turn.matched = step.keys.get(value[0])
            else:
                turn.answer_text = value
                turn.matched = self.matcher.match(value, step.answers())
        if turn.matched is not None:
            if step.record:
                self.transcript.recorded[step.record] = turn.matched
            self._go(step.branches.get(turn.matched, step.default))
        elif self.attempt < step.retries:
            self.attempt += 1
            self._check_turns()
        else:
            self._go(step.default)

    def callee_hung_up(self) -> None:
        """The callee hung up during the current prompt."""
        if not self.done:
            self.transcript.turns.append(Turn(self.current, self.prompt, retry=self.attempt))
            self._end("callee_hangup")

    def stop(self, outcome: str = "hangup") -> None:
        """We ended the call before the script did (maximum call length)."""
        if not self.done:
            self._end(outcome)

    def _go(self, target: str) -> None:
        self.current, self.attempt = target, 0
        if target in TERMINALS:
            self._end(target)
        else:
            self._check_turns()

    def _check_turns(self) -> None:
        if len(self.transcript.turns) >= MAX_TURNS:
            self._end("hangup")

    def _end(self, outcome: str) -> None:
        self.transcript.outcome, self.done = outcome, True


def run_script(script: Script, answers: Iterable[str | None], matcher: KeywordMatcher | None = None) -> Transcript:
    """Plays the script against the callee's answers: each item is key presses ("1"), recognised
    text ("非常满意") or None (silence). Running out of answers means the callee hung up."""
    d = Dialogue(script, matcher)
    it = iter(answers)
    while not d.done:
        if not d.expects_answer:  # an announcement: play it and move on
            d.answer(None)
            continue
        try:
            value = next(it)
        except StopIteration:
            d.callee_hung_up()
            break
        d.answer(value)
    return d.transcript


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
