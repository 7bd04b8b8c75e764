"""The SIP telephony adapter against sipp as the gateway (CALL-1 interactive dialogue and result
normalisation, CALL-2 transcript): key presses drive a two-step script, silence re-prompts, the
callee's own BYE ends the dialogue, transfer is announced, and busy / no answer / power off /
suspended / rejected / invalid finals come back normalised with an empty transcript.

Like tests/callout/test_sip.py: sipp missing fails in CI and skips elsewhere; the DTMF scenarios
replay RFC 4733 pcaps through a raw socket and need root."""

from __future__ import annotations

import math
import os
import struct
from datetime import UTC, datetime

import pytest

from cityops.callout import g711
from cityops.callout.lines import GatewayTarget
from cityops.callout.script import Script, Step
from cityops.callout.sip_telephony import TRANSFER_PROMPT, SipTelephony, dial_string
from tests.callout import test_sip
from tests.callout.test_sip import DTMF_PCAP, _need

sipp = test_sip.sipp  # the sipp-as-gateway fixture

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
NUMBER = "+8613800138000"

TWO_STEPS = Script(name="两步", start="ask", steps=[
    Step("ask", "满意请按1，不满意请按2。", keys={"1": "满意", "2": "不满意"},
         branches={"满意": "confirm", "不满意": "confirm"}, default="bye", retries=1,
         reprompt="请再按一次。", record="satisfaction"),
    Step("confirm", "确认请按2。", keys={"2": "确认"}, branches={"确认": "thanks"}, default="bye", retries=0,
         record="confirmed"),
    Step("thanks", "谢谢，再见。"),
    Step("bye", "未收到按键，再见。"),
])

TRANSFER = Script(name="转人工", start="ask", steps=[
    Step("ask", "转人工请按1。", keys={"1": "转人工"}, branches={"转人工": "transfer"}, default="hangup")])


def _tone(seconds: float) -> bytes:
    n = int(8000 * seconds)
    return b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(n))


class Prompts:
    """Short tones instead of espeak-ng: keeps the calls quick; records what was rendered."""

    def __init__(self, seconds: float = 0.3):
        self.pcm = _tone(seconds)
        self.rendered: list[tuple[str, str]] = []

    def __call__(self, text: str, codec: str) -> bytes:
        self.rendered.append((text, codec))
        return g711.ENCODERS[codec](self.pcm)


def _gateway(port: int, **kw) -> GatewayTarget:
    return GatewayTarget(id=1, name="gw1", host="127.0.0.1", port=port, ports=4, **kw)


def _sip(prompts=None, **kw) -> SipTelephony:
    kw.setdefault("step_timeout_s", 0.6)
    kw.setdefault("ring_timeout_s", 10)
    kw.setdefault("max_call_s", 20)
    return SipTelephony(targets=lambda s, g: [], prompts=prompts or Prompts(), **kw)


def _need_dtmf():
    _need(DTMF_PCAP.exists(), f"{DTMF_PCAP} (sip-tester) is missing")
    _need(os.geteuid() == 0, "sipp replays the DTMF pcaps through a raw socket, which needs root")


def test_key_presses_drive_a_two_step_script(sipp):
    _need_dtmf()
    port, finish = sipp("answered_two_keys.xml")
    prompts = Prompts()
    tel = _sip(prompts, step_timeout_s=4)
    res, tr = tel.dial(NUMBER, caller_id="02112345", script=TWO_STEPS, clock=NOW, gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out  # INVITE, ACK, then our BYE after the last prompt
    assert (res.result, res.sip_code, res.dtmf, res.hangup_by) == ("answered", 200, "12", "local")
    assert [(t.step, t.answer_dtmf, t.matched) for t in tr.turns] == [
        ("ask", "1", "满意"), ("confirm", "2", "确认"), ("thanks", "", None)]
    assert tr.recorded == {"satisfaction": "满意", "confirmed": "确认"} and tr.outcome == "hangup"
    assert {c for _, c in prompts.rendered} == {"PCMA"}  # warmed before dialling, played in the answered codec
    assert ("谢谢，再见。", "PCMA") in prompts.rendered


def test_silence_reprompts_then_takes_the_default(sipp):
    port, finish = sipp("answered_silent.xml")
    res, tr = _sip().dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW, gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out
    assert res.result == "answered" and res.dtmf == ""
    assert [(t.step, t.retry, t.prompt) for t in tr.turns] == [
        ("ask", 0, "满意请按1，不满意请按2。"), ("ask", 1, "请再按一次。"), ("bye", 0, "未收到按键，再见。")]
    assert tr.outcome == "hangup" and tr.recorded == {}
    assert 2 * 0.6 < res.duration_s < 8  # two waits for a key, three prompts


def test_callee_hangup_ends_the_dialogue(sipp):
    port, finish = sipp("answered_remote_bye.xml")
    res, tr = _sip(step_timeout_s=5).dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW,
                                          gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out  # sipp got our 200 for its BYE
    assert res.result == "answered" and res.hangup_by == "remote"
    assert tr.outcome == "callee_hangup" and [t.step for t in tr.turns] == ["ask"]
    assert 0.9 < res.duration_s < 4


def test_transfer_is_announced_then_hung_up(sipp):
    _need_dtmf()
    port, finish = sipp("answered_dtmf.xml")
    prompts = Prompts()
    res, tr = _sip(prompts, step_timeout_s=4).dial(NUMBER, caller_id="", script=TRANSFER, clock=NOW,
                                                   gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out
    assert res.result == "answered" and tr.outcome == "transfer" and res.dtmf == "1"
    assert prompts.rendered[-1] == (TRANSFER_PROMPT, "PCMA")


def test_digest_credentials_of_the_gateway_are_used(sipp):
    port, finish = sipp("auth_challenge.xml")
    one = Script(name="通知", start="n", steps=[Step("n", "通知内容。")])
    res, tr = _sip().dial(NUMBER, caller_id="02112345", script=one, clock=NOW,
                          gateway=_gateway(port, username="trunk1", password="s3cret"))
    code, out = finish()
    assert code == 0, out
    assert res.auth_used and res.result == "answered"
    assert [t.step for t in tr.turns] == ["n"] and tr.outcome == "hangup"


@pytest.mark.parametrize(("scenario", "result", "sip_code", "q850"), [
    ("busy_486.xml", "busy", 486, 17),
    ("noanswer_480.xml", "no_answer", 480, 19),
    ("poweroff_480.xml", "power_off", 480, 20),
    ("suspended_403.xml", "suspended", 403, 50),
    ("rejected_603.xml", "rejected", 603, None),
    ("invalid_404.xml", "invalid_number", 404, 1),
])
def test_unanswered_calls_are_normalised(sipp, scenario, result, sip_code, q850):
    port, finish = sipp(scenario)
    res, tr = _sip().dial(NUMBER, caller_id="02112345", script=TWO_STEPS, clock=NOW, gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out
    assert (res.result, res.sip_code, res.q850_cause) == (result, sip_code, q850)
    assert tr.turns == [] and tr.outcome == "not_answered"


def test_ring_timeout_is_no_answer(sipp):
    port, finish = sipp("ring_timeout.xml")
    res, tr = _sip(ring_timeout_s=1).dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW,
                                          gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out
    assert (res.result, res.sip_code) == ("no_answer", 487) and tr.turns == []


def test_tts_failure_is_raised_before_dialling():
    def broken(text, codec):
        raise RuntimeError("espeak-ng missing")

    tel = _sip(broken)
    with pytest.raises(RuntimeError, match="espeak"):
        tel.dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW, gateway=_gateway(9))  # nothing listens


def test_dial_needs_a_gateway_and_dials_national_format():
    with pytest.raises(ValueError):
        _sip().dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW)
    assert dial_string("+8613800138000") == "13800138000"
    assert dial_string("+862112345678") == "02112345678"
    assert dial_string("+85221234567") == "0085221234567"


def test_real_prompts_come_from_the_voice_cache(tmp_path):
    import shutil

    from cityops.callout import voice

    _need(shutil.which(voice.ESPEAK) is not None, "espeak-ng is not installed")
    tel = SipTelephony(targets=lambda s, g: [], var_dir=tmp_path)
    data = tel._audio("请按1。", "PCMU")
    assert data and voice.cache_path("请按1。", "PCMU", tmp_path).read_bytes() == data


def test_maximum_call_length_cuts_the_dialogue(sipp):
    port, finish = sipp("answered_silent.xml")
    res, tr = _sip(step_timeout_s=10, max_call_s=1.5).dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW,
                                                           gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out  # still hung up with BYE
    assert res.result == "answered" and res.hangup_by == "local" and 1.4 <= res.duration_s < 3
    assert tr.outcome == "hangup" and tr.turns == []  # no answer was complete when the call was cut


def test_a_failing_dialogue_still_hangs_up_then_raises(sipp):
    port, finish = sipp("answered_silent.xml")
    calls = []

    def flaky(text, codec):
        calls.append(text)
        if len(calls) > len(TWO_STEPS.steps) + 1:  # warm-up passes, the first prompt in the call fails
            raise OSError("prompt cache unreadable")
        return b"\xd5" * 800

    with pytest.raises(OSError, match="prompt cache"):
        _sip(flaky).dial(NUMBER, caller_id="", script=TWO_STEPS, clock=NOW, gateway=_gateway(port))
    code, out = finish()
    assert code == 0, out  # sipp got our BYE before the error came out
