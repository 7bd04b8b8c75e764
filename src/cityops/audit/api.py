"""Audit log API: read and verify (SVC-3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cityops.audit import service
from cityops.auth.deps import AUDIT_READERS, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditOut(Out):
    seq: int
    at: LocalTime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str
    hash: str


@router.get("", response_model=Page[AuditOut])
def list_audit(session: DbSession, _: Annotated[Principal, Depends(require(*AUDIT_READERS))],
               page: Annotated[PageParams, Depends(page_params)], entity: str | None = None,
               actor: str | None = None):
    rows, total = service.list_entries(session, entity=entity, actor=actor, limit=page.limit, offset=page.offset)
    return Page(items=[AuditOut.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/verify")
def verify(session: DbSession, _: Annotated[Principal, Depends(require(*AUDIT_READERS))]):
    """Walk the chain; report the first broken link."""
    return service.verify(session).as_dict()
