"""Probe adapters (OPS-1): one module per kind, registered here by kind.

Each adapter module declares `LABEL` (Chinese), `OPTIONS` (a tuple of `Opt`) and
`check(target, opts, timeout_s) -> ProbeResult`. `run` validates the options (bad input raises
`Invalid`) and turns every failure of the *target* (refused, timeout, DNS, TLS …) into
`ok=False` with the reason: an adapter never raises for a failed target."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

from cityops.core.errors import Invalid


@dataclass
class ProbeResult:
    ok: bool
    latency_ms: float | None
    detail: str  # one readable line, Chinese, for people
    data: dict[str, Any] = field(default_factory=dict)  # measured values (status, days_left, cpu_pct …)
    learned: dict[str, Any] = field(default_factory=dict)  # options to pin on the probe (an SSH host key on first use)


@dataclass(frozen=True)
class Opt:
    name: str
    label: str
    type: str = "str"  # str | int | float | bool | list
    default: Any = None
    secret: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False


KIND_MODULES = ("http", "tcp", "reach", "dns", "postgres", "mysql", "redis", "mqtt", "sip", "host", "push")
TARGET_HELP = {"http": "URL，如 https://10.1.2.3/health", "tcp": "主机:端口", "reach": "主机名或 IP",
               "dns": "要解析的域名", "postgres": "主机[:端口]，默认 5432", "mysql": "主机[:端口]，默认 3306",
               "redis": "主机[:端口]，默认 6379", "mqtt": "主机[:端口]，默认 1883", "sip": "主机[:端口]，默认 5060",
               "host": "node_exporter 的 /metrics URL 或 SSH 主机[:端口]", "push": "被监视的任务名（如 夜间备份）"}


def adapter(kind: str):
    if kind not in KIND_MODULES:
        raise Invalid(f"未知的探针类型 {kind!r}（可选：{'、'.join(KIND_MODULES)}）")
    return importlib.import_module(f"cityops.inspections.probes.{kind}")


def secret_names(kind: str) -> set[str]:
    return {o.name for o in adapter(kind).OPTIONS if o.secret}


def _coerce(kind: str, opt: Opt, raw: Any) -> Any:
    try:
        if opt.type == "int":
            value: Any = int(raw)
        elif opt.type == "float":
            value = float(raw)
        elif opt.type == "bool":
            if isinstance(raw, bool):
                value = raw
            elif str(raw).strip().lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).strip().lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise ValueError(raw)
        elif opt.type == "list":
            value = [p.strip() for p in (raw if isinstance(raw, list) else str(raw).split(",")) if str(p).strip()]
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise Invalid(f"{kind} 探针的选项 {opt.name}（{opt.label}）的值 {raw!r} 无效，应为 {opt.type}") from None
    if opt.choices and value not in opt.choices:
        raise Invalid(f"{kind} 探针的选项 {opt.name} 只能是 {'、'.join(opt.choices)}")
    if opt.type in ("int", "float") and value < 0:
        raise Invalid(f"{kind} 探针的选项 {opt.name} 不能为负数")
    return value


def validate(kind: str, target: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The options as typed values; unknown names, wrong types and a missing target are refused.
    Options left out are absent from the answer (the adapter applies the defaults)."""
    mod = adapter(kind)
    if not (target or "").strip():
        raise Invalid(f"请填写探针目标（{TARGET_HELP[kind]}）")
    known = {o.name: o for o in mod.OPTIONS}
    out: dict[str, Any] = {}
    for name, raw in (options or {}).items():
        if name not in known:
            raise Invalid(f"{kind} 探针没有选项 {name!r}（可用：{'、'.join(known) or '无'}）")
        if raw is None or raw == "":
            continue
        out[name] = _coerce(kind, known[name], raw)
    for o in mod.OPTIONS:
        if o.required and o.name not in out:
            raise Invalid(f"{kind} 探针必须填写选项 {o.name}（{o.label}）")
    if hasattr(mod, "validate_target"):
        mod.validate_target(target.strip(), out)
    return out


def with_defaults(kind: str, opts: dict[str, Any]) -> dict[str, Any]:
    return {**{o.name: o.default for o in adapter(kind).OPTIONS}, **opts}


def run(kind: str, target: str, options: dict[str, Any] | None = None, *, timeout_s: float = 10.0) -> ProbeResult:
    """Validate, then check the target once. Raises `Invalid` only for a bad kind or options."""
    if timeout_s <= 0:
        raise Invalid("超时必须大于 0 秒")
    mod = adapter(kind)
    opts = with_defaults(kind, validate(kind, target, options))
    start = time.monotonic()
    try:
        result = mod.check(target.strip(), opts, timeout_s)
    except Invalid:
        raise
    except Exception as exc:  # an adapter bug or an unforeseen network error is still a failed check
        return ProbeResult(False, round((time.monotonic() - start) * 1000, 1), f"检查出错：{type(exc).__name__}: {exc}"[:300])
    if result.latency_ms is not None:
        result.latency_ms = round(result.latency_ms, 1)
    return result


def kinds() -> list[dict[str, Any]]:
    """Every kind with its options, defaults and Chinese labels (for the form and `GET /probe-kinds`)."""
    out = []
    for kind in KIND_MODULES:
        mod = adapter(kind)
        out.append({"kind": kind, "label": mod.LABEL, "target": TARGET_HELP[kind],
                    "options": [{"name": o.name, "label": o.label, "type": o.type, "default": o.default,
                                 "secret": o.secret, "choices": list(o.choices), "required": o.required}
                                for o in mod.OPTIONS]})
    return out


def split_host_port(target: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` → (host, port); a bad port raises Invalid."""
    t = target.strip()
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif t.count(":") == 1:
        host, port = t.split(":")
    else:
        host, port = t, ""
    if not host:
        raise Invalid(f"目标 {target!r} 缺少主机名")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise Invalid(f"目标 {target!r} 的端口无效")
    return host, int(port)


def elapsed_ms(start: float) -> float:
    return (time.monotonic() - start) * 1000


def net_reason(exc: BaseException) -> str:
    """A failed connection as a short Chinese reason."""
    import socket

    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "超时"
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝"
    if isinstance(exc, socket.gaierror):
        return f"域名解析失败（{exc.strerror or exc}）"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"
