"""Console page 外呼名单 (CALL-4): call lists with counts, expiry and freshness warnings, one
list's entries, an import form with a dry-run preview, and the do-not-call list with add and
remove. Numbers are masked for roles without access to personal data."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from cityops.audit.service import mask_phone
from cityops.auth.deps import DbSession
from cityops.callout import lists, numbers
from cityops.callout.api import end_of
from cityops.callout.scenarios import LABELS
from cityops.core.errors import Problem
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
WRITERS = ("admin", "manager", "duty")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]
URL = "/console/callout/lists"


def _show(number: str | None, user: ConsoleUser) -> str:
    text = numbers.national(number) if number and number.startswith("+") else (number or "")
    return text if user.sees_pii else mask_phone(text)


def _page(request: Request, session, user: ConsoleUser, *, show: int | None = None, preview: Any = None,
          form: dict[str, Any] | None = None, flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    rows = lists.list_lists(session)
    current, entries, total = None, [], 0
    if show is not None:
        current = next((cl for cl in rows if cl.id == show), None)
        if current is not None:
            entries, total = lists.entries(session, show, limit=200)
    dnc, dnc_total = lists.list_dnc(session, limit=500)
    return render(request, "callout/lists.html", user, "callout-lists", status_code=status_code, rows=rows,
                  current=current, entries=entries, entries_total=total, dnc=dnc, dnc_total=dnc_total,
                  expired=lists.is_expired, stale=lists.is_stale, fresh_days=lists.FRESH_DAYS, labels=LABELS,
                  show_number=lambda n: _show(n, user), can_edit=user.can(*WRITERS), preview=preview,
                  form=form or {}, flash=flash, flash_kind=flash_kind)


def _back(msg: str, kind: str = "ok", show: int | None = None) -> RedirectResponse:
    extra = f"&show={show}" if show else ""
    return RedirectResponse(f"{URL}?flash={quote(msg)}&kind={kind}{extra}", status_code=303)


@router.get(URL)
def lists_page(request: Request, session: DbSession, user: Reader_, show: int | None = None):
    q = request.query_params
    return _page(request, session, user, show=show, flash=q.get("flash", ""),
                 flash_kind="err" if q.get("kind") == "error" else "ok")


@router.post(URL)
async def import_page(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str, Form()],
                      file: Annotated[UploadFile, File()], name: Annotated[str, Form()] = "",
                      scenario: Annotated[str, Form()] = "", source: Annotated[str, Form()] = "",
                      consent_basis: Annotated[str, Form()] = "", valid_until: Annotated[str, Form()] = "",
                      dry_run: Annotated[str, Form()] = ""):
    """Import a list; with 预览 (dry_run) the page shows counts and the first problems only."""
    check_csrf(csrf, user)
    form = {"name": name, "scenario": scenario, "source": source, "consent_basis": consent_basis,
            "valid_until": valid_until}
    data = await file.read()
    try:
        until = end_of(date.fromisoformat(valid_until)) if valid_until.strip() else None
        if not data:
            raise ValueError("请选择名单文件")
        r = lists.import_list(session, data, file.filename or "", name=name, scenario=scenario, source=source,
                              consent_basis=consent_basis, valid_until=until, created_by=user.username,
                              dry_run=bool(dry_run))
    except (Problem, ValueError) as exc:
        msg = exc.detail if isinstance(exc, Problem) else str(exc)
        return _page(request, session, user, form=form, flash=f"导入失败：{msg}", flash_kind="err",
                     status_code=422)
    if r.dry_run:
        return _page(request, session, user, form=form, preview=r)
    c = r.counts
    return _back(f"已导入名单「{name}」：共 {c['total']} 条，可呼叫 {c['ok']} 条，无效 {c['invalid']} 条，"
                 f"重复 {c['duplicate']} 条，免打扰 {c['dnc']} 条", show=r.list_id)


@router.post("/console/callout/dnc")
def add_dnc_page(session: DbSession, user: Writer_, csrf: Annotated[str, Form()], number: Annotated[str, Form()],
                 scenario: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        lists.add_dnc(session, number, scenario or None, reason=reason, created_by=user.username)
    except Problem as exc:
        return _back(f"未能加入免打扰：{exc.detail}", "error")
    return _back("已加入免打扰名单")


@router.post("/console/callout/dnc/{dnc_id}/delete")
def delete_dnc_page(dnc_id: int, session: DbSession, user: Writer_, csrf: Annotated[str, Form()]):
    check_csrf(csrf, user)
    try:
        lists.remove_dnc(session, dnc_id)
    except Problem:
        return _back("该免打扰记录不存在", "error")
    return _back("已移出免打扰名单")
