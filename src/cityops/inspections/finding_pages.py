"""Console page 巡检发现 (OPS-1, ROOM-1): open findings first, then by severity; filters by
state, severity and source; each with its ticket link and a resolve form (with a note)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.inspections import findings
from cityops.inspections.finding_models import FINDING_SEVERITIES, FINDING_SOURCES, FINDING_STATES
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "duty", "technician", "auditor")
RESOLVERS = ("admin", "manager", "duty", "technician")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Resolver_ = Annotated[ConsoleUser, Depends(require_console(*RESOLVERS))]
URL = "/console/findings"


@router.get(URL)
def findings_page(request: Request, session: DbSession, user: Reader_, state: str = "open", severity: str = "",
                  source: str = "", page: int = 1):
    q = request.query_params
    flash, flash_kind = q.get("flash", ""), "err" if q.get("fk") == "error" else "ok"
    state = state if state in FINDING_STATES or state == "all" else "open"
    page = max(page, 1)
    rows, total = findings.search_findings(session, state=None if state == "all" else state,
                                           severity=severity if severity in FINDING_SEVERITIES else None,
                                           source=source if source in FINDING_SOURCES else None,
                                           limit=100, offset=(page - 1) * 100)
    return render(request, "inspections/findings.html", user, "findings", rows=rows, total=total, page=page,
                  pages=max(1, -(-total // 100)), counts=findings.open_counts(session),
                  filters={"state": state, "severity": severity, "source": source}, can_resolve=user.can(*RESOLVERS),
                  STATES=FINDING_STATES, SEVERITIES=FINDING_SEVERITIES, SOURCES=FINDING_SOURCES,
                  notice=flash, notice_kind=flash_kind)


@router.post(URL + "/{finding_id}/resolve")
def resolve_page(finding_id: int, session: DbSession, user: Resolver_, csrf: Annotated[str, Form()],
                 note: Annotated[str, Form()] = ""):
    check_csrf(csrf, user)
    try:
        f = findings.resolve(session, finding_id, note=note, actor=user.username)
    except Problem as exc:
        return RedirectResponse(f"{URL}?flash={quote(exc.detail)}&fk=error#finding-{finding_id}", status_code=303)
    return RedirectResponse(f"{URL}?flash={quote(f'已解决：{f.title}')}", status_code=303)
