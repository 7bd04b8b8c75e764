"""Voice-call hook (IOT-5 / OPS-3): call requests POSTed to the simulated AI outbound-call
system, retryable vs permanent errors, masked phone numbers."""

from __future__ import annotations

import logging

import pytest

from cityops.notify import Notification, Recipient, registry
from cityops.notify.voice import script
from cityops.sim.notify import NotifySim, free_port, serve

PHONE = "13812345678"


@pytest.fixture(scope="module")
def sim_url():
    sim = NotifySim(voice_token="call-token", slow_s=1.0)
    with serve(sim) as url:
        yield sim, url


@pytest.fixture
def sim(sim_url):
    sim = sim_url[0]
    sim.voice.clear()
    sim._failures["voice"].clear()
    return sim


@pytest.fixture
def settings(sim_url):
    return {"url": sim_url[1] + "/voice/calls", "token": "call-token", "timeout_s": 0.5}


def note(**kw) -> Notification:
    base = dict(title="燃气泄漏告警", text="延安西路某小区燃气浓度超标，请值班长确认处置。", severity="critical",
                dedup_key="gas-9",
                recipients=[Recipient("值班长", phone=PHONE), Recipient("副值班长", phone="+86 139 0000 1111"),
                            Recipient("座机", phone="021-62345678"), Recipient("只有邮箱", email="a@b.cn")])
    base.update(kw)
    return Notification(**base)


def test_call_request_round_trip(sim, settings):
    result = registry.get("voice").send(note(), settings)
    assert result.ok, result.error
    [got] = sim.voice
    assert got["authorization"] == "Bearer call-token"
    assert got["request_id"] == "gas-9" and got["severity"] == "critical"
    assert got["callees"] == [{"name": "值班长", "phone": PHONE}, {"name": "副值班长", "phone": "13900001111"}]
    assert got["script"] == "紧急通知：燃气泄漏告警。延安西路某小区燃气浓度超标，请值班长确认处置。"
    assert result.provider_message_id == got["call_id"]
    assert result.detail["rejected"] == ["021****5678"]


def test_script_is_capped():
    s = script(note(text="字" * 1000), max_chars=100)
    assert len(s) == 100 and s.endswith("…")


def test_wrong_token_is_permanent(sim, settings):
    result = registry.get("voice").send(note(), {**settings, "token": "nope"})
    assert not result.ok and not result.retryable and result.status_code == 401
    assert sim.voice == []


@pytest.mark.parametrize("mode", ["rate_limit", "5xx", "timeout"])
def test_temporary_failures_are_retryable(sim, settings, mode):
    sim.fail("voice", mode)
    result = registry.get("voice").send(note(), settings)
    assert not result.ok and result.retryable
    assert registry.get("voice").send(note(), settings).ok


def test_unreachable_is_retryable():
    result = registry.get("voice").send(note(), {"url": f"http://127.0.0.1:{free_port()}/voice", "timeout_s": 0.5})
    assert not result.ok and result.retryable


def test_no_callee_is_permanent(sim, settings):
    result = registry.get("voice").send(note(recipients=[Recipient("座机", phone="021-62345678")]), settings)
    assert not result.ok and not result.retryable and sim.voice == []


def test_phone_numbers_masked_in_logs(sim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert registry.get("voice").send(note(), settings).ok
    sim.fail("voice", "5xx")
    assert not registry.get("voice").send(note(), settings).ok
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in logged and "13900001111" not in logged and "62345678" not in logged
    assert "138****5678" in logged
