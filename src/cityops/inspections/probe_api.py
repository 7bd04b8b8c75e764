"""Probe API (OPS-1): `/api/v1/probes…`, `/api/v1/probe-kinds` and the public push endpoint.

Staff read; admins and managers configure; duty officers and technicians may also run a probe
now. Secret options are never returned: the answer lists which ones are set (`secrets_set`);
sending "******" back keeps the stored value. The push URL (its token authenticates the caller)
is shown to configurers only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.errors import NotFound, Problem
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.inspections import findings, probe_service as svc, probes
from cityops.inspections.probe_models import Probe, ProbeRun

router = APIRouter(prefix="/api/v1", tags=["inspections"])
EDITORS = ("admin", "manager")
RUNNERS = ("admin", "manager", "duty", "technician")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Runner = Annotated[Principal, Depends(require(*RUNNERS))]


class ProbeIn(BaseModel):
    name: str | None = None
    kind: str | None = None
    target: str | None = None
    options: dict[str, Any] | None = None
    interval_s: int | None = None
    timeout_s: float | None = None
    enabled: bool | None = None
    system_code: str | None = None
    module_id: int | None = None
    asset_id: int | None = None
    severity: str | None = None
    ticket_policy: str | None = None
    fail_after: int | None = None
    note: str | None = None


class ProbeOut(Out):
    id: int
    name: str
    kind: str
    target: str
    options: dict[str, Any]
    secrets_set: list[str]
    interval_s: int
    timeout_s: float
    enabled: bool
    system_code: str | None
    module_id: int | None
    asset_id: int | None
    severity: str
    ticket_policy: str
    fail_after: int
    note: str
    state: str
    consecutive_failures: int
    last_run_at: LocalTime | None
    last_ok: bool | None
    last_latency_ms: float | None
    last_detail: str
    next_run_at: LocalTime | None
    last_push_at: LocalTime | None
    push_path: str | None  # configurers only
    finding_id: int | None
    created_at: LocalTime
    created_by: str


class RunOut(Out):
    id: int
    probe_id: int
    at: LocalTime
    ok: bool
    latency_ms: float | None
    detail: str
    data: dict[str, Any]


class PushOut(BaseModel):
    accepted: bool
    probe: str
    status: str


def probe_out(session, p: Probe, who: Principal) -> ProbeOut:
    f = findings.open_finding(session, f"probe:{p.id}")
    return ProbeOut(id=p.id, name=p.name, kind=p.kind, target=p.target, options=dict(p.options or {}),
                    secrets_set=sorted((p.secrets or {}).keys()), interval_s=p.interval_s, timeout_s=p.timeout_s,
                    enabled=p.enabled, system_code=p.system_code, module_id=p.module_id, asset_id=p.asset_id,
                    severity=p.severity, ticket_policy=p.ticket_policy, fail_after=p.fail_after, note=p.note,
                    state=p.state, consecutive_failures=p.consecutive_failures, last_run_at=p.last_run_at,
                    last_ok=p.last_ok, last_latency_ms=p.last_latency_ms, last_detail=p.last_detail,
                    next_run_at=p.next_run_at, last_push_at=p.last_push_at,
                    push_path=f"/api/v1/probes/push/{p.push_token}" if p.push_token and who.role in EDITORS else None,
                    finding_id=f.id if f else None, created_at=p.created_at, created_by=p.created_by)


def run_out(r: ProbeRun) -> RunOut:
    return RunOut(id=r.id, probe_id=r.probe_id, at=r.at, ok=r.ok, latency_ms=r.latency_ms, detail=r.detail,
                  data=r.data or {})


@router.get("/probe-kinds")
def probe_kinds(_: Reader) -> list[dict[str, Any]]:
    """Every kind with its options (type, default, secret, choices) and Chinese labels."""
    return probes.kinds()


@router.post("/probes/push/{token}", response_model=PushOut)
def push(token: str, session: DbSession, status: Literal["ok", "fail"] = "ok",
         msg: Annotated[str, Query(max_length=300)] = "") -> PushOut:
    """Public: a scheduled job reports that it ran (`status=fail&msg=…` when it failed). The
    token in the path authenticates it; an unknown token is a 401."""
    try:
        p = svc.record_push(session, token, ok=status == "ok", msg=msg)
    except NotFound:
        raise Problem(401, "Unauthorized", "未知的推送令牌") from None
    return PushOut(accepted=True, probe=p.name, status=status)


@router.get("/probes", response_model=Page[ProbeOut])
def list_probes(session: DbSession, who: Reader, page: Annotated[PageParams, Depends(page_params)],
                kind: str | None = None, state: str | None = None, system: str | None = None,
                asset_id: int | None = None, enabled: bool | None = None, q: str | None = None):
    rows, total = svc.list_probes(session, kind=kind, state=state, system_code=system, asset_id=asset_id,
                                  enabled=enabled, q=q, limit=page.limit, offset=page.offset)
    return Page(items=[probe_out(session, p, who) for p in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/probes", response_model=ProbeOut, status_code=201)
def create_probe(body: ProbeIn, session: DbSession, who: Editor):
    return probe_out(session, svc.create_probe(session, body.model_dump(exclude_unset=True), actor=who.username), who)


@router.get("/probes/{probe_id}", response_model=ProbeOut)
def get_probe(probe_id: int, session: DbSession, who: Reader):
    return probe_out(session, svc.get_probe(session, probe_id), who)


@router.patch("/probes/{probe_id}", response_model=ProbeOut)
def update_probe(probe_id: int, body: ProbeIn, session: DbSession, who: Editor):
    return probe_out(session, svc.update_probe(session, probe_id, body.model_dump(exclude_unset=True)), who)


@router.delete("/probes/{probe_id}", status_code=204)
def delete_probe(probe_id: int, session: DbSession, _: Editor):
    svc.delete_probe(session, probe_id)
    return Response(status_code=204)


@router.post("/probes/{probe_id}/run", response_model=RunOut)
def run_probe(probe_id: int, session: DbSession, who: Runner):
    return run_out(svc.run_probe_now(session, probe_id, actor=who.username))


@router.get("/probes/{probe_id}/history", response_model=Page[RunOut])
def probe_history(probe_id: int, session: DbSession, _: Reader, page: Annotated[PageParams, Depends(page_params)],
                  start: Annotated[datetime | None, Query(alias="from")] = None,
                  end: Annotated[datetime | None, Query(alias="to")] = None):
    rows, total = svc.history(session, probe_id, start=start, end=end, limit=page.limit, offset=page.offset)
    return Page(items=[run_out(r) for r in rows], total=total, limit=page.limit, offset=page.offset)
