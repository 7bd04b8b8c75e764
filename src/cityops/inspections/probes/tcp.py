"""`tcp` probe: a TCP connect to host:port (OPS-1)."""

from __future__ import annotations

import socket
import time
from typing import Any

from cityops.core.errors import Invalid
from cityops.inspections.probes import ProbeResult, elapsed_ms, net_reason, split_host_port

LABEL = "TCP 端口"
OPTIONS = ()


def validate_target(target: str, opts: dict[str, Any]) -> None:
    host, port = split_host_port(target, 0)
    if port == 0:
        raise Invalid(f"TCP 探针的目标应为 主机:端口，收到 {target!r}")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    host, port = split_host_port(target, 0)
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            latency = elapsed_ms(start)
    except OSError as exc:
        return ProbeResult(False, elapsed_ms(start), f"{host}:{port} {net_reason(exc)}", {"port": port})
    return ProbeResult(True, latency, f"{host}:{port} 可连接，{latency:.0f} ms", {"port": port})
