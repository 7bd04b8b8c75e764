"""Connections, the vendor push endpoint, dead letters and pending onboarding (IOT-2)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cityops.auth.deps import REF_WRITERS, STAFF, DbSession, Principal, require
from cityops.connectors import registry
from cityops.connectors.base import PushRequest
from cityops.core.errors import problem_response
from cityops.core.pagination import Page, PageParams, page_params
from cityops.devices.schemas import DeviceOut
from cityops.ingest import service
from cityops.ingest.models import Connection, DeadLetter
from cityops.ingest.schemas import (ConnectionCreate, ConnectionCreated, ConnectionOut, ConnectionUpdate,
                                    DeadLetterDetail, DeadLetterOut, Discard, Onboard, PendingOut)

router = APIRouter(tags=["ingest"])
Staff = Annotated[Principal, Depends(require(*STAFF))]
Admin = Annotated[Principal, Depends(require(*REF_WRITERS))]
Handlers = Annotated[Principal, Depends(require("admin", "manager", "technician"))]


def _out(conn: Connection, cls=ConnectionOut, *, with_token: bool = False):
    url = service.push_path(conn) if with_token else f"/ingest/{conn.id}"
    return cls(id=conn.id, kind=conn.kind, name=conn.name, settings=service.public_settings(conn),
               allowed_ips=conn.allowed_ips, enabled=conn.enabled, push_url=url, received=conn.received,
               accepted=conn.accepted, rejected=conn.rejected, last_received_at=conn.last_received_at,
               last_error=conn.last_error, created_at=conn.created_at)


@router.get("/api/v1/connector-kinds")
def connector_kinds(_: Staff) -> list[dict]:
    out = []
    for kind in registry.kinds():
        c = registry.get(kind)
        schema = c.Settings.model_json_schema()
        out.append({"kind": kind, "label": c.label, "needs_shared_token": c.needs_shared_token,
                    "settings": schema.get("properties", {})})
    return out


@router.post("/api/v1/connections", response_model=ConnectionCreated, status_code=201)
def create_connection(body: ConnectionCreate, session: DbSession, p: Admin):
    """A configured connector instance; the answer's `push_url` is where the vendor pushes
    (for vendors that cannot sign it carries the connection's token — keep it secret)."""
    conn = service.create_connection(session, kind=body.kind, name=body.name, settings=body.settings,
                                     allowed_ips=body.allowed_ips, created_by=p.username)
    return _out(conn, ConnectionCreated, with_token=True)


@router.get("/api/v1/connections", response_model=list[ConnectionOut])
def list_connections(session: DbSession, _: Staff):
    return [_out(c) for c in service.list_connections(session)]


@router.get("/api/v1/connections/{connection_id}", response_model=ConnectionOut)
def get_connection(connection_id: int, session: DbSession, _: Staff):
    return _out(service.get_connection(session, connection_id))


@router.patch("/api/v1/connections/{connection_id}", response_model=ConnectionOut)
def update_connection(connection_id: int, body: ConnectionUpdate, session: DbSession, _: Admin):
    return _out(service.update_connection(session, connection_id, **body.model_dump(exclude_unset=True)))


@router.post("/api/v1/connections/{connection_id}/rotate-token", response_model=ConnectionCreated)
def rotate_token(connection_id: int, session: DbSession, _: Admin):
    """A new shared token; the old push URL stops working at once."""
    return _out(service.update_connection(session, connection_id, rotate_token=True), ConnectionCreated,
                with_token=True)


def _push_request(request: Request, body: bytes) -> PushRequest:
    return PushRequest(body=body, method=request.method, headers={k.lower(): v for k, v in request.headers.items()},
                       query=dict(request.query_params), remote_addr=request.client.host if request.client else "")


@router.get("/ingest/{connection_id}")
async def push_verify(connection_id: int, request: Request):
    """URL verification by the vendor (OneNET's GET with msg/nonce/signature)."""
    return await push(connection_id, request)


@router.post("/ingest/{connection_id}")
async def push(connection_id: int, request: Request):
    """Vendor/carrier push endpoint. Authenticated the way each vendor signs (OneNET
    signature) or by the connection's token in the URL (CTWing, IoTDA, Aliyun, Hikvision).
    Answered only after the messages are durably stored."""
    body = await request.body()
    ctx = request.app.state.ctx
    outcome = await run_in_threadpool(service.handle_push, ctx.db, connection_id, _push_request(request, body),
                                      var_dir=ctx.settings.var_dir)
    if outcome.echo is not None:
        return Response(outcome.echo, media_type="text/plain")
    if outcome.status == 200:
        return JSONResponse({"accepted": outcome.accepted, "pending": outcome.pending})
    return problem_response(outcome.status, "Rejected", outcome.reason, request.url.path,
                            dead_letter_id=outcome.dead_letter_id)


@router.get("/api/v1/dead-letters", response_model=Page[DeadLetterOut])
def dead_letters(session: DbSession, _: Staff, page: Annotated[PageParams, Depends(page_params)],
                 state: str | None = "new", connection_id: int | None = None):
    rows, total = service.list_dead_letters(session, state=state or None, connection_id=connection_id,
                                            limit=page.limit, offset=page.offset)
    return Page(items=[DeadLetterOut.of(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/api/v1/dead-letters/{dl_id}", response_model=DeadLetterDetail)
def dead_letter(dl_id: int, session: DbSession, _: Staff):
    from cityops.core.errors import NotFound

    dl = session.get(DeadLetter, dl_id)
    if dl is None:
        raise NotFound(f"死信 {dl_id} 不存在")
    base = DeadLetterOut.of(dl, full=True).model_dump()
    return DeadLetterDetail(**base, headers=dl.headers, query=dl.query,
                            raw_base64=base64.b64encode(dl.raw or b"").decode())


@router.post("/api/v1/dead-letters/{dl_id}/replay")
def replay(dl_id: int, request: Request, _session: DbSession, p: Handlers):
    ctx = request.app.state.ctx
    outcome = service.replay(ctx.db, dl_id, actor=p.username, var_dir=ctx.settings.var_dir)
    return {"status": outcome.status, "accepted": outcome.accepted, "reason": outcome.reason}


@router.post("/api/v1/dead-letters/{dl_id}/discard", response_model=DeadLetterOut)
def discard(dl_id: int, body: Discard, session: DbSession, p: Handlers):
    return DeadLetterOut.of(service.discard(session, dl_id, actor=p.username, note=body.note))


@router.get("/api/v1/pending-devices", response_model=list[PendingOut])
def pending(session: DbSession, _: Staff, state: str = "pending", connection_id: int | None = None):
    return [PendingOut.model_validate(r) for r in service.list_pending(session, state=state,
                                                                        connection_id=connection_id)]


@router.post("/api/v1/pending-devices/{pending_id}/onboard", response_model=DeviceOut, status_code=201)
def onboard(pending_id: int, body: Onboard, session: DbSession, p: Handlers):
    fields = body.model_dump(exclude={"name", "product_id", "reason"}, exclude_none=True)
    device = service.onboard(session, pending_id, name=body.name, product_id=body.product_id, reason=body.reason,
                             **fields)
    return DeviceOut.of(device)


@router.post("/api/v1/pending-devices/{pending_id}/ignore", response_model=PendingOut)
def ignore(pending_id: int, session: DbSession, _: Handlers):
    return PendingOut.model_validate(service.ignore_pending(session, pending_id))
