"""Device metadata quality API (IOT-1 设备元数据纠错): findings, decisions, runs, scores and
the road/place gazetteer.

Readers: every role; street users see the findings and scores of their street's devices
only. Deciders (accept/reject, run now): admin, manager, technician. Gazetteer edits:
admin, manager.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field

from cityops.auth.deps import ALL_ROLES, REF_WRITERS, DbSession, Principal, require
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.schemas import LocalTime, Out
from cityops.devices import checks, quality
from cityops.devices.models import Device
from cityops.devices.quality_models import MetadataFinding

router = APIRouter(prefix="/api/v1/devices/quality", tags=["device quality"])
DECIDERS = (*REF_WRITERS, "technician")
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Decider = Annotated[Principal, Depends(require(*DECIDERS))]
Editor = Annotated[Principal, Depends(require(*REF_WRITERS))]


class ChangeOut(BaseModel):
    field: str
    label: str
    before: Any
    after: Any
    before_text: str
    after_text: str


class FindingOut(BaseModel):
    id: int
    device_id: int
    device_code: str
    device_name: str
    device_type: str
    vendor: str
    street_code: str | None
    check: str
    check_label: str
    severity: str
    message: str
    details: dict[str, Any]
    proposed: dict[str, Any]
    changes: list[ChangeOut]
    state: str
    created_at: LocalTime
    decided_at: LocalTime | None
    decided_by: str
    decision_note: str

    @classmethod
    def of(cls, f: MetadataFinding, d: Device, labels: quality.Labeller) -> FindingOut:
        return cls(id=f.id, device_id=d.id, device_code=d.code, device_name=d.name, device_type=d.device_type,
                   vendor=d.vendor, street_code=d.street_code, check=f.check,
                   check_label=checks.CHECK_LABELS.get(f.check, f.check), severity=f.severity, message=f.message,
                   details=f.details or {}, proposed=f.proposed or {},
                   changes=[ChangeOut(**c) for c in labels.changes(f, d)], state=f.state, created_at=f.created_at,
                   decided_at=f.decided_at, decided_by=f.decided_by, decision_note=f.decision_note)


class CheckOut(BaseModel):
    code: str
    label: str
    severity: str


class DecisionIn(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=quality.MAX_BATCH)
    note: str = Field("", max_length=512)


class RunIn(BaseModel):
    device_ids: list[int] | None = Field(None, description="devices to check; omitted = every device")


class GazetteerIn(BaseModel):
    name: str = Field(min_length=2, max_length=64)
    street_codes: list[str] = Field(min_length=1, description="every street the road or place lies in")
    kind: str = "road"
    note: str = Field("", max_length=128)


class GazetteerOut(Out):
    id: int
    name: str
    street_code: str
    kind: str
    note: str
    source: str
    active: bool
    created_at: LocalTime


@router.get("/checks", response_model=list[CheckOut])
def list_checks(_: Reader):
    """The checks, their labels and default severities."""
    return [CheckOut(code=k, label=label, severity=sev) for k, (label, sev) in checks.CHECKS.items()]


@router.get("/findings", response_model=Page[FindingOut])
def findings(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
             check: str | None = None, state: str | None = None, street: str | None = None,
             vendor: str | None = None, severity: str | None = None, device_id: int | None = None):
    """Findings, newest first, filtered by check, state, street, vendor, severity or device."""
    rows, total = quality.list_findings(session, scope=p.street_scope, check=check, state=state, street=street,
                                        vendor=vendor, severity=severity, device_id=device_id, limit=page.limit,
                                        offset=page.offset)
    labels = quality.Labeller(session)
    return Page(items=[FindingOut.of(f, d, labels) for f, d in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/findings/{finding_id}", response_model=FindingOut)
def finding(finding_id: int, session: DbSession, p: Reader):
    f = quality.get_finding(session, finding_id, scope=p.street_scope)
    return FindingOut.of(f, session.get(Device, f.device_id), quality.Labeller(session))


@router.post("/findings/accept")
def accept(body: DecisionIn, session: DbSession, _: Decider) -> dict[str, Any]:
    """Apply the proposed corrections (device versions with source "correction")."""
    return quality.accept(session, body.ids, body.note)


@router.post("/findings/reject")
def reject(body: DecisionIn, session: DbSession, _: Decider) -> dict[str, Any]:
    """Mark findings as wrong; they are not reopened while the device data stay the same."""
    return quality.reject(session, body.ids, body.note)


@router.post("/run")
def run(session: DbSession, _: Decider, body: Annotated[RunIn | None, Body()] = None) -> dict[str, Any]:
    """Run the checks now, on the given devices or on all of them."""
    ids = body.device_ids if body is not None else None
    return checks.run_checks(session, ids)


@router.get("/scores")
def scores(session: DbSession, p: Reader) -> dict[str, Any]:
    """Data-quality score per street and per vendor, with the formula."""
    return quality.quality_scores(session, scope=p.street_scope)


@router.get("/gazetteer", response_model=list[GazetteerOut])
def gazetteer(session: DbSession, _: Reader, q: str | None = None, street: str | None = None,
              active: bool | None = None):
    return [GazetteerOut.model_validate(e) for e in quality.list_gazetteer(session, q=q, street=street,
                                                                            active=active)]


@router.post("/gazetteer", response_model=list[GazetteerOut], status_code=201)
def add_gazetteer(body: GazetteerIn, session: DbSession, _: Editor):
    """Add a road/place name for one or more streets (one entry per street)."""
    entries = quality.add_gazetteer(session, name=body.name, street_codes=body.street_codes, kind=body.kind,
                                    note=body.note)
    return [GazetteerOut.model_validate(e) for e in entries]


@router.delete("/gazetteer/{entry_id}", response_model=GazetteerOut)
def deactivate_gazetteer(entry_id: int, session: DbSession, _: Editor):
    """Deactivate an entry (kept for history; adding the same name and street reactivates it)."""
    return GazetteerOut.model_validate(quality.deactivate_gazetteer(session, entry_id))
