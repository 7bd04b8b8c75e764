"""`sip` probe: SIP OPTIONS over UDP; any final response proves the user agent is alive (OPS-1).

The transaction (retransmission per RFC 3261 timer E) is the line checks' `options_ping`."""

from __future__ import annotations

from typing import Any

from cityops.inspections.probes import ProbeResult, split_host_port

LABEL = "SIP 信令（OPTIONS）"
OPTIONS = ()


def validate_target(target: str, opts: dict[str, Any]) -> None:
    split_host_port(target, 5060)


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    from cityops.callout.line_checks import options_ping
    from cityops.callout.sip.client import run_sync

    host, port = split_host_port(target, 5060)
    p = run_sync(options_ping(host, port, timeout_s=timeout_s))
    code = p.data.get("sip_code")
    if code is not None:  # a 5xx is an answer too: the SIP stack is alive
        return ProbeResult(True, float(p.duration_ms), f"SIP 应答 {code}，{p.duration_ms} ms", dict(p.data))
    return ProbeResult(False, float(p.duration_ms), p.detail, dict(p.data))
