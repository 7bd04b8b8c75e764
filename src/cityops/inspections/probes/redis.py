"""`redis` probe: raw RESP over a socket — optional AUTH, then PING → PONG (OPS-1)."""

from __future__ import annotations

import socket
import time
from typing import Any

from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms, net_reason, split_host_port

LABEL = "Redis"
OPTIONS = (Opt("username", "ACL 用户名（可空）", default=""), Opt("password", "密码", default="", secret=True))


def validate_target(target: str, opts: dict[str, Any]) -> None:
    split_host_port(target, 6379)


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for p in parts:
        b = p.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _reply(f) -> str:
    line = f.readline()
    if not line:
        raise ConnectionError("连接被关闭")
    return line.decode(errors="replace").rstrip("\r\n")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    host, port = split_host_port(target, 6379)
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.05, timeout_s - (time.monotonic() - start)))
            f = sock.makefile("rb")
            if opts["password"]:
                auth = ("AUTH", opts["username"], opts["password"]) if opts["username"] else ("AUTH", opts["password"])
                sock.sendall(_command(*auth))
                answer = _reply(f)
                if not answer.startswith("+OK"):
                    return ProbeResult(False, elapsed_ms(start), f"Redis 认证失败（{answer[1:80]}）")
            sock.sendall(_command("PING"))
            answer = _reply(f)
    except OSError as exc:
        return ProbeResult(False, elapsed_ms(start), f"Redis {host}:{port} {net_reason(exc)}")
    latency = elapsed_ms(start)
    if answer == "+PONG":
        return ProbeResult(True, latency, f"Redis PONG，{latency:.0f} ms", {"reply": "PONG"})
    return ProbeResult(False, latency, f"Redis 答复异常（{answer[:80]}）", {"reply": answer[:80]})
