"""SIP user agent (CALL-1 result normalisation, CALL-3 line test calls) against sipp as the
gateway on 127.0.0.1, plus unit tests for RFC 4733 DTMF, SDP, digest and SIP parsing.

DTMF: sipp itself sends the key press, replaying the Debian sip-tester pcap
/usr/share/sip-tester/dtmf_2833_1.pcap (RFC 4733, PT 101, three end packets) to the RTP address
of our SDP offer. sipp replays pcaps through a raw socket, so that test needs root (CI runs as
root). In CI a missing sipp fails; elsewhere the sipp tests are skipped with the reason.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cityops.callout.sip import message, place_call_sync
from cityops.callout.sip.cli import test_call as cli_test_call
from cityops.callout.sip.digest import authorization, parse_challenge
from cityops.callout.sip.result import classify, q850_from_reason
from cityops.callout.sip.rtp import (
    DtmfCollector,
    build_packet,
    parse_dtmf,
    parse_packet,
    prompt_frames,
)
from cityops.callout.sip.sdp import build_offer, parse_answer
from tests.conftest import IN_CI

SCENARIOS = Path(__file__).parent / "sipp"
DTMF_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
NUMBER = "13800138000"


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(f"{reason} (outside CI)")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@pytest.fixture
def sipp(tmp_path):
    """Start sipp as the UAS for one call (-m 1); returns (port, finish) where finish() waits for
    sipp to exit and returns (exit code, output)."""
    exe = shutil.which("sipp")
    _need(exe is not None, "sipp (Debian package sip-tester) is not installed")
    procs: list[subprocess.Popen] = []

    def start(scenario: str):
        port, media = _free_udp_port(), _free_udp_port()
        proc = subprocess.Popen(
            [exe, "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
             "-mi", "127.0.0.1", "-mp", str(media), "-m", "1", "-nostdin",
             "-timeout", "25s", "-timeout_error", "-trace_err"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while not _port_taken(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)

        def finish() -> tuple[int, str]:
            out, _ = proc.communicate(timeout=30)
            errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
            return proc.returncode, out[-2000:] + errors

        return port, finish

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- against sipp -----------------------------------------------------------------------------

def test_answered_call_collects_dtmf_from_rfc4733_events(sipp):
    _need(DTMF_PCAP.exists(), f"{DTMF_PCAP} (sip-tester) is missing")
    _need(os.geteuid() == 0, "sipp replays the DTMF pcap through a raw socket, which needs root")
    port, finish = sipp("answered_dtmf.xml")
    res = place_call_sync("127.0.0.1", port, NUMBER, caller_id="02112345", ring_timeout_s=10,
                          max_call_s=15, collect_dtmf=1)
    code, out = finish()
    assert code == 0, out  # sipp saw INVITE, ACK and our BYE in order
    assert res.result == "answered" and res.sip_code == 200
    assert res.dtmf == "1"  # three end packets, one digit
    assert res.early_media is True  # 183 with SDP
    assert res.hangup_by == "local"
    assert 0 < res.duration_s < 15
    assert res.final_response == "SIP/2.0 200 OK"


def test_answered_call_plays_prompt_then_hangs_up(sipp):
    _need(os.geteuid() == 0, "the scenario replays a pcap through a raw socket, which needs root")
    port, finish = sipp("answered_dtmf.xml")
    tone = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                    for i in range(8000 * 6 // 10))  # 0.6 s
    res = place_call_sync("127.0.0.1", port, NUMBER, prompt_pcm=tone, ring_timeout_s=10,
                          max_call_s=15, collect_dtmf=0)
    code, out = finish()
    assert code == 0, out
    assert res.result == "answered"
    assert 0.55 <= res.duration_s < 3  # hung up once the 30 packets of the prompt were sent


@pytest.mark.parametrize(("scenario", "result", "sip_code", "q850"), [
    ("busy_486.xml", "busy", 486, 17),
    ("noanswer_480.xml", "no_answer", 480, 19),
    ("rejected_603.xml", "rejected", 603, None),
    ("invalid_404.xml", "invalid_number", 404, 1),
])
def test_error_finals_are_normalised(sipp, scenario, result, sip_code, q850):
    port, finish = sipp(scenario)
    res = place_call_sync("127.0.0.1", port, NUMBER, ring_timeout_s=10)
    code, out = finish()
    assert code == 0, out  # sipp got our ACK for the final response
    assert (res.result, res.sip_code, res.q850_cause) == (result, sip_code, q850)
    assert res.final_response.startswith(f"SIP/2.0 {sip_code} ")
    assert res.duration_s == 0 and res.dtmf == ""


def test_ring_timeout_sends_cancel(sipp):
    port, finish = sipp("ring_timeout.xml")
    started = time.monotonic()
    res = place_call_sync("127.0.0.1", port, NUMBER, ring_timeout_s=1.0)
    elapsed = time.monotonic() - started
    code, out = finish()
    assert code == 0, out  # sipp received CANCEL and the ACK for its 487
    assert res.result == "no_answer" and res.sip_code == 487
    assert "CANCEL" in res.final_response
    assert 1.0 <= elapsed < 5


def test_digest_challenge_then_answer(sipp):
    port, finish = sipp("auth_challenge.xml")
    res = place_call_sync("127.0.0.1", port, NUMBER, username="trunk1", password="s3cret",
                          ring_timeout_s=10, collect_dtmf=0)
    code, out = finish()
    assert code == 0, out
    assert res.auth_used is True
    assert res.result == "answered" and res.sip_code == 200  # sipp verified the digest


def test_digest_with_wrong_password_is_refused(sipp):
    port, finish = sipp("auth_challenge.xml")
    res = place_call_sync("127.0.0.1", port, NUMBER, username="trunk1", password="wrong",
                          ring_timeout_s=10, collect_dtmf=0)
    code, out = finish()
    assert code == 0, out
    assert (res.result, res.sip_code) == ("rejected", 403)


def test_challenge_without_credentials_fails(sipp):
    port, _finish = sipp("auth_challenge.xml")
    res = place_call_sync("127.0.0.1", port, NUMBER, ring_timeout_s=3)
    # no second INVITE: sipp keeps waiting for it and the fixture stops it
    assert (res.result, res.sip_code, res.auth_used) == ("failed", 401, False)


def test_cli_prints_one_json_object(sipp):
    port, finish = sipp("busy_486.xml")
    out = CliRunner().invoke(cli_test_call, ["--sip", f"127.0.0.1:{port}", "--number", NUMBER,
                                         "--caller-id", "02112345", "--ring-timeout", "10"])
    code, log = finish()
    assert out.exit_code == 0, out.output
    assert code == 0, log
    data = json.loads(out.output)
    assert data["result"] == "busy" and data["sip_code"] == 486
    assert data["duration_s"] == 0 and data["dtmf"] == ""
    assert data["q850_cause"] == 17


# --- without sipp -----------------------------------------------------------------------------

def test_no_response_is_unreachable():
    port = _free_udp_port()  # nothing listens there
    started = time.monotonic()
    res = place_call_sync("127.0.0.1", port, NUMBER, ring_timeout_s=5, t1=0.05)
    assert (res.result, res.sip_code) == ("unreachable", None)
    assert res.final_response == "no response"
    assert time.monotonic() - started < 5  # timer B = 64 * T1 = 3.2 s


def test_sync_call_inside_a_running_event_loop():
    """Playwright's sync API (the browser tests) leaves a loop running in the main thread; a call
    from there must still work (asyncio.run cannot nest)."""
    import asyncio

    async def inside():
        return place_call_sync("127.0.0.1", _free_udp_port(), NUMBER, ring_timeout_s=2, t1=0.02)

    res = asyncio.run(inside())
    assert (res.result, res.final_response) == ("unreachable", "no response")


def test_suspended_and_power_off_mapping():
    """CALL-1 issue item 3: 停机 and 关机 are their own results."""
    assert classify(480, q850=20) == "power_off" and classify(503, q850=20) == "power_off"
    assert [classify(c, q850=q) for c, q in ((403, 27), (403, 29), (503, 50))] == ["suspended"] * 3
    assert classify(502, q850=27) == "unreachable"  # RFC 3398's 27 without the carrier's 403/503
    assert classify(480, reason='Q.850;cause=18;text="用户已停机"') == "suspended"
    assert classify(503, reason="SIP/2.0 503 Subscriber Suspended") == "suspended"
    assert classify(403) == "rejected" and classify(200, reason="停机") == "answered"


def test_cli_rejects_bad_target():
    out = CliRunner().invoke(cli_test_call, ["--sip", "gateway-without-port", "--number", NUMBER])
    assert out.exit_code != 0 and "HOST:PORT" in out.output


def _dtmf_packet(event: int, end: bool, ts: int, seq: int, duration: int = 800) -> bytes:
    payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
    return build_packet(101, seq, ts, 0x1234, payload)


def test_rfc4733_end_packets_are_counted_once():
    c = DtmfCollector()
    seq = 0
    for ts, event in ((1000, 5), (5000, 11), (9000, 5)):  # "5", "#", "5"
        for _ in range(4):
            c.feed(parse_packet(_dtmf_packet(event, False, ts, seq)))
            seq += 1
        for _ in range(3):  # redundant end packets
            c.feed(parse_packet(_dtmf_packet(event, True, ts, seq)))
            seq += 1
    assert c.digits == "5#5"


def test_parse_dtmf_fields():
    ev = parse_dtmf(struct.pack("!BBH", 10, 0x80 | 7, 1600))
    assert (ev.digit, ev.end, ev.volume, ev.duration) == ("*", True, 7, 1600)
    assert parse_dtmf(struct.pack("!BBH", 40, 0x80, 160)) is None  # not a DTMF event
    assert parse_dtmf(b"\x01") is None


def test_rtp_packet_roundtrip_and_prompt_frames():
    pkt = parse_packet(build_packet(8, 65535, 2**32 - 1, 42, b"\xd5" * 160, marker=True))
    assert (pkt.payload_type, pkt.seq, pkt.timestamp, pkt.ssrc, pkt.marker) == (8, 65535, 2**32 - 1, 42, True)
    assert parse_packet(b"\x00" * 8) is None
    frames = prompt_frames(b"\x00\x10" * 500, "PCMU")  # 500 samples -> 4 frames, padded
    assert len(frames) == 4 and all(len(f) == 160 for f in frames)
    assert frames[-1][-1:] == b"\xff"  # μ-law silence
    assert prompt_frames(None, "PCMA", 100) == [b"\xd5" * 160] * 5  # A-law silence


def test_sdp_offer_and_answer():
    offer = build_offer("10.20.0.5", 40000, 77)
    assert "m=audio 40000 RTP/AVP 8 0 101" in offer
    assert "a=rtpmap:101 telephone-event/8000" in offer and "c=IN IP4 10.20.0.5" in offer
    answer = parse_answer("v=0\r\nc=IN IP4 10.20.0.11\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 96\r\n"
                          "a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n")
    assert (answer.ip, answer.port, answer.codec, answer.payload_type, answer.dtmf_pt) == (
        "10.20.0.11", 30000, "PCMU", 0, 96)
    media_level = parse_answer("v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 5000 RTP/AVP 8\r\nc=IN IP4 2.2.2.2\r\n")
    assert (media_level.ip, media_level.codec, media_level.dtmf_pt) == ("2.2.2.2", "PCMA", None)
    assert parse_answer("v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 0 RTP/AVP 8\r\n") is None
    assert parse_answer("v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 5000 RTP/AVP 18\r\n") is None  # G.729 only


def test_digest_matches_rfc2617_example():
    ch = parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                         'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    value = authorization(ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "qop=auth" in value and "nc=00000001" in value and 'opaque="5ccc069c' in value
    assert parse_challenge('Basic realm="x"') == {}


def test_result_mapping_table():
    assert classify(200) == "answered"
    assert [classify(c) for c in (486, 600)] == ["busy", "busy"]
    assert [classify(c) for c in (480, 408)] == ["no_answer", "no_answer"]
    assert classify(603) == "rejected"
    assert [classify(c) for c in (404, 484)] == ["invalid_number", "invalid_number"]
    assert classify(503) == "unreachable" and classify(None) == "unreachable"
    assert classify(500) == "failed" and classify(606) == "rejected"
    assert classify(480, q850=1) == "invalid_number"  # the cause is more precise than the code
    assert q850_from_reason('Q.850;cause=17;text="User busy"') == 17
    assert q850_from_reason("SIP;cause=200") is None and q850_from_reason(None) is None


def test_sip_message_parsing():
    msg = message.parse(b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n"
                        b"t: <sip:1@h>;tag=abc\r\ni: cid\r\nCSeq: 2 INVITE\r\nl: 3\r\n\r\nxyzEXTRA")
    assert msg.is_response and msg.status == 180 and msg.cseq == (2, "INVITE")
    assert msg.to_tag == "abc" and msg.branch == "z9hG4bKx" and msg.get("call-id") == "cid"
    assert msg.body == "xyz"
    assert message.contact_uri("<sip:gw@10.0.0.1:5060>;expires=60") == "sip:gw@10.0.0.1:5060"
