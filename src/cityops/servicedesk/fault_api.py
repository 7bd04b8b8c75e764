"""Fault grades and fault records API (OPS-4).

Everyone on the O&M staff reads; duty officers and technicians log and work faults; grades
are configured by admin and manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.pagination import PageParams, page_params
from cityops.core.timeutil import local, utcnow
from cityops.servicedesk import fault_brief, fault_grades, fault_service
from cityops.servicedesk.fault_models import Fault, FaultGrade
from cityops.servicedesk.fault_schemas import (EntryIn, EntryOut, FaultIn, FaultOut, FaultPage, FaultPatch,
                                               GradeIn, GradeOut, GradePatch, MoveIn, StatusOut)

router = APIRouter(tags=["faults"])
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager", "duty", "technician")
CONFIG = ("admin", "manager")
Reader = Annotated[Principal, Depends(require(*READERS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]
Configurer = Annotated[Principal, Depends(require(*CONFIG))]
DOWNLOAD_FORMATS = ("pdf", "docx")


def fault_out(session, fault: Fault, *, detail: bool = False) -> FaultOut:
    grade = session.get(FaultGrade, fault.grade_id)
    out = FaultOut.model_validate(fault)
    out.grade = grade.name
    out.status = StatusOut(**fault_service.fault_status(fault, utcnow(), grade))
    if detail:
        out.timeline = [EntryOut.model_validate(e) for e in fault_service.timeline(session, fault.id)]
    return out


# -- grades ----------------------------------------------------------------------------------
@router.get("/api/v1/fault-grades", response_model=list[GradeOut])
def grades(session: DbSession, _: Reader):
    return [GradeOut.model_validate(g) for g in fault_grades.list_grades(session)]


@router.post("/api/v1/fault-grades", response_model=GradeOut, status_code=201)
def create_grade(body: GradeIn, session: DbSession, _: Configurer):
    return GradeOut.model_validate(fault_grades.create_grade(session, **body.model_dump()))


@router.patch("/api/v1/fault-grades/{grade_id}", response_model=GradeOut)
def update_grade(grade_id: int, body: GradePatch, session: DbSession, _: Configurer):
    return GradeOut.model_validate(fault_grades.update_grade(session, grade_id, **body.model_dump(exclude_unset=True)))


@router.delete("/api/v1/fault-grades/{grade_id}", status_code=204)
def delete_grade(grade_id: int, session: DbSession, _: Configurer):
    fault_grades.delete_grade(session, grade_id)


# -- faults ----------------------------------------------------------------------------------
@router.get("/api/v1/faults", response_model=FaultPage)
def faults(session: DbSession, _: Reader, page: Annotated[PageParams, Depends(page_params)],
           state: str | None = None, grade_id: int | None = None,
           open_only: Annotated[bool, Query(alias="open")] = False):
    rows, total = fault_service.list_faults(session, state=state, grade_id=grade_id, open_only=open_only,
                                            limit=page.limit, offset=page.offset)
    return FaultPage(items=[fault_out(session, f) for f in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/api/v1/faults/summary")
def summary(session: DbSession, _: Reader):
    """Open faults by grade and the overdue ones, for the duty home page."""
    return fault_service.open_summary(session, utcnow())


@router.post("/api/v1/faults", response_model=FaultOut, status_code=201)
def create_fault(body: FaultIn, session: DbSession, p: Writer):
    fault = fault_service.open_fault(session, **body.model_dump(), actor=p.username, now=utcnow())
    return fault_out(session, fault, detail=True)


@router.get("/api/v1/faults/{fault_id}", response_model=FaultOut)
def fault(fault_id: int, session: DbSession, _: Reader):
    return fault_out(session, fault_service.get_fault(session, fault_id), detail=True)


@router.patch("/api/v1/faults/{fault_id}", response_model=FaultOut)
def update_fault(fault_id: int, body: FaultPatch, session: DbSession, p: Writer):
    f = fault_service.update_fault(session, fault_id, actor=p.username, now=utcnow(),
                                   **body.model_dump(exclude_unset=True))
    return fault_out(session, f, detail=True)


@router.post("/api/v1/faults/{fault_id}/entries", response_model=EntryOut, status_code=201)
def add_entry(fault_id: int, body: EntryIn, session: DbSession, p: Writer):
    return EntryOut.model_validate(fault_service.add_note(session, fault_id, text=body.text, author=p.username,
                                                          now=utcnow(), at=body.at))


@router.post("/api/v1/faults/{fault_id}/transition", response_model=FaultOut)
def transition(fault_id: int, body: MoveIn, session: DbSession, p: Writer):
    f = fault_service.move(session, fault_id, body.to, actor=p.username, now=utcnow(), at=body.at, note=body.note)
    return fault_out(session, f, detail=True)


def brief_download(session, fault_id: int, fmt: str, author: str) -> Response:
    """The brief as an attachment named 故障处理简报-GZ….pdf (ASCII fallback fault-brief-GZ….pdf)."""
    from cityops.monitoring.kpi_export import attachment
    from cityops.reports.render import to_docx, to_pdf

    now = utcnow()
    doc = fault_brief.brief_document(session, fault_id, now=now, author=author)
    body = to_pdf(doc) if fmt == "pdf" else to_docx(doc)
    number = fault_service.get_fault(session, fault_id).number
    stamp = local(now).strftime("%Y%m%d")
    return attachment(body, fmt, f"fault-brief-{number}-{stamp}.{fmt}", f"故障处理简报-{number}.{fmt}")


@router.get("/api/v1/faults/{fault_id}/brief.{fmt}")
def brief(fault_id: int, fmt: str, session: DbSession, p: Reader):
    if fmt not in DOWNLOAD_FORMATS:
        from cityops.core.errors import NotFound

        raise NotFound(f"不支持的格式 {fmt}（可选 pdf、docx）")
    return brief_download(session, fault_id, fmt, p.display_name or p.username)
