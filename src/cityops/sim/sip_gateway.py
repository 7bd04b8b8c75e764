"""A simulated E1/FXO voice gateway (SMG1000-D40-like) for CALL-1/CALL-3 tests and the demo: an
asyncio UDP SIP UAS on 127.0.0.1, run in a thread.

- OPTIONS → 200 OK (nothing at all while `down` is set: a gateway that is off).
- INVITE → 100 Trying, 180 Ringing, 200 OK with an SDP answer (PCMA or PCMU as offered, plus
  telephone-event/101); the 200 is retransmitted until the ACK. After the ACK the gateway sends
  the digits scripted for the called number as RFC 4733 events, then hangs up (BYE) after
  `hangup_after_s`, or answers the caller's BYE.
- Scripted failures per called number: `Script(code=486)` (486, 480, 404, 603, 503 …), with a
  Q.850 `Reason` header; `Script(ring_only=True)` rings until the caller's CANCEL (→ 487).
- All ports busy (`ports` calls up) → 503 with Q.850 cause 34.
- Optional HTTP status page (`http=True`): GET /status → JSON with model, ports in use, uptime.

    sim = SipGatewaySim(scripts={"13900000001": Script(dtmf="1")})
    with serve(sim) as gw:                 # gw.host, gw.port, gw.status_url
        place_call_sync(gw.host, gw.port, "13900000001")
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from cityops.callout.sip import message

Q850 = {486: 17, 480: 19, 404: 1, 603: 21, 503: 34, 408: 18}
REASONS = {486: "Busy Here", 480: "Temporarily Unavailable", 404: "Not Found", 603: "Decline",
           503: "Service Unavailable", 403: "Forbidden", 408: "Request Timeout", 487: "Request Terminated"}
_DTMF = "0123456789*#ABCD"


@dataclass
class Script:
    """What the gateway does for one called number."""

    code: int = 200  # final response; 200 = answer
    dtmf: str = ""  # digits "pressed" by the callee after answering (RFC 4733)
    ring_s: float = 0.05  # 180 → final
    hangup_after_s: float | None = None  # None: the sim's default
    ring_only: bool = False  # never answer; wait for CANCEL


@dataclass
class Served:
    host: str
    port: int
    status_url: str = ""


@dataclass
class _Dialog:
    call_id: str
    invite: message.SipMessage
    to_tag: str
    final: bytes = b""
    acked: bool = False
    ended: bool = False
    remote_rtp: tuple[str, int] | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)


class SipGatewaySim:
    """State is read and changed from the test thread; the UAS runs in its own loop thread."""

    def __init__(self, *, scripts: dict[str, Script] | None = None, ports: int = 30,
                 hangup_after_s: float = 2.0, model: str = "SMG1000-D40", http: bool = False,
                 dtmf_delay_s: float = 0.2):
        self.scripts = dict(scripts or {})
        self.ports, self.hangup_after_s, self.model, self.http = ports, hangup_after_s, model, http
        self.dtmf_delay_s = dtmf_delay_s
        self.down = False  # ignore everything: a gateway that lost power or network
        self.received: list[str] = []  # start lines, in order
        self.calls: list[dict[str, Any]] = []  # one per INVITE: number, code, ended_by
        self.options = 0
        self.started = time.time()
        self._dialogs: dict[str, _Dialog] = {}
        self._lock = threading.Lock()
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self.host, self.port, self.rtp_port = "127.0.0.1", 0, 0

    # -- status ------------------------------------------------------------------------------
    @property
    def in_use(self) -> int:
        return sum(1 for d in self._dialogs.values() if not d.ended and (d.acked or not d.final))

    def status(self) -> dict[str, Any]:
        return {"model": self.model, "ports_total": self.ports, "ports_in_use": self.in_use,
                "uptime_s": int(time.time() - self.started), "calls_total": len(self.calls),
                "e1": [{"span": 1, "state": "down" if self.down else "up"}]}

    # -- SIP ---------------------------------------------------------------------------------
    def _send(self, data: bytes, addr) -> None:
        if self._sip is not None:
            self._sip.sendto(data, addr)

    def _response(self, req: message.SipMessage, code: int, reason: str, *, to_tag: str | None = None,
                  extra: list[tuple[str, str]] = (), body: str = "") -> bytes:
        headers = [("Via", v) for v in req.get_all("via")]
        to = req.get("to") or ""
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        headers += [("From", req.get("from") or ""), ("To", to), ("Call-ID", req.get("call-id") or ""),
                    ("CSeq", req.get("cseq") or ""), ("Server", self.model)]
        headers += list(extra)
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return message.build(f"SIP/2.0 {code} {reason}", headers, body)

    def _request(self, d: _Dialog, method: str, cseq: int) -> bytes:
        inv = d.invite
        contact = message.contact_uri(inv.get("contact")) or inv.start_line.split()[1]
        # In-dialog request from the callee: From/To swap.
        headers = [("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{secrets.token_hex(8)}"),
                   ("Max-Forwards", "70"), ("From", f"{inv.get('to')};tag={d.to_tag}"), ("To", inv.get("from") or ""),
                   ("Call-ID", d.call_id), ("CSeq", f"{cseq} {method}")]
        return message.build(f"{method} {contact} SIP/2.0", headers)

    def datagram(self, data: bytes, addr) -> None:
        if self.down:
            return
        msg = message.parse(data)
        if msg is None:
            return
        with self._lock:
            self.received.append(msg.start_line)
        if msg.is_response:  # the answer to our BYE
            return
        method = msg.method
        if method == "OPTIONS":
            self.options += 1
            self._send(self._response(msg, 200, "OK", to_tag=secrets.token_hex(4),
                                      extra=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")]), addr)
        elif method == "INVITE":
            self._invite(msg, addr)
        elif method == "ACK":
            d = self._dialogs.get(msg.get("call-id") or "")
            if d is not None and not d.acked:
                d.acked = True
                if d.final.startswith(b"SIP/2.0 200"):
                    d.tasks.append(asyncio.get_running_loop().create_task(self._in_call(d, addr)))
        elif method == "CANCEL":
            self._send(self._response(msg, 200, "OK"), addr)
            d = self._dialogs.get(msg.get("call-id") or "")
            if d is not None and not d.final:
                d.final = self._response(d.invite, 487, REASONS[487], to_tag=d.to_tag)
                self._end(d, "cancel", 487)
                self._send(d.final, addr)
        elif method == "BYE":
            # Record the end before answering: the caller reads `calls` as soon as our 200 arrives.
            d = self._dialogs.get(msg.get("call-id") or "")
            if d is not None:
                self._end(d, "caller")
            self._send(self._response(msg, 200, "OK"), addr)
        else:
            self._send(self._response(msg, 405, "Method Not Allowed"), addr)

    def _end(self, d: _Dialog, by: str, code: int | None = None) -> None:
        if d.ended:
            return
        d.ended = True
        for c in self.calls:
            if c["call_id"] == d.call_id:
                c["ended_by"] = by
                if code is not None:
                    c["code"] = code

    def _invite(self, msg: message.SipMessage, addr) -> None:
        call_id = msg.get("call-id") or ""
        d = self._dialogs.get(call_id)
        if d is not None:  # a retransmission: repeat what we said last
            if d.final:
                self._send(d.final, addr)
            return
        number = msg.start_line.split()[1].removeprefix("sip:").split("@")[0]
        busy = self.in_use >= self.ports
        d = _Dialog(call_id, msg, secrets.token_hex(4))
        self._dialogs[call_id] = d
        script = self.scripts.get(number, Script())
        code = 503 if busy else script.code
        self.calls.append({"call_id": call_id, "number": number, "code": code, "ended_by": "",
                           "from": msg.get("from") or ""})
        self._send(self._response(msg, 100, "Trying"), addr)
        d.tasks.append(asyncio.get_running_loop().create_task(self._ring(d, script, code, addr)))

    async def _ring(self, d: _Dialog, script: Script, code: int, addr) -> None:
        if code != 503:
            self._send(self._response(d.invite, 180, "Ringing", to_tag=d.to_tag), addr)
        if script.ring_only:
            return  # until CANCEL
        await asyncio.sleep(script.ring_s)
        if d.ended or self.down:
            return
        if code >= 300:
            cause = Q850.get(code)
            extra = [("Reason", f'Q.850;cause={cause};text="sim"')] if cause else []
            d.final = self._response(d.invite, code, REASONS.get(code, "Error"), to_tag=d.to_tag, extra=extra)
            self._end(d, "gateway")
            self._send(d.final, addr)
            return
        answer = self._sdp_answer(d)
        if answer is None:
            d.final = self._response(d.invite, 488, "Not Acceptable Here", to_tag=d.to_tag)
            self._send(d.final, addr)
            self._end(d, "gateway", 488)
            return
        d.final = self._response(d.invite, 200, "OK", to_tag=d.to_tag, body=answer,
                                 extra=[("Contact", f"<sip:gw@{self.host}:{self.port}>")])
        interval = 0.5
        for _ in range(7):  # RFC 3261 §13.3.1.4: retransmit the 2xx until the ACK
            if d.acked or d.ended or self.down:
                return
            self._send(d.final, addr)
            await asyncio.sleep(interval)
            interval = min(interval * 2, 4.0)
        self._end(d, "no_ack")

    def _sdp_answer(self, d: _Dialog) -> str | None:
        offer = d.invite.body
        ip, port, pts = None, 0, []
        for line in offer.splitlines():
            if line.startswith("c=") and len(line.split()) >= 3:
                ip = line.split()[2]
            elif line.startswith("m=audio"):
                parts = line.split()
                port, pts = int(parts[1]), [int(p) for p in parts[3:] if p.isdigit()]
        codec = next((pt for pt in pts if pt in (8, 0)), None)
        if not ip or not port or codec is None:
            return None
        d.remote_rtp = (ip, port)
        name = "PCMA" if codec == 8 else "PCMU"
        return "\r\n".join(["v=0", f"o=smg 1 1 IN IP4 {self.host}", "s=smg", f"c=IN IP4 {self.host}", "t=0 0",
                            f"m=audio {self.rtp_port} RTP/AVP {codec} 101", f"a=rtpmap:{codec} {name}/8000",
                            "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20",
                            "a=sendrecv"]) + "\r\n"

    async def _in_call(self, d: _Dialog, addr) -> None:
        number = d.invite.start_line.split()[1].removeprefix("sip:").split("@")[0]
        script = self.scripts.get(number, Script())
        await asyncio.sleep(self.dtmf_delay_s)
        ssrc, seq, ts = secrets.randbelow(2**32), secrets.randbelow(2**16), secrets.randbelow(2**31)
        for digit in script.dtmf:
            if d.ended or d.remote_rtp is None:
                break
            event = _DTMF.index(digit)
            for i, (end, dur) in enumerate([(False, 160), (False, 320), (False, 480), (True, 640), (True, 640),
                                            (True, 640)]):
                payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, dur)
                header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 101, seq & 0xFFFF, ts, ssrc)
                if self._rtp is not None:
                    self._rtp.sendto(header + payload, d.remote_rtp)
                seq += 1
                await asyncio.sleep(0.02)
            ts += 1600
            await asyncio.sleep(0.15)
        hangup = script.hangup_after_s if script.hangup_after_s is not None else self.hangup_after_s
        await asyncio.sleep(max(0.0, hangup - self.dtmf_delay_s))
        if d.ended or self.down:
            return
        self._end(d, "gateway")
        self._send(self._request(d, "BYE", 1), addr)


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, handler):
        self.handler = handler

    def datagram_received(self, data, addr):
        self.handler(data, addr)

    def error_received(self, exc):
        pass


@contextmanager
def serve(sim: SipGatewaySim, host: str = "127.0.0.1", port: int = 0) -> Iterator[Served]:
    """Run the gateway's SIP (UDP) side in a thread; with `sim.http` also its status page."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    sim.host = host

    async def start():
        sim._sip, _ = await loop.create_datagram_endpoint(lambda: _Proto(sim.datagram), local_addr=(host, port))
        sim._rtp, _ = await loop.create_datagram_endpoint(lambda: _Proto(lambda *_: None), local_addr=(host, 0))
        sim.port = sim._sip.get_extra_info("sockname")[1]
        sim.rtp_port = sim._rtp.get_extra_info("sockname")[1]

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="sip-gateway-sim", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("SIP gateway simulator did not start")
    try:
        with (_status_page(sim, host) if sim.http else nullcontext("")) as status_url:
            yield Served(host, sim.port, status_url)
    finally:
        def stop():
            for d in sim._dialogs.values():
                for t in d.tasks:
                    t.cancel()
            for t in (sim._sip, sim._rtp):
                if t is not None:
                    t.close()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(5)
        sim._sip = sim._rtp = None


@contextmanager
def _status_page(sim: SipGatewaySim, host: str) -> Iterator[str]:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from cityops.sim.serve import serve_app

    app = FastAPI()

    @app.get("/status")
    def status():
        if sim.down:
            return JSONResponse({"error": "gateway down"}, status_code=503)
        return sim.status()

    with serve_app(app, host=host, name="sip-gateway-status", lifespan="off") as url:
        yield url + "/status"
