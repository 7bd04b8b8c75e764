"""Probe seeding (OPS-1): one `http` probe per catalog module with a health-check URL, and the
demo's probes that check the platform itself and the local services. Both idempotent (by name)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.catalog.models import Module
from cityops.inspections import probe_service as svc
from cityops.inspections.probe_models import Probe


def _ensure(session: Session, data: dict[str, Any]) -> Probe | None:
    if session.scalar(select(Probe.id).where(Probe.name == data["name"])) is not None:
        return None
    return svc.create_probe(session, data, actor="seed")


def seed_module_probes(session: Session) -> int:
    """An `http` probe for every module that has a `health_check_url`; returns how many were added."""
    added = 0
    for m in session.scalars(select(Module).where(Module.health_check_url != "").order_by(Module.id)):
        name = f"{m.system.code} {m.name} 健康检查"[:100]
        taken = session.scalar(select(Probe.id).where((Probe.module_id == m.id) & (Probe.kind == "http")))
        if taken is None and _ensure(session, {"name": name, "kind": "http", "target": m.health_check_url,
                                               "module_id": m.id, "interval_s": 60, "timeout_s": 10}):
            added += 1
    return added


def seed_demo(session: Session, *, base_url: str) -> list[Probe]:
    """Probes the demo can really run against itself: its /healthz, its TCP port, a push probe
    for the nightly backup. Ticket policy `never` so a stopped demo does not flood the desk."""
    url = urlsplit(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or "127.0.0.1"
    specs = [
        {"name": "平台自身 /healthz", "kind": "http", "target": f"{base_url.rstrip('/')}/healthz",
         "options": {"keyword": "ok"}, "interval_s": 60, "timeout_s": 5, "ticket_policy": "never"},
        {"name": "平台 HTTP 端口", "kind": "tcp", "target": f"{host}:{port}", "interval_s": 60, "timeout_s": 3,
         "ticket_policy": "never"},
        {"name": "平台主机可达", "kind": "reach", "target": host, "options": {"ports": str(port)},
         "interval_s": 120, "timeout_s": 3, "ticket_policy": "never", "severity": "warning"},
        {"name": "夜间数据库备份", "kind": "push", "target": "夜间备份任务", "options": {"period_s": 86400, "grace_s": 7200},
         "interval_s": 600, "timeout_s": 5, "ticket_policy": "never"},
    ]
    return [p for p in (_ensure(session, s) for s in specs) if p is not None]
