"""Scheduled probes and their history (OPS-1). INTERFACE STUB — the probes engineer replaces the
body; `run_probe_now` is used by inspection plans and pre-visit inspections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def run_probe_now(session: Session, probe_id: int, *, now: datetime | None = None, actor: str = "system") -> Any:
    """Run one configured probe at once, store the result in its history, raise or clear its
    finding, and return the stored result (an object with `.ok`, `.latency_ms`, `.detail`)."""
    raise NotImplementedError


def probes_for(session: Session, *, system_code: str | None = None, module_id: int | None = None,
               asset_id: int | None = None) -> list[Any]:
    """The enabled probes attached to a system (any of its modules), a module or an asset."""
    raise NotImplementedError
