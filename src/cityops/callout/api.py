"""Call lists, do-not-call and the compliance gate over HTTP (CALL-4).

Writers are the roles that run calls (admin, manager, duty); district staff read. Numbers are
masked (139****5678) for roles without access to personal data."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cityops.audit.service import mask_phone
from cityops.auth.deps import STAFF, DbSession, Principal, require
from cityops.callout import compliance, lists, numbers
from cityops.callout.list_models import CallList, CallListEntry, DoNotCall
from cityops.callout.scenarios import LABELS
from cityops.core.errors import Invalid
from cityops.core.pagination import Page, PageParams, page_params
from cityops.core.timeutil import SHANGHAI, utcnow

router = APIRouter(prefix="/api/v1/callout", tags=["callout"])
WRITERS = ("admin", "manager", "duty")
Reader = Annotated[Principal, Depends(require(*STAFF))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]


def show(number: str | None, p: Principal) -> str:
    text = numbers.national(number) if number and number.startswith("+") else (number or "")
    return text if p.sees_pii else mask_phone(text)


def end_of(day: date | None) -> datetime | None:
    """A list valid "until 2026-12-31" may be used through that Beijing day."""
    return None if day is None else datetime.combine(day + timedelta(days=1), time(), SHANGHAI)


class ListOut(BaseModel):
    id: int
    name: str
    scenario: str
    scenario_label: str
    source: str
    consent_basis: str
    valid_until: datetime | None
    created_by: str
    created_at: datetime
    counts: dict[str, int]
    expired: bool
    stale: bool


class EntryOut(BaseModel):
    row: int
    name: str
    number: str
    kind: str | None
    consent_source: str
    business_ref: str
    extra: dict
    status: str
    reason: str


class ListDetail(ListOut):
    entries: Page[EntryOut]


class DncIn(BaseModel):
    number: str
    scenario: str | None = None
    reason: str = ""


class DncOut(BaseModel):
    id: int
    number: str
    scenario: str | None
    reason: str
    source: str
    created_at: datetime
    created_by: str


class CheckIn(BaseModel):
    number: str
    scenario: str
    at: datetime | None = None
    priority: str = "normal"
    list_entry_id: int | None = None


class CheckOut(BaseModel):
    allowed: bool
    rules: list[str]
    reasons: list[str]


def list_out(cl: CallList) -> ListOut:
    return ListOut(id=cl.id, name=cl.name, scenario=cl.scenario, scenario_label=LABELS.get(cl.scenario, cl.scenario),
                   source=cl.source, consent_basis=cl.consent_basis, valid_until=cl.valid_until,
                   created_by=cl.created_by, created_at=cl.created_at,
                   counts={"total": cl.total, "ok": cl.ok_count, "invalid": cl.invalid_count,
                           "duplicate": cl.duplicate_count, "dnc": cl.dnc_count},
                   expired=lists.is_expired(cl), stale=lists.is_stale(cl))


def entry_out(e: CallListEntry, p: Principal) -> EntryOut:
    return EntryOut(row=e.row, name=e.name, number=show(e.number_e164 or e.raw_number, p), kind=e.kind,
                    consent_source=e.consent_source, business_ref=e.business_ref, extra=e.extra or {},
                    status=e.status, reason=e.reason)


def dnc_out(d: DoNotCall, p: Principal) -> DncOut:
    return DncOut(id=d.id, number=show(d.number_e164, p), scenario=d.scenario, reason=d.reason, source=d.source,
                  created_at=d.created_at, created_by=d.created_by)


@router.post("/lists", responses={201: {"description": "saved"}, 200: {"description": "dry run"}})
async def import_list(session: DbSession, p: Writer, file: Annotated[UploadFile, File()],
                      name: Annotated[str, Form()], scenario: Annotated[str, Form()],
                      source: Annotated[str, Form()] = "", consent_basis: Annotated[str, Form()] = "",
                      valid_until: Annotated[date | None, Form()] = None, dry_run: Annotated[bool, Form()] = False):
    """Import a CSV/XLSX call list; `dry_run=true` answers the counts and first errors and saves nothing."""
    data = await file.read()
    if not data:
        raise Invalid("文件为空")
    r = lists.import_list(session, data, file.filename or "", name=name, scenario=scenario, source=source,
                          consent_basis=consent_basis, valid_until=end_of(valid_until), created_by=p.username,
                          dry_run=dry_run)
    body = {"dry_run": r.dry_run, "counts": r.counts, "list_id": r.list_id,
            "errors": [{**e, "number": show(e["number"], p)} for e in r.errors]}
    return JSONResponse(body, status_code=200 if dry_run else 201)


@router.get("/lists", response_model=list[ListOut])
def get_lists(session: DbSession, p: Reader):
    return [list_out(cl) for cl in lists.list_lists(session)]


@router.get("/lists/{list_id}", response_model=ListDetail)
def get_list(list_id: int, session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)],
             status: str | None = None):
    cl = lists.get_list(session, list_id)
    rows, total = lists.entries(session, list_id, status=status, limit=page.limit, offset=page.offset)
    return ListDetail(**list_out(cl).model_dump(),
                      entries=Page(items=[entry_out(e, p) for e in rows], total=total, limit=page.limit,
                                   offset=page.offset))


@router.get("/dnc", response_model=Page[DncOut])
def get_dnc(session: DbSession, p: Reader, page: Annotated[PageParams, Depends(page_params)]):
    rows, total = lists.list_dnc(session, limit=page.limit, offset=page.offset)
    return Page(items=[dnc_out(d, p) for d in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/dnc", response_model=DncOut, status_code=201)
def add_dnc(body: DncIn, session: DbSession, p: Writer):
    return dnc_out(lists.add_dnc(session, body.number, body.scenario, reason=body.reason, created_by=p.username), p)


@router.delete("/dnc/{dnc_id}", status_code=204)
def delete_dnc(dnc_id: int, session: DbSession, p: Writer):
    lists.remove_dnc(session, dnc_id)


@router.post("/check", response_model=CheckOut)
def check(body: CheckIn, session: DbSession, p: Writer):
    """Ask the gate about one number now (or at `at`; without an offset it is Beijing time);
    the answer is logged like a dial's."""
    at = body.at or utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    entry = session.get(CallListEntry, body.list_entry_id) if body.list_entry_id else None
    if body.list_entry_id and entry is None:
        raise Invalid(f"名单条目 {body.list_entry_id} 不存在")
    d = compliance.check(session, number=body.number, scenario=body.scenario, at=at,
                         priority=body.priority, list_entry=entry)
    return CheckOut(allowed=d.allowed, rules=d.rules, reasons=d.reasons)
