"""Console pages for bulk device import/export (IOT-1 metadata correction, IOT-2 onboarding).

``GET /console/devices/import`` shows the upload form, the export links and the column
layout. Uploading runs the dry run and shows its report: counts, the errors table, the
updates' field diffs and the first new devices. The "apply" button does not upload again:

Upload store — the uploaded bytes are kept for ``UPLOAD_TTL_S`` (1 hour) under
``<var_dir>/imports/<id>.upload`` with ``<id>.json`` (uploader's user id, file name, time,
the dry run's counts). ``<id>`` is 24 random URL-safe bytes; only the uploader may apply
it; applying re-reads the file and plans again against the database as it is *now*
(and says so if the counts moved since the preview), then deletes it. Expired entries are
removed whenever the page stores or applies an upload.

``GET /console/devices/export?format=csv|xlsx&…`` is the console (cookie) twin of the API
export, with the same filters and street scope, for links on console pages.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.devices import transfer
from cityops.devices.transfer_api import IMPORTERS, Filters, export_response, read_upload
from cityops.geo.models import Street
from cityops.web.shell import ConsoleUser, check_csrf, console_user, render, require_console

router = APIRouter(include_in_schema=False)
Viewer = Annotated[ConsoleUser, Depends(console_user)]
Importer = Annotated[ConsoleUser, Depends(require_console(*IMPORTERS))]
UPLOAD_TTL_S = 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
ERRORS_SHOWN = 500
ROWS_SHOWN = 300


def _store_dir(request: Request) -> Path:
    d = Path(request.app.state.ctx.settings.var_dir) / "imports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _purge(d: Path) -> None:
    cutoff = time.time() - UPLOAD_TTL_S
    for f in d.glob("*"):
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
        except FileNotFoundError:
            pass


def store_upload(request: Request, user: ConsoleUser, filename: str, data: bytes, counts: dict[str, int]) -> str:
    d = _store_dir(request)
    _purge(d)
    token = secrets.token_urlsafe(24)
    (d / f"{token}.upload").write_bytes(data)
    (d / f"{token}.json").write_text(json.dumps({"user_id": user.id, "filename": filename, "at": time.time(),
                                                 "counts": counts}, ensure_ascii=False))
    return token


def load_upload(request: Request, user: ConsoleUser, token: str) -> tuple[dict[str, Any], bytes] | None:
    """The stored upload, or None when it is unknown, expired or someone else's."""
    if not _TOKEN.match(token or ""):
        return None
    d = _store_dir(request)
    _purge(d)
    try:
        meta = json.loads((d / f"{token}.json").read_text())
        data = (d / f"{token}.upload").read_bytes()
    except (FileNotFoundError, ValueError):
        return None
    if meta.get("user_id") != user.id:
        return None
    return meta, data


def drop_upload(request: Request, token: str) -> None:
    d = _store_dir(request)
    for suffix in (".upload", ".json"):
        (d / f"{token}{suffix}").unlink(missing_ok=True)


def _page(request: Request, user: ConsoleUser, *, status_code: int = 200, **context):
    return render(request, "devices/import.html", user, "device_import", status_code=status_code,
                  columns=transfer.COLUMNS, errors_shown=ERRORS_SHOWN, rows_shown=ROWS_SHOWN, **context)


@router.get("/console/devices/import")
def import_page(request: Request, user: Importer):
    """The upload form, export links and the column layout (IOT-1, IOT-2)."""
    return _page(request, user)


@router.post("/console/devices/import")
def import_preview(request: Request, session: DbSession, user: Importer, file: Annotated[UploadFile, File()],
                   csrf: Annotated[str, Form()] = ""):
    """Upload → dry run → report; the file is kept for the apply button (see the module doc)."""
    check_csrf(csrf, user)
    filename = file.filename or "upload"
    try:
        data = read_upload(file)
        plan = transfer.plan_import(session, transfer.parse_upload(data, filename))
    except Problem as exc:
        return _page(request, user, flash=f"无法读取文件：{exc.detail}", flash_kind="err", status_code=exc.status)
    token = store_upload(request, user, filename, data, plan.counts) if _applicable(plan) else ""
    streets = dict(session.execute(select(Street.code, Street.name)).all())
    return _page(request, user, plan=plan, token=token, street_names=streets, **_report(plan))


@router.post("/console/devices/import/apply")
def import_apply(request: Request, session: DbSession, user: Importer, csrf: Annotated[str, Form()] = "",
                 token: Annotated[str, Form()] = "", reason: Annotated[str, Form(max_length=200)] = ""):
    """Apply the previewed upload: plan again against the current data, then write (IOT-1, IOT-2)."""
    check_csrf(csrf, user)
    stored = load_upload(request, user, token)
    if stored is None:
        return _page(request, user, flash="上传的文件已过期或不存在，请重新上传。", flash_kind="err", status_code=410)
    meta, data = stored
    try:
        plan = transfer.plan_import(session, transfer.parse_upload(data, meta["filename"]))
        counts = transfer.apply_import(session, plan, reason)
    except Problem as exc:
        session.rollback()
        return _page(request, user, flash=f"导入失败，未写入任何数据：{exc.detail}", flash_kind="err",
                     status_code=exc.status)
    drop_upload(request, token)
    moved = plan.counts != meta.get("counts")
    return _page(request, user, result=counts, result_file=meta["filename"], moved=moved,
                 flash=f"已导入 {meta['filename']}：新增 {counts['created']}，更新 {counts['updated']}，"
                       f"未变 {counts['unchanged']}，跳过（有错误）{counts['skipped']}")


@router.get("/console/devices/export")
def export_download(request: Request, session: DbSession, user: Viewer, filters: Filters,
                    fmt: Annotated[str, Query(alias="format", pattern="^(csv|xlsx)$")] = "csv"):
    """The console's download link: same sheet, filters and street scope as the API (IOT-1)."""
    return export_response(request, session, fmt, filters, user.street_scope)


def _applicable(plan: transfer.ImportPlan) -> bool:
    c = plan.counts
    return c["create"] + c["update"] > 0


def _report(plan: transfer.ImportPlan) -> dict[str, Any]:
    errors = plan.errors
    updates = [r for r in plan.rows if r.action == "update"]
    creates = [r for r in plan.rows if r.action == "create"]
    warned = [r for r in plan.rows if r.warnings and r.action != "error"]
    return {"counts": plan.counts, "errors": errors[:ERRORS_SHOWN], "errors_total": len(errors),
            "updates": updates[:ROWS_SHOWN], "updates_total": len(updates), "creates": creates[:ROWS_SHOWN],
            "creates_total": len(creates), "warned": warned[:ROWS_SHOWN], "warned_total": len(warned)}
