"""Configured probes: CRUD, one run, results, findings, push, retention (OPS-1).

A run has two halves so the scheduler can keep the network outside any transaction:
`snapshot` (what to check, read in a short session) → `execute` (network only, no session) →
`record` (store the result, update the probe, raise or clear its finding). `run_probe_now`
does the three in a row for a person pressing 立即执行 or for a plan/visit check."""

from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.orm import Session

from cityops.catalog.models import Asset, Module, System
from cityops.core.db import text_search
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.inspections import findings, probes
from cityops.inspections.finding_models import FINDING_SEVERITIES
from cityops.inspections.probe_models import PROBE_STATES, Probe, ProbeRun

MASK = "******"
EDITABLE = ("name", "kind", "target", "options", "interval_s", "timeout_s", "enabled", "system_code", "module_id",
            "asset_id", "severity", "ticket_policy", "fail_after", "note")


@dataclass(frozen=True)
class Snapshot:
    """What one run needs, detached from any session."""
    id: int
    kind: str
    target: str
    options: dict[str, Any]
    timeout_s: float
    created_at: datetime
    last_push_at: datetime | None
    last_push_ok: bool | None
    last_push_msg: str


def get_probe(session: Session, probe_id: int) -> Probe:
    p = session.get(Probe, probe_id)
    if p is None:
        raise NotFound(f"探针 {probe_id} 不存在")
    return p


def _check_fields(session: Session, p: Probe) -> None:
    if not (p.name or "").strip() or len(p.name) > 100:
        raise Invalid("请填写探针名称（最多 100 字）")
    if not 10 <= p.interval_s <= 7 * 86400:
        raise Invalid("执行间隔应在 10 秒到 7 天之间")
    if not 0 < p.timeout_s <= 120:
        raise Invalid("超时应在 0–120 秒之间")
    if p.timeout_s >= p.interval_s:
        raise Invalid("超时必须小于执行间隔")
    if p.severity not in FINDING_SEVERITIES:
        raise Invalid(f"未知的严重程度 {p.severity!r}（可选：{'、'.join(FINDING_SEVERITIES)}）")
    findings.ticket_wanted(p.severity, p.ticket_policy)  # validates the policy
    if not 1 <= p.fail_after <= 20:
        raise Invalid("连续失败次数应在 1–20 之间")
    if p.module_id is not None:
        module = session.get(Module, p.module_id)
        if module is None:
            raise Invalid(f"模块 {p.module_id} 不存在")
        p.system_code = p.system_code or module.system.code
    if p.system_code and session.scalar(select(System.id).where(System.code == p.system_code)) is None:
        raise Invalid(f"系统 {p.system_code} 不存在")
    if p.asset_id is not None and session.get(Asset, p.asset_id) is None:
        raise Invalid(f"设备资产 {p.asset_id} 不存在")
    clash = session.scalar(select(Probe.id).where(Probe.name == p.name, Probe.id != (p.id or 0)))
    if clash is not None:
        raise Conflict(f"已有名为“{p.name}”的探针")


def _set_options(p: Probe, options: dict[str, Any]) -> None:
    """Secrets go to their own column; the mask sent back keeps the stored value."""
    secret = probes.secret_names(p.kind)
    kept = {k: v for k, v in (p.secrets or {}).items() if k in secret}
    given = {k: v for k, v in (options or {}).items() if not (k in secret and v == MASK)}
    typed = probes.validate(p.kind, p.target, {**kept, **given})
    p.options = {k: v for k, v in typed.items() if k not in secret}
    p.secrets = {k: v for k, v in typed.items() if k in secret}


def push_token() -> str:
    """A push probe's secret. URL-safe base64 may begin with "-", which a shell command line
    (`cityops probe push <token>`, a cron job's curl) takes for an option: draw again."""
    while True:
        token = pysecrets.token_urlsafe(24)
        if not token.startswith("-"):
            return token


def create_probe(session: Session, data: dict[str, Any], *, actor: str = "system", now: datetime | None = None) -> Probe:
    now = now or utcnow()
    unknown = set(data) - set(EDITABLE)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    p = Probe(name=str(data.get("name") or "").strip(), kind=data.get("kind") or "", target=str(data.get("target") or "").strip(),
              interval_s=300, timeout_s=10.0, enabled=True, severity="major", ticket_policy="major", fail_after=2,
              note="", created_at=now, created_by=actor, state="unknown", consecutive_failures=0, last_detail="",
              last_push_msg="", secrets={})
    for k in ("interval_s", "timeout_s", "enabled", "system_code", "module_id", "asset_id", "severity",
              "ticket_policy", "fail_after", "note"):
        if data.get(k) is not None:
            setattr(p, k, data[k])
    probes.adapter(p.kind)
    _set_options(p, data.get("options") or {})
    _check_fields(session, p)
    if p.kind == "push":
        p.push_token = push_token()
    p.next_run_at = now if p.enabled else None
    session.add(p)
    session.flush()
    return p


def update_probe(session: Session, probe_id: int, data: dict[str, Any], *, now: datetime | None = None) -> Probe:
    now = now or utcnow()
    p = get_probe(session, probe_id)
    unknown = set(data) - set(EDITABLE)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    if "kind" in data and data["kind"] != p.kind:
        raise Invalid("探针类型创建后不能修改，请新建探针")
    for k in ("name", "target", "interval_s", "timeout_s", "enabled", "system_code", "module_id", "asset_id",
              "severity", "ticket_policy", "fail_after", "note"):
        if k in data:
            setattr(p, k, data[k].strip() if isinstance(data[k], str) and k in ("name", "target") else data[k])
    _set_options(p, data["options"] if "options" in data else {**p.options, **{k: MASK for k in p.secrets}})
    _check_fields(session, p)
    if not p.enabled:
        p.next_run_at = None
    elif p.next_run_at is None or "interval_s" in data:
        p.next_run_at = now
    session.flush()
    return p


def delete_probe(session: Session, probe_id: int) -> None:
    p = get_probe(session, probe_id)
    findings.clear_finding(session, key=f"probe:{p.id}", note="探针已删除")
    session.delete(p)
    session.flush()


def list_probes(session: Session, *, kind: str | None = None, state: str | None = None,
                system_code: str | None = None, asset_id: int | None = None, enabled: bool | None = None,
                q: str | None = None, limit: int = 200, offset: int = 0) -> tuple[list[Probe], int]:
    """Failing first, then never run, then the rest; by name within each."""
    if state is not None and state not in PROBE_STATES:
        raise Invalid(f"未知的状态 {state!r}（可选：{'、'.join(PROBE_STATES)}）")
    query = select(Probe)
    for col, value in ((Probe.kind, kind), (Probe.state, state), (Probe.system_code, system_code),
                       (Probe.asset_id, asset_id), (Probe.enabled, enabled)):
        if value is not None:
            query = query.where(col == value)
    if q and q.strip():
        query = query.where(text_search(q, Probe.name, Probe.target))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = case((Probe.state == "failing", 0), (Probe.state == "unknown", 1), else_=2)
    rows = session.scalars(query.order_by(order, Probe.name).limit(limit).offset(offset))
    return list(rows), total


def probes_for(session: Session, *, system_code: str | None = None, module_id: int | None = None,
               asset_id: int | None = None) -> list[Probe]:
    """The enabled probes attached to a system (any of its modules), a module or an asset."""
    conds = []
    if system_code is not None:
        module_ids = select(Module.id).join(System).where(System.code == system_code)
        conds += [Probe.system_code == system_code, Probe.module_id.in_(module_ids)]
    if module_id is not None:
        conds.append(Probe.module_id == module_id)
    if asset_id is not None:
        conds.append(Probe.asset_id == asset_id)
    if not conds:
        return []
    return list(session.scalars(select(Probe).where(Probe.enabled.is_(True), or_(*conds)).order_by(Probe.name)))


def snapshot(p: Probe) -> Snapshot:
    return Snapshot(p.id, p.kind, p.target, {**p.options, **p.secrets}, p.timeout_s, p.created_at,
                    p.last_push_at, p.last_push_ok, p.last_push_msg)


def execute(snap: Snapshot, now: datetime) -> probes.ProbeResult:
    """The network half: no session, never raises for a failed target."""
    if snap.kind == "push":
        from cityops.inspections.probes import push

        opts = probes.with_defaults("push", probes.validate("push", snap.target or "-", snap.options))
        return push.evaluate(opts, created_at=snap.created_at, last_push_at=snap.last_push_at,
                             last_push_ok=snap.last_push_ok, last_push_msg=snap.last_push_msg, now=now)
    try:
        return probes.run(snap.kind, snap.target, snap.options, timeout_s=snap.timeout_s)
    except Invalid as exc:  # stored options no longer valid (e.g. an adapter changed)
        return probes.ProbeResult(False, None, f"配置无效：{exc.detail}")


def record(session: Session, probe_id: int, result: probes.ProbeResult, *, now: datetime) -> ProbeRun:
    p = get_probe(session, probe_id)
    detail = result.detail
    # Trust on first use: what a check learned (an SSH host key) is pinned unless already set;
    # the change is audited like an edit, and later checks refuse anything else.
    learned = {k: v for k, v in (result.learned or {}).items() if not (p.options or {}).get(k)}
    if learned:
        p.options = {**(p.options or {}), **learned}
        if "host_key" in learned:
            detail += f"（首次连接，已登记主机密钥 {learned['host_key']}）"
    row = ProbeRun(probe_id=p.id, at=now, ok=result.ok, latency_ms=result.latency_ms,
                   detail=detail[:2000], data=result.data or {})
    session.add(row)
    p.last_run_at, p.last_ok, p.last_latency_ms, p.last_detail = now, result.ok, result.latency_ms, detail[:2000]
    p.state = "ok" if result.ok else "failing"
    p.consecutive_failures = 0 if result.ok else p.consecutive_failures + 1
    p.claimed_until = None
    p.next_run_at = now + timedelta(seconds=p.interval_s) if p.enabled else None
    key = f"probe:{p.id}"
    if result.ok:
        findings.clear_finding(session, key=key, now=now)
    elif p.consecutive_failures >= p.fail_after:
        findings.raise_finding(session, key=key, source="probe", title=f"{p.name} 巡检异常",
                               severity=p.severity, detail=f"连续 {p.consecutive_failures} 次失败：{result.detail}",
                               system_code=p.system_code, module_id=p.module_id, asset_id=p.asset_id,
                               ticket_policy=p.ticket_policy, now=now)
    session.flush()
    return row


def run_probe_now(session: Session, probe_id: int, *, now: datetime | None = None, actor: str = "system") -> ProbeRun:
    """Run one configured probe at once, store the result in its history, raise or clear its
    finding, and return the stored result (an object with `.ok`, `.latency_ms`, `.detail`)."""
    p = get_probe(session, probe_id)
    result = execute(snapshot(p), now or utcnow())
    return record(session, probe_id, result, now=now or utcnow())


def claim_due(session: Session, *, now: datetime, limit: int = 50, lease_s: float = 60.0) -> list[Snapshot]:
    """Take up to `limit` due probes for this process. The lease (`claimed_until`) keeps other
    processes off them; a process killed mid-run leaves a lease that simply expires."""
    q = (select(Probe).where(Probe.enabled.is_(True), Probe.next_run_at <= now,
                             or_(Probe.claimed_until.is_(None), Probe.claimed_until < now))
         .order_by(Probe.next_run_at).limit(limit).with_for_update(skip_locked=True))
    out = []
    for p in session.scalars(q):
        p.claimed_until = now + timedelta(seconds=p.timeout_s + lease_s)
        out.append(snapshot(p))
    session.flush()
    return out


def record_push(session: Session, token: str, *, ok: bool = True, msg: str = "", now: datetime | None = None) -> Probe:
    p = session.scalar(select(Probe).where(Probe.push_token == token, Probe.kind == "push")) if token else None
    if p is None:
        raise NotFound("未知的推送令牌")
    p.last_push_at, p.last_push_ok, p.last_push_msg = now or utcnow(), ok, msg[:300]
    if p.enabled:
        p.next_run_at = now or utcnow()  # judge it at once: a reported failure should not wait
    session.flush()
    return p


def by_push_token(session: Session, token: str) -> Probe:
    p = session.scalar(select(Probe).where(Probe.push_token == token))
    if p is None:
        raise NotFound("未知的推送令牌")
    return p


def history(session: Session, probe_id: int, *, start: datetime | None = None, end: datetime | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[ProbeRun], int]:
    get_probe(session, probe_id)
    if start and end and start > end:
        raise Invalid("开始时间晚于结束时间")
    q = select(ProbeRun).where(ProbeRun.probe_id == probe_id)
    if start:
        q = q.where(ProbeRun.at >= start)
    if end:
        q = q.where(ProbeRun.at <= end)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    return list(session.scalars(q.order_by(ProbeRun.at.desc(), ProbeRun.id.desc()).limit(limit).offset(offset))), total


def purge_results(session: Session, *, before: datetime, batch: int = 5000) -> int:
    """Delete one batch of results older than `before`; the job repeats until nothing is left."""
    ids = list(session.scalars(select(ProbeRun.id).where(ProbeRun.at < before).limit(batch)))
    if ids:
        session.execute(delete(ProbeRun).where(ProbeRun.id.in_(ids)))
    return len(ids)
