"""Probe adapters (OPS-1). INTERFACE STUB — the probes engineer fills in the registry and the
adapters; `ProbeResult` and `run` are used by the CLI, the scheduler, plans and visits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProbeResult:
    ok: bool
    latency_ms: float | None
    detail: str  # one readable line, Chinese, for people
    data: dict[str, Any] = field(default_factory=dict)  # measured values (status, days_left, cpu_pct …)


def run(kind: str, target: str, options: dict[str, str] | None = None, *, timeout_s: float = 10.0) -> ProbeResult:
    raise NotImplementedError
