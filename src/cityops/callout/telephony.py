"""Telephony adapters for the dialer (CALL-1, CALL-2; issue #6 item 4a).

`Telephony.dial` places one call, plays the script and returns the normalised `CallResult`
with the `Transcript`. `SimTelephony` is the simulator used by the demo and the tests: numbers
can be scripted (result and the callee's answers); any other number gets an outcome drawn from
a seeded generator with realistic shares, so a run is repeatable."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cityops.callout.script import Script, Transcript, run_script
from cityops.callout.sip.result import CallResult

SECONDS_PER_TURN = 8.0  # a prompt plus the callee's answer, for the simulated duration

# (result, sip code, Q.850 cause, share): roughly what outbound service calls to Shanghai
# mobiles see — most answer, a tenth ring out, powered-off handsets are common, suspended lines
# (停机) and refusals rare. Causes as a gateway sends them (RFC 3398: 20 -> 480; 停机 see sip/result.py).
OUTCOMES: tuple[tuple[str, int | None, int | None, float], ...] = (
    ("answered", 200, None, 0.68),
    ("no_answer", 480, 19, 0.11),
    ("busy", 486, 17, 0.06),
    ("power_off", 480, 20, 0.05),
    ("unreachable", 503, 34, 0.03),
    ("suspended", 403, 50, 0.02),
    ("invalid_number", 404, 1, 0.04),
    ("rejected", 603, 21, 0.01),
)
SIP_CODES = {r: code for r, code, _, _ in OUTCOMES} | {"failed": 500}
Q850 = {r: q for r, _, q, _ in OUTCOMES}


class Telephony(Protocol):
    """`name` goes into the record's adapter. An adapter with `concurrent = True` also has
    `gateways(session, line_group)` and gets the chosen `gateway=` in `dial` (see dialer)."""

    name: str

    def dial(self, number: str, *, caller_id: str, script: Script, clock: datetime) -> tuple[CallResult, Transcript]:
        ...


@dataclass
class SimCall:
    """What a scripted callee does: the result of each dial in turn (the last one repeats) and,
    when answered, the answers given (key presses, text, or None for silence)."""

    results: Sequence[str] = ("answered",)
    answers: Sequence[str | None] = ()


@dataclass
class SimTelephony:
    seed: int = 0
    scripted: dict[str, SimCall] = field(default_factory=dict)
    name: str = "sim"
    dialled: Counter = field(default_factory=Counter)

    def dial(self, number: str, *, caller_id: str, script: Script, clock: datetime,
             gateway: object = None) -> tuple[CallResult, Transcript]:
        n = self.dialled[number]
        self.dialled[number] += 1
        call = self.scripted.get(number)
        if call is not None:
            result = call.results[min(n, len(call.results) - 1)] if call.results else "answered"
            answers = list(call.answers)
        else:
            rng = random.Random(f"{self.seed}:{number}:{n}")
            result = rng.choices([o[0] for o in OUTCOMES], weights=[o[3] for o in OUTCOMES])[0]
            # A random callee: mostly 1 (satisfied / acknowledged), sometimes 2, rarely silence.
            answers = [rng.choices(["1", "2", None], weights=[0.75, 0.2, 0.05])[0] for _ in range(3)]
        if result != "answered":
            return CallResult(result, sip_code=SIP_CODES.get(result), q850_cause=Q850.get(result),
                              final_response=f"SIP/2.0 {SIP_CODES.get(result)} (simulated)"), Transcript(
                                  outcome="not_answered")
        transcript = run_script(script, answers)
        res = CallResult("answered", sip_code=200, duration_s=SECONDS_PER_TURN * max(1, len(transcript.turns)),
                         dtmf=transcript.dtmf, final_response="SIP/2.0 200 OK (simulated)",
                         hangup_by="remote" if transcript.outcome == "callee_hangup" else "local")
        return res, transcript
