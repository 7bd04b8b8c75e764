"""Device import/export API (IOT-1 metadata correction, IOT-2 onboarding): the CSV/XLSX
sheets operators exchange with vendors and carriers.

* ``GET  /api/v1/devices/export?format=csv|xlsx&…filters`` — every role; street users get
  their own street only. CSV is streamed batch by batch (UTF-8 with BOM for Excel); XLSX is
  written in openpyxl's write-only mode to a spooled temporary file and streamed from it.
* ``POST /api/v1/devices/import`` — multipart ``file`` plus form fields ``dry_run`` (default
  true), ``reason``, ``limit``/``offset`` (the page of report rows). A dry run answers the
  report (counts, every error, a page of the rows that would change with their diffs);
  ``dry_run=false`` applies the valid rows and answers the counts and the skipped rows' errors.

This router registers no ``/api/v1/devices/{id}`` route; include it *before* a router that
has ``/api/v1/devices/{device_id}`` (or give that one an ``:int`` convertor) so "export"
and "import" are not taken for device ids.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from cityops.audit import service as audit
from cityops.auth.deps import ALL_ROLES, REF_WRITERS, DbSession, Principal, require
from cityops.core.db import Database
from cityops.core.errors import Problem
from cityops.core.timeutil import local, utcnow
from cityops.devices import transfer

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
IMPORTERS = (*REF_WRITERS, "technician")
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Importer = Annotated[Principal, Depends(require(*IMPORTERS))]
_CHUNK = 64 * 1024


def export_filters(street: str | None = None, grid: str | None = None, device_type: str | None = None,
                   vendor: str | None = None, platform: str | None = None, status: str | None = None,
                   tag: Annotated[list[str] | None, Query()] = None, online: str | None = None,
                   q: str | None = None, product_id: str | None = None) -> dict[str, Any]:
    """The device list's filters (service.device_query); `tag` may repeat (all must match).
    Lenient on purpose: a console link that carries the list page's query string as is
    (``online=&tag=``) exports instead of failing; an empty value means "any"."""
    online_ = {"1": True, "true": True, "0": False, "false": False}.get((online or "").strip().lower())
    tags = [int(t) for t in tag or [] if t.strip().isdigit()]
    out = {"street": street, "grid": grid, "device_type": device_type, "vendor": vendor, "platform": platform,
           "status": status, "tag_ids": tags, "online": online_, "q": q,
           "product_id": int(product_id) if product_id and product_id.strip().isdigit() else None}
    return {k: v for k, v in out.items() if v not in (None, "", [])}


Filters = Annotated[dict[str, Any], Depends(export_filters)]


def export_filename(fmt: str, scope: str | None, today: date | None = None) -> tuple[str, str]:
    """(ASCII name, UTF-8 name) with the local date, e.g. devices-20260501.csv / 设备台账-20260501.csv."""
    stamp = (today or local(utcnow()).date()).strftime("%Y%m%d")
    part = f"-{scope}" if scope else ""
    return f"devices{part}-{stamp}.{fmt}", f"设备台账{part}-{stamp}.{fmt}"


def _iter_file(f) -> Iterator[bytes]:
    try:
        while chunk := f.read(_CHUNK):
            yield chunk
    finally:
        f.close()


def _iter_csv(db: Database, filters: dict[str, Any]) -> Iterator[bytes]:
    # Its own session: the request's closes when the handler returns, before the body streams.
    with db.session() as s:
        yield from transfer.iter_csv(s, **filters)


def export_response(request: Request, session, fmt: str, filters: dict[str, Any],
                    scope: str | None) -> StreamingResponse:
    """The download for the API and the console alike; the export itself is audited (SVC-3)."""
    if scope:
        filters = {**filters, "scope": scope}
    audit.record(session, "export", "devices", fmt, after={"format": fmt, "filters": filters})
    ascii_name, utf8_name = export_filename(fmt, scope)
    headers = {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name)}",
               "Cache-Control": "no-store"}
    if fmt == "csv":
        body = _iter_csv(request.app.state.ctx.db, filters)
    else:
        tmp = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)
        transfer.write_xlsx(session, tmp, **filters)
        tmp.seek(0)
        body = _iter_file(tmp)
    return StreamingResponse(body, media_type=transfer.CONTENT_TYPES[fmt], headers=headers)


@router.get("/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, transfer.CONTENT_TYPES["xlsx"]: {}},
                             "description": "the devices as CSV (UTF-8 with BOM) or XLSX"}})
def export(request: Request, session: DbSession, p: Reader, filters: Filters,
           fmt: Annotated[str, Query(alias="format", pattern="^(csv|xlsx)$")] = "csv"):
    """Devices matching the filters as a sheet with Chinese headers (IOT-1); street users get
    their street only."""
    return export_response(request, session, fmt, filters, p.street_scope)


def read_upload(file: UploadFile) -> bytes:
    data = file.file.read(transfer.MAX_UPLOAD_BYTES + 1)
    if len(data) > transfer.MAX_UPLOAD_BYTES:
        raise Problem(413, "Content Too Large",
                      f"文件超过 {transfer.MAX_UPLOAD_BYTES // 2**20} MB / the file exceeds "
                      f"{transfer.MAX_UPLOAD_BYTES // 2**20} MB")
    return data


@router.post("/import")
def import_devices(session: DbSession, _: Importer, file: Annotated[UploadFile, File()],
                   dry_run: Annotated[bool, Form()] = True, reason: Annotated[str, Form(max_length=200)] = "",
                   limit: Annotated[int, Form(ge=1, le=5000)] = 200, offset: Annotated[int, Form(ge=0)] = 0):
    """Bulk onboarding and correction from a CSV/XLSX sheet (IOT-1, IOT-2), keyed on
    (接入平台, 平台设备ID). A dry run (the default) writes nothing and reports per row what
    would happen; `dry_run=false` applies the valid rows (versions and audit, source "import")."""
    sheet = transfer.parse_upload(read_upload(file), file.filename or "")
    plan = transfer.plan_import(session, sheet)
    if dry_run:
        return {"dry_run": True, **plan.report(limit=limit, offset=offset)}
    counts = transfer.apply_import(session, plan, reason)
    return {"dry_run": False, "filename": plan.filename, "counts": counts, "plan": plan.counts,
            "errors": [e.as_dict() for e in plan.errors]}
