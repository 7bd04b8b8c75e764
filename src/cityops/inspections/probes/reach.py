"""`reach` probe: ICMP-free reachability by TCP connects (OPS-1).

A refused connection (RST) still proves the host is up; only timeouts and unreachable
networks fail. The ports are tried one after another within the timeout."""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

from cityops.core.errors import Invalid
from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms, net_reason

LABEL = "主机可达"
OPTIONS = (Opt("ports", "尝试的端口（逗号分隔）", type="list", default=["22", "80", "443"]),)


def validate_target(target: str, opts: dict[str, Any]) -> None:
    for p in opts.get("ports", []):
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise Invalid(f"端口 {p!r} 无效")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    ports = [int(p) for p in opts["ports"]] or [22, 80, 443]
    start = time.monotonic()
    deadline = start + timeout_s
    reasons = []
    for port in ports:
        left = deadline - time.monotonic()
        if left <= 0:
            reasons.append(f"{port} 超时")
            break
        try:
            with socket.create_connection((target, port), timeout=left):
                latency = elapsed_ms(start)
                return ProbeResult(True, latency, f"{target} 可达（端口 {port} 开放）", {"port": port, "open": True})
        except ConnectionRefusedError:
            latency = elapsed_ms(start)
            return ProbeResult(True, latency, f"{target} 可达（端口 {port} 拒绝连接，主机在线）",
                               {"port": port, "open": False})
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ECONNRESET:
                return ProbeResult(True, elapsed_ms(start), f"{target} 可达（端口 {port} 重置连接）", {"port": port})
            reasons.append(f"{port} {net_reason(exc)}")
            if isinstance(exc, socket.gaierror):
                break
    return ProbeResult(False, elapsed_ms(start), f"{target} 不可达（{'；'.join(reasons)}）", {"ports": ports})
