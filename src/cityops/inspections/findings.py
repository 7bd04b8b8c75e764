"""Findings (OPS-1, ROOM-1): raised by probes, checklists and plans; one open finding per key.

A finding can open a service-desk ticket. Whether it does is the inspection's ticket policy:
`never`, `major` (severity major or critical; the default) or `always`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.inspections.finding_models import FINDING_SEVERITIES, FINDING_SOURCES, Finding

TICKET_POLICIES = {"never": "不开工单", "major": "重要及以上开工单", "always": "均开工单"}
_RANK = {s: i for i, s in enumerate(FINDING_SEVERITIES)}
# A finding's severity as the service desk's impact and urgency (1 high … 3 low).
_TICKET_LEVEL = {"critical": (1, 1), "major": (2, 1), "warning": (2, 2), "info": (3, 3)}


def ticket_wanted(severity: str, policy: str) -> bool:
    if policy not in TICKET_POLICIES:
        raise Invalid(f"未知的工单策略 {policy!r}（可选：{'、'.join(TICKET_POLICIES)}）")
    return policy == "always" or (policy == "major" and _RANK[severity] >= _RANK["major"])


def open_finding(session: Session, key: str) -> Finding | None:
    return session.scalar(select(Finding).where(Finding.key == key, Finding.state == "open"))


def raise_finding(session: Session, *, key: str, source: str, title: str, severity: str = "warning",
                  detail: str = "", system_code: str | None = None, module_id: int | None = None,
                  asset_id: int | None = None, ticket_policy: str = "major", actor: str = "system",
                  now: datetime | None = None) -> Finding:
    """Open a finding, or count one more occurrence of the open finding with this key (its
    severity only goes up). A ticket is opened once per finding, when the policy asks."""
    if source not in FINDING_SOURCES:
        raise Invalid(f"未知的发现来源 {source!r}")
    if severity not in FINDING_SEVERITIES:
        raise Invalid(f"未知的严重程度 {severity!r}（可选：{'、'.join(FINDING_SEVERITIES)}）")
    now = now or utcnow()
    f = open_finding(session, key)
    if f is None:
        f = Finding(key=key, source=source, severity=severity, title=title[:200], detail=detail,
                    system_code=system_code, module_id=module_id, asset_id=asset_id,
                    first_seen_at=now, last_seen_at=now)
        session.add(f)
    else:
        f.occurrences += 1
        f.last_seen_at = now
        f.detail = detail or f.detail
        if _RANK[severity] > _RANK[f.severity]:
            f.severity = severity
    session.flush()
    if f.ticket_id is None and ticket_wanted(f.severity, ticket_policy):
        from cityops.servicedesk import service as desk

        impact, urgency = _TICKET_LEVEL[f.severity]
        t = desk.open_ticket(session, title=f"[巡检发现] {f.title}"[:200], description=f.detail,
                             source="inspection", nature="incident", impact=impact, urgency=urgency,
                             system_code=f.system_code, module_id=f.module_id, asset_id=f.asset_id,
                             finding_id=f.id, actor=actor, now=now)
        f.ticket_id = t.id
        session.flush()
    return f


def clear_finding(session: Session, *, key: str, note: str = "复查正常，自动关闭", actor: str = "system",
                  now: datetime | None = None) -> Finding | None:
    """The check behind `key` passed again: resolve its open finding, if any."""
    f = open_finding(session, key)
    if f is not None:
        _resolve(f, note, actor, now or utcnow())
        session.flush()
    return f


def resolve(session: Session, finding_id: int, *, note: str, actor: str, now: datetime | None = None) -> Finding:
    f = get(session, finding_id)
    if f.state != "open":
        raise Conflict(f"发现 {finding_id} 已解决")
    if not note.strip():
        raise Invalid("请填写处理说明")
    _resolve(f, note.strip(), actor, now or utcnow())
    session.flush()
    return f


def _resolve(f: Finding, note: str, actor: str, now: datetime) -> None:
    f.state, f.resolved_at, f.resolved_by, f.resolution = "resolved", now, actor, note


def get(session: Session, finding_id: int) -> Finding:
    f = session.get(Finding, finding_id)
    if f is None:
        raise NotFound(f"巡检发现 {finding_id} 不存在")
    return f


def list_findings(session: Session, *, state: str | None = "open", source: str | None = None,
                  system_code: str | None = None, asset_id: int | None = None,
                  limit: int = 200, offset: int = 0) -> tuple[list[Finding], int]:
    q = select(Finding)
    for col, value in ((Finding.state, state), (Finding.source, source), (Finding.system_code, system_code),
                       (Finding.asset_id, asset_id)):
        if value is not None:
            q = q.where(col == value)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(Finding.last_seen_at.desc(), Finding.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def as_dict(f: Finding) -> dict[str, Any]:
    return {"id": f.id, "key": f.key, "source": f.source, "severity": f.severity, "state": f.state,
            "title": f.title, "detail": f.detail, "system_code": f.system_code, "module_id": f.module_id,
            "asset_id": f.asset_id, "occurrences": f.occurrences, "first_seen_at": f.first_seen_at,
            "last_seen_at": f.last_seen_at, "resolved_at": f.resolved_at, "resolved_by": f.resolved_by,
            "resolution": f.resolution, "ticket_id": f.ticket_id}


def search_findings(session: Session, *, state: str | None = None, source: str | None = None,
                    severity: str | None = None, system_code: str | None = None, asset_id: int | None = None,
                    limit: int = 200, offset: int = 0) -> tuple[list[Finding], int]:
    """For the findings list and console: open first, then the most severe, then the latest."""
    from sqlalchemy import case

    q = select(Finding)
    for col, value in ((Finding.state, state), (Finding.source, source), (Finding.severity, severity),
                       (Finding.system_code, system_code), (Finding.asset_id, asset_id)):
        if value is not None:
            q = q.where(col == value)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rank = case(*((Finding.severity == s, -i) for s, i in _RANK.items()), else_=0)
    order = (case((Finding.state == "open", 0), else_=1), rank, Finding.last_seen_at.desc(), Finding.id.desc())
    return list(session.scalars(q.order_by(*order).limit(limit).offset(offset))), total


def open_counts(session: Session) -> dict[str, int]:
    """Open findings per severity (for the duty officer's home page)."""
    rows = session.execute(select(Finding.severity, func.count()).where(Finding.state == "open")
                           .group_by(Finding.severity))
    return {s: 0 for s in FINDING_SEVERITIES} | {s: n for s, n in rows}
