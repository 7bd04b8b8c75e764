"""The SIP gateway simulator (CALL-1, CALL-3) driven by the project's own UAC (`place_call`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cityops.callout.sip.client import place_call, place_call_sync
from cityops.sim.sip_gateway import Script, SipGatewaySim, serve


@pytest.fixture(scope="module")
def gateway():
    sim = SipGatewaySim(hangup_after_s=0.6, http=True, ports=2, scripts={
        "13900000001": Script(dtmf="19"),
        "13900000002": Script(code=486), "13900000003": Script(code=480), "13900000004": Script(code=404),
        "13900000005": Script(code=603), "13900000006": Script(code=503),
        "13900000007": Script(ring_only=True), "13900000008": Script(hangup_after_s=5)})
    with serve(sim) as served:
        yield sim, served


def test_answers_with_sdp_and_scripted_dtmf(gateway):
    sim, gw = gateway
    r = place_call_sync(gw.host, gw.port, "13900000001", collect_dtmf=2, max_call_s=3)
    assert r.result == "answered" and r.sip_code == 200 and r.dtmf == "19" and r.hangup_by == "local"
    call = sim.calls[-1]
    assert call["number"] == "13900000001" and call["ended_by"] == "caller"  # our BYE was answered


def test_gateway_hangs_up_after_a_while(gateway):
    sim, gw = gateway
    r = place_call_sync(gw.host, gw.port, "13900000099", collect_dtmf=1, max_call_s=5)
    assert r.result == "answered" and r.hangup_by == "remote" and 0.4 < r.duration_s < 2
    assert sim.calls[-1]["ended_by"] == "gateway"


@pytest.mark.parametrize("number,code,result,q850", [
    ("13900000002", 486, "busy", 17), ("13900000003", 480, "no_answer", 19), ("13900000004", 404, "invalid_number", 1),
    ("13900000005", 603, "rejected", 21), ("13900000006", 503, "unreachable", 34)])
def test_scripted_failures(gateway, number, code, result, q850):
    r = place_call_sync(gateway[1].host, gateway[1].port, number)
    assert (r.sip_code, r.result, r.q850_cause) == (code, result, q850)


def test_ring_timeout_is_cancelled(gateway):
    sim, gw = gateway
    r = place_call_sync(gw.host, gw.port, "13900000007", ring_timeout_s=0.6)
    assert r.result == "no_answer" and r.sip_code == 487 and sim.calls[-1]["ended_by"] == "cancel"


def test_all_ports_busy_is_503_and_status_page_counts_them(gateway):
    _sim, gw = gateway

    async def three():
        # Two calls that stay up (4 s of prompt, the gateway hangs up after 5 s) fill both ports.
        first = [asyncio.ensure_future(place_call(gw.host, gw.port, "13900000008", collect_dtmf=0, max_call_s=6,
                                                  prompt_pcm=b"\0" * 64000)) for _ in range(2)]
        page = {}
        for _ in range(100):
            await asyncio.sleep(0.05)
            page = await asyncio.to_thread(lambda: httpx.get(gw.status_url).json())
            if page["ports_in_use"] == 2:
                break
        third = await place_call(gw.host, gw.port, "13900000001")
        return [await f for f in first], third, page

    both, third, page = asyncio.run(three())
    assert [r.result for r in both] == ["answered", "answered"]
    assert third.sip_code == 503 and third.q850_cause == 34 and third.result == "unreachable"
    assert page["ports_total"] == 2 and page["ports_in_use"] == 2 and page["model"] == "SMG1000-D40"


def test_down_gateway_is_silent(gateway):
    sim, gw = gateway
    sim.down = True
    try:
        r = place_call_sync(gw.host, gw.port, "13900000001", t1=0.05)
        assert r.result == "unreachable" and r.sip_code is None
        assert httpx.get(gw.status_url).status_code == 503
    finally:
        sim.down = False
