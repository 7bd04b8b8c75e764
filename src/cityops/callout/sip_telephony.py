"""The SIP telephony adapter (CALL-1, CALL-2, CALL-3): `Telephony.dial` over a real call through a
voice gateway (`lines.GatewayTarget`: an IP trunk, digest credentials, the campaign's caller ID).

After the answer the script runs as a `script.Dialogue`: each step's prompt is played (espeak-ng
TTS via `voice.prompt`, cached on disk), a key press (RFC 4733 or SIP INFO) is awaited for up to
`step_timeout_s` (a key pressed during the prompt cuts it short and counts), no input re-prompts,
and the script's end hangs up with BYE. "transfer" has no agent desk to go to yet: the callee
hears "正在为您转接人工", the call is hung up and the record's outcome says "transfer".

The dialer picks the gateway (free ports, pacing) and passes it to `dial`; `gateways()` is what it
asks for the candidates of a campaign's line group."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from cityops.callout import lines, voice
from cityops.callout.script import Dialogue, Script, Transcript
from cityops.callout.sip.client import CallSession, place_call_sync
from cityops.callout.sip.result import CallResult

TRANSFER_PROMPT = "正在为您转接人工，请稍候。"
WARM_CODEC = "PCMA"  # offered first; what Chinese gateways answer with


def dial_string(number_e164: str) -> str:
    """What the gateway dials: national format inside China (mobiles as 1xx…, fixed lines with
    the trunk prefix 0 + area code), 00 + country code abroad."""
    if number_e164.startswith("+86"):
        rest = number_e164[3:]
        return rest if rest.startswith("1") else "0" + rest
    if number_e164.startswith("+"):
        return "00" + number_e164[1:]
    return number_e164


@dataclass
class SipTelephony:
    targets: Callable[[Session, str], list[lines.GatewayTarget]] = lines.dial_targets
    local_ip: str = "127.0.0.1"
    var_dir: Path | None = None
    # (text, codec) -> G.711 bytes in that codec; default: voice.prompt cached under var_dir.
    prompts: Callable[[str, str], bytes] | None = None
    step_timeout_s: float = 8.0
    ring_timeout_s: float = 45.0
    max_call_s: float = 180.0
    name: str = "sip"
    concurrent: bool = True  # the dialer runs calls in parallel, bounded by gateway ports

    def gateways(self, session: Session, line_group: str = "") -> list[lines.GatewayTarget]:
        return self.targets(session, line_group)

    def dial(self, number: str, *, caller_id: str, script: Script, clock: datetime,
             gateway: lines.GatewayTarget | None = None) -> tuple[CallResult, Transcript]:
        if gateway is None:
            raise ValueError("SIP call without a gateway")
        for step in script.steps:  # render before dialling: a TTS failure must not reach the callee
            self._audio(step.prompt, WARM_CODEC)
            if step.reprompt:
                self._audio(step.reprompt, WARM_CODEC)
        d = Dialogue(script)

        async def converse(call: CallSession) -> None:
            await self._converse(d, call)

        res = place_call_sync(gateway.host, gateway.port, dial_string(number), caller_id=caller_id or None,
                              username=gateway.username or None, password=gateway.password or None,
                              ring_timeout_s=self.ring_timeout_s, max_call_s=self.max_call_s,
                              local_ip=self.local_ip, dialogue=converse)
        if res.result != "answered":
            return res, Transcript(outcome="not_answered")
        d.stop("hangup")  # cut at the maximum call length: what was said so far stays
        return res, d.transcript

    async def _converse(self, d: Dialogue, call: CallSession) -> None:
        while not d.done:
            audio = await asyncio.to_thread(self._audio, d.prompt, call.codec)
            await call.play(audio, encoded=True, barge_in=d.expects_answer)
            if call.hung_up:
                d.callee_hung_up()
                return
            if not d.expects_answer:
                d.answer(None)
                continue
            keys = await call.collect(1, self.step_timeout_s)
            if call.hung_up and not keys:
                d.callee_hung_up()
                return
            d.answer(keys or None)
        if d.transcript.outcome == "transfer":
            audio = await asyncio.to_thread(self._audio, TRANSFER_PROMPT, call.codec)
            await call.play(audio, encoded=True, barge_in=False)

    def _audio(self, text: str, codec: str) -> bytes:
        if self.prompts is not None:
            return self.prompts(text, codec)
        if self.var_dir is None:
            raise ValueError("SipTelephony needs var_dir for the prompt cache")
        return voice.prompt(text, codec, self.var_dir)
