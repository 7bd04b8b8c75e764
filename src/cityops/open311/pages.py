"""Console page Open311 接入 (IOT-7, SYS-DISPATCH): the API clients (create — the key is shown
once —, enable/disable, token answers, delete) and the latest requests that came in through
Open311, linked to their city events. CSRF on every form."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from cityops.auth.deps import DbSession
from cityops.core.errors import Problem
from cityops.events.lifecycle import STATE_LABELS
from cityops.events.models import EventCategory
from cityops.open311 import service
from cityops.web.shell import ConsoleUser, check_csrf, render, require_console

router = APIRouter(include_in_schema=False)
READERS = ("admin", "manager", "auditor")
WRITERS = ("admin", "manager")
Reader_ = Annotated[ConsoleUser, Depends(require_console(*READERS))]
Writer_ = Annotated[ConsoleUser, Depends(require_console(*WRITERS))]


def _page(request: Request, session, user: ConsoleUser, *, flash: str = "", flash_kind: str = "ok",
          new_key: str = "", new_name: str = "", status_code: int = 200):
    recent = service.recent_requests(session)
    cats = {c.id: c for c in session.scalars(select(EventCategory))}
    base = str(request.base_url).rstrip("/")
    return render(request, "open311/index.html", user, "open311", status_code=status_code,
                  clients=service.list_clients(session), recent=recent, cats=cats, state_labels=STATE_LABELS,
                  endpoint=f"{base}/open311/v2", jurisdiction=service.JURISDICTION_ID, can_edit=user.can(*WRITERS),
                  flash=flash, flash_kind=flash_kind, new_key=new_key, new_name=new_name)


def _back(msg: str) -> RedirectResponse:
    return RedirectResponse(f"/console/open311?flash={quote(msg)}", status_code=303)


@router.get("/console/open311")
def open311_page(request: Request, session: DbSession, user: Reader_):
    return _page(request, session, user, flash=request.query_params.get("flash", ""))


@router.post("/console/open311/clients")
def create_client(request: Request, session: DbSession, user: Writer_, csrf: Annotated[str | None, Form()] = None,
                  name: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                  token_mode: Annotated[str, Form()] = ""):
    """Answered with the page itself (not a redirect) so the key is never part of a URL."""
    check_csrf(csrf, user)
    try:
        client, key = service.create_client(session, name=name, note=note, token_mode=bool(token_mode),
                                            created_by=user.username)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"创建失败：{exc.detail}", flash_kind="err", status_code=422)
    return _page(request, session, user, flash=f"已创建客户端 {client.name}", new_key=key, new_name=client.name)


@router.post("/console/open311/clients/{client_id:int}/toggle")
def toggle_client(client_id: int, request: Request, session: DbSession, user: Writer_,
                  csrf: Annotated[str | None, Form()] = None):
    check_csrf(csrf, user)
    try:
        c = service.get_client(session, client_id)
        service.set_client(session, client_id, enabled=not c.enabled)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"操作失败：{exc.detail}", flash_kind="err", status_code=exc.status)
    return _back(f"已{'启用' if c.enabled else '停用'}客户端 {c.name}")


@router.post("/console/open311/clients/{client_id:int}/delete")
def delete_client(client_id: int, request: Request, session: DbSession, user: Writer_,
                  csrf: Annotated[str | None, Form()] = None):
    check_csrf(csrf, user)
    try:
        name = service.get_client(session, client_id).name
        service.delete_client(session, client_id)
    except Problem as exc:
        session.rollback()
        return _page(request, session, user, flash=f"删除失败：{exc.detail}", flash_kind="err", status_code=exc.status)
    return _back(f"已删除客户端 {name}（其上报的事件保留）")
