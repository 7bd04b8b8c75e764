"""Dialogue scripts (CALL-1, CALL-2): validation, the pure `run_script` walk (keys, keywords,
retries on no input, opt-out key, transfer) and the simulator's outcomes."""

from datetime import UTC, datetime

import pytest

from cityops.callout.script import (
    DEFAULT_SCRIPTS,
    HOTLINE_CALLBACK,
    WORKORDER_REMINDER,
    Script,
    run_script,
)
from cityops.callout.telephony import SimCall, SimTelephony
from cityops.core.errors import Invalid

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_satisfied_by_key_press():
    t = run_script(HOTLINE_CALLBACK, ["1"])
    assert t.recorded == {"satisfaction": "满意"} and t.outcome == "hangup" and t.dtmf == "1"
    assert [x.step for x in t.turns] == ["ask", "thanks"] and t.turns[0].matched == "满意"


def test_keyword_answer_with_negation():
    t = run_script(HOTLINE_CALLBACK, ["不太满意"])
    assert t.recorded == {"satisfaction": "不满意"} and t.turns[-1].step == "sorry"
    assert t.turns[0].answer_text == "不太满意" and t.turns[0].answer_dtmf == ""


def test_no_input_reprompts_then_takes_default():
    t = run_script(HOTLINE_CALLBACK, [None, "7", None])
    assert [x.retry for x in t.turns[:3]] == [0, 1, 2]
    assert t.turns[1].prompt == HOTLINE_CALLBACK.step("ask").reprompt and t.turns[1].matched is None
    assert t.turns[-1].step == "bye" and t.recorded == {}


def test_answer_on_retry_counts():
    t = run_script(HOTLINE_CALLBACK, [None, "2"])
    assert t.recorded == {"satisfaction": "不满意"} and t.turns[1].retry == 1


def test_opt_out_key_ends_the_call():
    t = run_script(HOTLINE_CALLBACK, ["9"])
    assert t.outcome == "opt_out" and t.turns[-1].matched == "opt_out" and t.recorded == {}


def test_callee_hanging_up():
    t = run_script(HOTLINE_CALLBACK, [])
    assert t.outcome == "callee_hangup" and len(t.turns) == 1


def test_transfer_branch():
    t = run_script(WORKORDER_REMINDER, ["0"])
    assert t.outcome == "transfer" and t.recorded == {"acknowledged": "转人工"}
    assert run_script(WORKORDER_REMINDER, ["是的"]).recorded == {"acknowledged": "是"}


def test_round_trip_and_defaults_validate():
    for script in DEFAULT_SCRIPTS.values():
        assert Script.from_dict(script.to_dict()) == script


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["steps"][0]["branches"].update({"满意": "nowhere"}), "跳转目标 'nowhere' 不存在"),
    (lambda d: d["steps"].append({"id": "orphan", "prompt": "x"}), "步骤不可达：orphan"),
    (lambda d: d["steps"][0]["keys"].update({"9": "满意"}), "按键 9 已用于退订"),
    (lambda d: d["steps"][0]["branches"].update({"也许": "thanks"}), "不是预期回答"),
    (lambda d: d.update(start="zzz"), "起始步骤"),
])
def test_validation_errors(change, message):
    data = HOTLINE_CALLBACK.to_dict()
    change(data)
    with pytest.raises(Invalid, match=message):
        Script.from_dict(data)


def test_a_script_without_terminal_is_refused():
    loop = {"name": "x", "start": "a", "steps": [
        {"id": "a", "prompt": "A", "keys": {"1": "y"}, "branches": {"y": "b"}, "default": "b"},
        {"id": "b", "prompt": "B", "default": "a"}]}
    with pytest.raises(Invalid, match="没有结束步骤"):
        Script.from_dict(loop)


def test_simulator_scripted_and_seeded():
    sim = SimTelephony(seed=7, scripted={"+8613900000001": SimCall(["busy", "answered"], ["2"])})
    r1, t1 = sim.dial("+8613900000001", caller_id="021", script=HOTLINE_CALLBACK, clock=NOW)
    assert (r1.result, r1.sip_code, r1.q850_cause) == ("busy", 486, 17) and t1.turns == []
    r2, t2 = sim.dial("+8613900000001", caller_id="021", script=HOTLINE_CALLBACK, clock=NOW)
    assert r2.result == "answered" and r2.dtmf == "2" and t2.recorded == {"satisfaction": "不满意"}
    assert r2.duration_s > 0

    def run(seed):
        s = SimTelephony(seed=seed)
        return [s.dial(f"+86139{i:08d}", caller_id="", script=HOTLINE_CALLBACK, clock=NOW)[0].result
                for i in range(2000)]

    a = run(1)
    assert a == run(1) and a != run(2)
    share = {r: a.count(r) / len(a) for r in set(a)}
    assert 0.65 < share["answered"] < 0.75
    assert {"no_answer", "busy", "unreachable", "invalid_number"} <= set(share)
