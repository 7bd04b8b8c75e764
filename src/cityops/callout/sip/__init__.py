"""A small SIP user agent client (UAC) for outbound test and production calls over an IP trunk
(CALL-1, CALL-3): INVITE/ACK/BYE/CANCEL over UDP, digest auth, G.711 prompts, RFC 4733 DTMF."""

from cityops.callout.sip.client import place_call, place_call_sync
from cityops.callout.sip.result import CallResult

__all__ = ["CallResult", "place_call", "place_call_sync"]
