"""Normalised outcome of one SIP call (CALL-1, CALL-3). The raw SIP code, the Q.850 cause from a
`Reason` header and the final response line are kept next to the normalised `result`, so the
dialer's retry policy can use the coarse class and operators can still see what the gateway said.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

RESULTS = ("answered", "busy", "no_answer", "power_off", "suspended", "rejected", "invalid_number", "unreachable",
           "failed")

# SIP final code -> normalised result. Codes not listed fall back by class (see `classify`).
SIP_RESULTS: dict[int, str] = {
    486: "busy",
    600: "busy",
    480: "no_answer",
    408: "no_answer",
    487: "no_answer",  # our own CANCEL after the ring timeout
    603: "rejected",
    403: "rejected",
    404: "invalid_number",
    484: "invalid_number",
    604: "invalid_number",
    410: "invalid_number",
    502: "unreachable",
    503: "unreachable",
    504: "unreachable",
}

# Q.850 causes that are more precise than the SIP code a gateway maps them to.
Q850_RESULTS: dict[int, str] = {
    1: "invalid_number",  # unallocated number
    17: "busy",
    18: "no_answer",  # no user responding (alerting timed out)
    19: "no_answer",  # no answer from user
    20: "power_off",  # subscriber absent: handset off or out of coverage (RFC 3398 sends it as 480)
    21: "rejected",
    22: "invalid_number",  # number changed
    28: "invalid_number",  # invalid number format
    34: "unreachable",
    38: "unreachable",
}

# Suspended lines (carrier "停机", service cut for arrears or by the carrier): there is no standard
# SIP code. Chinese carriers' gateways report it as 403 or 503 with Q.850 cause 27 (destination
# out of order), 29 (facility rejected) or 50 (requested facility not subscribed), or say so in the
# Reason text. The pairing is our reading of the SMG gateway manuals and field traces, not a standard:
# cause 27 with any other code stays "unreachable" (RFC 3398 maps 27 to 502).
SUSPENDED_CODES = (403, 503)
SUSPENDED_Q850 = (27, 29, 50)
_SUSPENDED_TEXT = re.compile(r"停机|suspend", re.IGNORECASE)

_REASON_Q850 = re.compile(r"Q\.850\s*;(?:[^,]*;)?\s*cause\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class CallResult:
    result: str
    sip_code: int | None = None
    q850_cause: int | None = None
    duration_s: float = 0.0
    dtmf: str = ""
    early_media: bool = False
    final_response: str = ""
    auth_used: bool = False
    hangup_by: str = ""  # "local" | "remote" | ""

    def to_dict(self) -> dict:
        return asdict(self)


def q850_from_reason(value: str | None) -> int | None:
    """Cause from a `Reason: Q.850;cause=17;text="..."` header, or None."""
    if not value:
        return None
    m = _REASON_Q850.search(value)
    return int(m.group(1)) if m else None


def classify(sip_code: int | None, q850: int | None = None, reason: str | None = None) -> str:
    """Map a final SIP code (None = no response at all), the Q.850 cause and the `Reason` header
    text to a normalised result."""
    if sip_code is None:
        return "unreachable"
    if 200 <= sip_code < 300:
        return "answered"
    if reason and _SUSPENDED_TEXT.search(reason):
        return "suspended"
    if sip_code in SUSPENDED_CODES and q850 in SUSPENDED_Q850:
        return "suspended"
    if q850 in Q850_RESULTS:
        return Q850_RESULTS[q850]
    if sip_code in SIP_RESULTS:
        return SIP_RESULTS[sip_code]
    if sip_code >= 600:
        return "rejected"
    return "failed"
