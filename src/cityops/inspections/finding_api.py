"""Findings API (OPS-1, ROOM-1): `/api/v1/findings` — list with filters, get, resolve.

Staff read; resolving (with a note) is for admins, managers, duty officers and technicians."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.core.errors import Invalid
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.core.timeutil import utcnow
from cityops.inspections import findings
from cityops.inspections.finding_models import FINDING_SEVERITIES, FINDING_SOURCES, FINDING_STATES

router = APIRouter(prefix="/api/v1/findings", tags=["inspections"])
RESOLVERS = ("admin", "manager", "duty", "technician")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Resolver = Annotated[Principal, Depends(require(*RESOLVERS))]


class FindingOut(Out):
    id: int
    key: str
    source: str
    severity: str
    state: str
    title: str
    detail: str
    system_code: str | None
    module_id: int | None
    asset_id: int | None
    occurrences: int
    first_seen_at: LocalTime
    last_seen_at: LocalTime
    resolved_at: LocalTime | None
    resolved_by: str
    resolution: str
    ticket_id: int | None


class ResolveIn(BaseModel):
    note: str


def _out(f) -> FindingOut:
    return FindingOut(**findings.as_dict(f))


def _check(name: str, value: str | None, allowed: dict) -> None:
    if value is not None and value not in allowed:
        raise Invalid(f"未知的{name} {value!r}（可选：{'、'.join(allowed)}）")


@router.get("", response_model=Page[FindingOut])
def list_findings(session: DbSession, _: Reader, page: Annotated[PageParams, Depends(page_params)],
                  state: str | None = "open", source: str | None = None, severity: str | None = None,
                  system: str | None = None, asset_id: int | None = None):
    """`state=all` lists open and resolved findings; the default is the open ones."""
    state = None if state == "all" else state
    _check("状态", state, FINDING_STATES)
    _check("来源", source, FINDING_SOURCES)
    _check("严重程度", severity, FINDING_SEVERITIES)
    rows, total = findings.search_findings(session, state=state, source=source, system_code=system,
                                           asset_id=asset_id, severity=severity, limit=page.limit, offset=page.offset)
    return Page(items=[_out(f) for f in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{finding_id}", response_model=FindingOut)
def get_finding(finding_id: int, session: DbSession, _: Reader):
    return _out(findings.get(session, finding_id))


@router.post("/{finding_id}/resolve", response_model=FindingOut)
def resolve_finding(finding_id: int, body: ResolveIn, session: DbSession, who: Resolver):
    return _out(findings.resolve(session, finding_id, note=body.note, actor=who.username, now=utcnow()))
