"""Asyncio SIP UAC over UDP for one outbound call (CALL-1, CALL-3).

INVITE with an SDP offer (PCMA, PCMU, telephone-event), retransmission per RFC 3261 timer A/B,
provisional 100/180/183 (183 with SDP = early media), digest auth on 401/407 (one retry), ACK for
every final, CANCEL after the ring timeout, then G.711 prompt playback over RTP, RFC 4733 DTMF
collection (SIP INFO `Signal=` as well), and BYE from either side. After the answer either one
prompt is played (test calls) or a dialogue coroutine drives the call through a `CallSession`
(play a prompt, wait for key presses with a timeout), which is how scripts run (CALL-1). No proxy
routing: every request goes to the gateway address given (an IP trunk), which is how the district's
SMG gateways are used.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from cityops.callout.sip import message, sdp
from cityops.callout.sip.digest import authorization, parse_challenge
from cityops.callout.sip.result import CallResult, classify, q850_from_reason
from cityops.callout.sip.rtp import (
    SAMPLES_PER_PACKET,
    DtmfCollector,
    build_packet,
    parse_packet,
    prompt_frames,
)

T1 = 0.5
BYE_WAIT_S = 4.0


class _Queue(asyncio.DatagramProtocol):
    def __init__(self, kind: str, queue: asyncio.Queue):
        self.kind, self.queue = kind, queue

    def datagram_received(self, data, addr):
        self.queue.put_nowait((self.kind, data, addr))

    def error_received(self, exc):  # ICMP errors: the retransmission timers handle them
        pass


class _Call:
    def __init__(self, loop, queue, sip_t, rtp_t, remote, *, number, target_host, target_port,
                 caller_id, username, password, prompt_pcm, ring_timeout_s, max_call_s,
                 collect_dtmf, local_ip, t1, dialogue=None):
        self.loop, self.queue, self.sip_t, self.rtp_t, self.remote = loop, queue, sip_t, rtp_t, remote
        self.local_ip, self.t1 = local_ip, t1
        self.sip_port = sip_t.get_extra_info("sockname")[1]
        self.rtp_port = rtp_t.get_extra_info("sockname")[1]
        host = f"{target_host}:{target_port}"
        self.uri = f"sip:{number}@{host}"
        user = caller_id or username or "cityops"
        self.from_hdr = f"<sip:{user}@{local_ip}>;tag={secrets.token_hex(6)}"
        self.to_hdr = f"<sip:{number}@{host}>"
        self.contact = f"<sip:{user}@{local_ip}:{self.sip_port}>"
        self.call_id = f"{secrets.token_hex(10)}@{local_ip}"
        self.cseq = 0
        self.username, self.password = username, password
        self.prompt_pcm, self.ring_timeout_s, self.max_call_s = prompt_pcm, ring_timeout_s, max_call_s
        self.collect_dtmf = 0 if dialogue else collect_dtmf
        self.dialogue = dialogue
        self.offer = sdp.build_offer(local_ip, self.rtp_port, secrets.randbelow(2**31))
        self.dtmf = DtmfCollector()
        self.dtmf_pts = {sdp.DTMF_PT}
        self.acks: dict[int, bytes] = {}  # CSeq -> ACK sent, re-sent on a retransmitted final
        self.res = CallResult(result="failed")

    # --- SIP plumbing -----------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        self.sip_t.sendto(data, self.remote)

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.local_ip}:{self.sip_port};branch={branch};rport"

    def _request(self, method: str, uri: str, cseq: int, branch: str, to: str,
                 extra: list[tuple[str, str]] = (), body: str = "") -> bytes:
        headers = [("Via", self._via(branch)), ("Max-Forwards", "70"), ("From", self.from_hdr),
                   ("To", to), ("Call-ID", self.call_id), ("CSeq", f"{cseq} {method}"),
                   ("User-Agent", "cityops-callout")]
        if method in ("INVITE",):
            headers += [("Contact", self.contact),
                        ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO")]
        headers += list(extra)
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return message.build(f"{method} {uri} SIP/2.0", headers, body)

    def _reply(self, req: message.SipMessage, code: int, reason: str) -> None:
        headers = [("Via", v) for v in req.get_all("via")]
        headers += [(k, req.get(k) or "") for k in ("From", "To", "Call-ID", "CSeq")]
        self._send(message.build(f"SIP/2.0 {code} {reason}", headers))

    def _handle_stray(self, msg: message.SipMessage) -> None:
        """Retransmitted finals get their ACK again; requests we do not expect get an answer."""
        if msg.is_response:
            num, method = msg.cseq
            if method == "INVITE" and msg.status >= 200 and num in self.acks:
                self._send(self.acks[num])
        elif msg.method == "INFO":
            for line in msg.body.splitlines():
                key, _, value = line.partition("=")
                if key.strip().lower() == "signal" and value.strip():
                    self.dtmf.digits += value.strip()[0]
            self._reply(msg, 200, "OK")
        elif msg.method in ("OPTIONS", "UPDATE"):
            self._reply(msg, 200, "OK")
        elif msg.method != "ACK":
            self._reply(msg, 481, "Call/Transaction Does Not Exist")

    def _on_rtp(self, data: bytes) -> None:
        pkt = parse_packet(data)
        if pkt and pkt.payload_type in self.dtmf_pts:
            self.dtmf.feed(pkt)

    async def _next(self, deadline: float):
        """Next SIP message for this call (RTP is consumed on the way), None at the deadline."""
        while True:
            timeout = deadline - self.loop.time()
            if timeout <= 0:
                return None
            try:
                kind, data, _addr = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                return None
            if kind == "rtp":
                self._on_rtp(data)
                if self.collect_dtmf and len(self.dtmf.digits) >= self.collect_dtmf:
                    return "dtmf"
                continue
            msg = message.parse(data)
            if msg is None or msg.get("call-id") != self.call_id:
                continue
            return msg

    # --- call phases ------------------------------------------------------------------------
    async def run(self) -> CallResult:
        auth: list[tuple[str, str]] = []
        ring_deadline = self.loop.time() + self.ring_timeout_s
        while True:
            final = await self._invite(auth, ring_deadline)
            if final is None or final == "cancelled":
                break
            code = final.status
            if code in (401, 407) and not auth and self.username and self.password:
                name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
                challenge = parse_challenge(final.get(name) or "")
                if challenge:
                    value = authorization(challenge, "INVITE", self.uri, self.username, self.password)
                    auth = [("Authorization" if code == 401 else "Proxy-Authorization", value)]
                    self.res.auth_used = True
                    continue
            self._final(final)
            if 200 <= code < 300:
                await self._talk(final)
            break
        return self.res

    def _final(self, resp: message.SipMessage) -> None:
        self.res.sip_code = resp.status
        self.res.final_response = resp.start_line
        self.res.q850_cause = q850_from_reason(resp.get("reason"))
        self.res.result = classify(resp.status, self.res.q850_cause,
                                  f"{resp.get('reason') or ''} {resp.start_line}")

    async def _invite(self, auth, ring_deadline):
        """One INVITE client transaction. Returns the final response, "cancelled" (ring timeout,
        CANCEL sent, 487 acknowledged) or None (no response at all)."""
        self.cseq += 1
        cseq, branch = self.cseq, "z9hG4bK" + secrets.token_hex(8)
        invite = self._request("INVITE", self.uri, cseq, branch, self.to_hdr, auth, self.offer)
        self._send(invite)
        start = self.loop.time()
        timer_b = start + 64 * self.t1
        interval, next_tx = self.t1, start + self.t1
        provisional = cancelled = False
        cancel, cancel_at = b"", 0.0
        while True:
            if cancelled:
                give_up = cancel_at + 64 * self.t1
            elif provisional:
                give_up = ring_deadline
            else:
                give_up = min(timer_b, ring_deadline)
            msg = await self._next(min(next_tx, give_up))
            now = self.loop.time()
            if msg is None or msg == "dtmf":
                if now >= give_up:
                    if cancelled:  # no 487 ever came
                        self.res.result, self.res.final_response = "no_answer", "ring timeout"
                        return "cancelled"
                    if not provisional:
                        self.res.result, self.res.final_response = "unreachable", "no response"
                        return None
                    cancel = self._request("CANCEL", self.uri, cseq, branch, self.to_hdr)
                    self._send(cancel)
                    cancelled, cancel_at = True, now
                    interval, next_tx = self.t1, now + self.t1
                elif now >= next_tx:
                    self._send(cancel if cancelled else invite)
                    interval = min(interval * 2, 4.0) if cancelled else interval * 2
                    next_tx = now + interval
                continue
            if not msg.is_response:
                self._handle_stray(msg)
                continue
            num, method = msg.cseq
            if num != cseq:
                self._handle_stray(msg)
                continue
            if method == "CANCEL":
                next_tx = float("inf")  # CANCEL answered; now wait for the 487
                continue
            if msg.status < 200:
                provisional = True
                next_tx = next_tx if cancelled else float("inf")
                if msg.body and msg.status in (180, 183):
                    self._early_media(msg)
                continue
            to = msg.get("to") or self.to_hdr
            if msg.status >= 300:
                ack = self._request("ACK", self.uri, cseq, branch, to)
                self.acks[cseq] = ack
                self._send(ack)
                if cancelled and msg.status == 487:
                    self.res.result, self.res.sip_code = "no_answer", 487
                    self.res.final_response = "ring timeout (CANCEL): " + msg.start_line
                    return "cancelled"
                return msg
            if cancelled:  # answered while our CANCEL was in flight: acknowledge, then hang up
                self._final(msg)
                await self._talk(msg, hang_up_now=True)
                self.res.result = "no_answer"
                return "cancelled"
            return msg

    def _early_media(self, resp: message.SipMessage) -> None:
        answer = sdp.parse_answer(resp.body)
        if answer:
            self.res.early_media = True
            if answer.dtmf_pt is not None:
                self.dtmf_pts.add(answer.dtmf_pt)

    async def _talk(self, ok: message.SipMessage, hang_up_now: bool = False) -> None:
        """ACK the 2xx, then either run the dialogue callback or play the one prompt and collect
        DTMF; then BYE (or answer the remote BYE)."""
        cseq = ok.cseq[0]
        to = ok.get("to") or self.to_hdr
        target = message.contact_uri(ok.get("contact")) or self.uri
        ack = self._request("ACK", target, cseq, "z9hG4bK" + secrets.token_hex(8), to)
        self.acks[cseq] = ack
        self._send(ack)
        answered = self.loop.time()
        media = sdp.parse_answer(ok.body) if ok.body else None
        if media and media.dtmf_pt is not None:
            self.dtmf_pts.add(media.dtmf_pt)
        player = _Player(self.loop, self.rtp_t, media) if media and not hang_up_now else None
        if player:
            player.start()
        session = CallSession(self, player, media.codec if media else "PCMA")
        task = None
        if self.dialogue and not hang_up_now:
            task = asyncio.create_task(self.dialogue(session))
        elif player:
            player.queue(prompt_frames(self.prompt_pcm, media.codec))
        deadline = answered + (0 if hang_up_now else self.max_call_s)
        try:
            while True:
                if task is not None and task.done():
                    break
                if task is None and self.collect_dtmf and len(self.dtmf.digits) >= self.collect_dtmf:
                    break
                if task is None and not self.collect_dtmf and (player is None or player.idle.is_set()):
                    break
                msg = await self._next(min(deadline, self.loop.time() + 0.05))
                if msg is None:
                    if self.loop.time() >= deadline:
                        break
                    continue
                if msg == "dtmf":
                    break
                if not msg.is_response and msg.method == "BYE":
                    self._reply(msg, 200, "OK")
                    session.hung_up = True
                    break
                self._handle_stray(msg)
            if task is not None and not task.done():
                # Remote BYE: let the dialogue see it and note the hang-up; at the maximum call
                # length it is cut short.
                if session.hung_up:
                    await asyncio.wait({task}, timeout=1.0)
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        finally:
            if player:
                player.stop()
        self.res.duration_s = round(self.loop.time() - answered, 3)
        self.res.dtmf = self.dtmf.digits
        self.res.hangup_by = "remote" if session.hung_up else "local"
        if not session.hung_up:
            await self._bye(target, to)
        if task is not None and not task.cancelled() and task.exception() is not None:
            raise task.exception()

    async def _bye(self, target: str, to: str) -> None:
        self.cseq += 1
        bye = self._request("BYE", target, self.cseq, "z9hG4bK" + secrets.token_hex(8), to)
        self._send(bye)
        end, next_tx, interval = self.loop.time() + BYE_WAIT_S, self.loop.time() + self.t1, self.t1
        while self.loop.time() < end:
            msg = await self._next(min(next_tx, end))
            if msg is None or msg == "dtmf":
                if self.loop.time() >= next_tx:
                    self._send(bye)
                    interval = min(interval * 2, 4.0)
                    next_tx = self.loop.time() + interval
                continue
            if msg.is_response and msg.cseq == (self.cseq, "BYE") and msg.status >= 200:
                return
            if not msg.is_response and msg.method == "BYE":  # glare: both hung up
                self._reply(msg, 200, "OK")
                return
            self._handle_stray(msg)


class _Player:
    """One RTP stream for the whole call: queued 20 ms G.711 frames paced on the loop clock, and
    silence in between, which keeps the gateway's RTP timeout from firing while we wait for a key
    press. `idle` is set once the queued frames are all sent."""

    def __init__(self, loop, rtp_t, media: sdp.MediaAnswer):
        self.loop, self.rtp_t, self.media = loop, rtp_t, media
        self.frames: deque[bytes] = deque()
        self.idle = asyncio.Event()
        self.idle.set()
        self.silence = prompt_frames(None, media.codec, 20)[0]
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def queue(self, frames: list[bytes]) -> None:
        self.frames.clear()
        self.frames.extend(frames)
        if frames:
            self.idle.clear()

    def cut(self) -> None:
        self.frames.clear()
        self.idle.set()

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _run(self) -> None:
        ssrc = secrets.randbelow(2**32)
        seq, ts = secrets.randbelow(2**16), secrets.randbelow(2**32)
        start, i = self.loop.time(), 0
        while True:
            if self.frames:
                payload = self.frames.popleft()
            else:
                payload = self.silence
                self.idle.set()
            self.rtp_t.sendto(build_packet(self.media.payload_type, seq + i, ts + 160 * i, ssrc, payload,
                                           marker=i == 0), (self.media.ip, self.media.port))
            i += 1
            await asyncio.sleep(max(0.0, start + 0.02 * i - self.loop.time()))


class CallSession:
    """What a dialogue callback gets once the call is answered (CALL-1): play prompts and wait
    for key presses. `hung_up` turns True when the callee sends BYE; `play` and `collect` then
    return at once."""

    def __init__(self, call: _Call, player: _Player | None, codec: str):
        self._call, self._player, self.codec = call, player, codec
        self._pos = 0  # digits already handed out
        self.hung_up = False

    @property
    def pending_digits(self) -> str:
        return self._call.dtmf.digits[self._pos:]

    async def play(self, audio: bytes | None, *, encoded: bool = False, barge_in: bool = True) -> None:
        """Play 8 kHz 16-bit PCM (or G.711 already in `codec` when `encoded`) to the end, or until
        a key press when `barge_in`."""
        if self._player is None or not audio or self.hung_up:
            return
        if encoded:
            frames = [audio[i:i + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, self._player.silence[:1])
                      for i in range(0, len(audio), SAMPLES_PER_PACKET)]
        else:
            frames = prompt_frames(audio, self.codec)
        self._player.queue(frames)
        while not self._player.idle.is_set() and not self.hung_up:
            if barge_in and self.pending_digits:
                self._player.cut()
                break
            await asyncio.sleep(0.02)

    async def collect(self, digits: int = 1, timeout: float = 5.0) -> str:
        """Up to `digits` key presses (those pressed during the prompt count); "" on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.pending_digits) < digits and not self.hung_up and loop.time() < deadline:
            await asyncio.sleep(0.02)
        got = self.pending_digits[:digits]
        self._pos += len(got)
        return got


async def place_call(target_host: str, target_port: int, number: str, *, caller_id: str | None = None,
                     username: str | None = None, password: str | None = None,
                     prompt_pcm: bytes | None = None, ring_timeout_s: float = 30,
                     max_call_s: float = 60, collect_dtmf: int = 1, local_ip: str = "127.0.0.1",
                     t1: float = T1,
                     dialogue: Callable[[CallSession], Awaitable[None]] | None = None) -> CallResult:
    """Place one call to `number` through the SIP gateway at target_host:target_port. With
    `dialogue`, that coroutine runs the answered call (prompts, key presses) instead of the one
    `prompt_pcm` and `collect_dtmf`; an exception it raises comes out after the BYE."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(target_host, target_port, family=socket.AF_INET,
                                   type=socket.SOCK_DGRAM)
    remote = infos[0][4]
    queue: asyncio.Queue = asyncio.Queue()
    sip_t, _ = await loop.create_datagram_endpoint(lambda: _Queue("sip", queue),
                                                   local_addr=(local_ip, 0))
    rtp_t = None
    try:
        rtp_t, _ = await loop.create_datagram_endpoint(lambda: _Queue("rtp", queue),
                                                       local_addr=(local_ip, 0))
        call = _Call(loop, queue, sip_t, rtp_t, remote, number=number, target_host=target_host,
                     target_port=target_port, caller_id=caller_id, username=username,
                     password=password, prompt_pcm=prompt_pcm, ring_timeout_s=ring_timeout_s,
                     max_call_s=max_call_s, collect_dtmf=collect_dtmf, local_ip=local_ip, t1=t1,
                     dialogue=dialogue)
        return await call.run()
    finally:
        sip_t.close()
        if rtp_t:
            rtp_t.close()


def run_sync(coro):
    """Run a coroutine of the SIP agent for a synchronous caller. A thread that already runs an
    event loop (e.g. under Playwright's sync API) gets it on a helper thread, since asyncio.run
    cannot nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sip-call") as ex:
        return ex.submit(asyncio.run, coro).result()


def place_call_sync(*args, **kwargs) -> CallResult:
    """`place_call` for synchronous callers (CLI, dialer threads, scheduled line tests)."""
    return run_sync(place_call(*args, **kwargs))
