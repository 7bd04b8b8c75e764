"""Open311 GeoReport v2 endpoint (IOT-7, SYS-DISPATCH) under /open311/v2, the Service
Discovery document at /open311/discovery.{format}, and the management API for its clients
under /api/v1/open311/clients (admin, manager).

The public routes need no login; POST requests needs an api_key. Every answer, errors
included, is GeoReport JSON or XML (never problem+json): errors are arrays of
{code, description} with 400 (bad input), 403 (api_key) or 404 (unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from cityops.auth.deps import DbSession, Principal, require
from cityops.core.errors import Problem
from cityops.open311 import render, service
from cityops.open311.schemas import ClientCreated, ClientIn, ClientOut, ClientPatch
from cityops.open311.service import Open311Error

router = APIRouter()
Manager = Annotated[Principal, Depends(require("admin", "manager"))]
PUBLIC = {"tags": ["open311"]}
SPEC = "http://wiki.open311.org/GeoReport_v2"


def _answer(session: Session, fmt: str, root: str, produce: Callable[[], Any], status: int = 200) -> Response:
    if fmt not in render.FORMATS:
        return render.errors("xml", 404, f"format {fmt!r} is not available; use xml or json")
    try:
        return render.respond(fmt, root, produce(), status)
    except Open311Error as exc:
        session.rollback()
        return render.errors(fmt, exc.status, exc.description)
    except Problem as exc:
        session.rollback()  # nothing of a refused request is kept
        status = exc.status if exc.status in (403, 404) else 400
        return render.errors(fmt, status, exc.detail or exc.title)


async def _form(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    """The posted fields, and attribute[code]=v / attribute[code][]=v pairs as {code: v or [v…]}."""
    fields: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    form = await request.form()
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue  # files are not part of GeoReport v2
        if key.startswith("attribute[") and "]" in key:
            code = key[len("attribute["):key.index("]")]
            if key.endswith("[]"):
                attributes.setdefault(code, [])
                if isinstance(attributes[code], list):
                    attributes[code].append(value)
            else:
                attributes[code] = value
        else:
            fields.setdefault(key, value)
    return fields, attributes


PostedForm = Annotated[tuple[dict[str, str], dict[str, Any]], Depends(_form)]


# -- Service Discovery --------------------------------------------------------------------

@router.get("/open311/discovery.{fmt}", **PUBLIC)
def discovery(fmt: str, request: Request, session: DbSession):
    """Where the GeoReport v2 endpoint is and which formats it speaks."""
    base = str(request.base_url).rstrip("/")

    def produce():
        return {"changeset": "2026-11-25T00:00:00+08:00", "contact": "长宁区城市运行管理中心 (Changning city operations centre)",
                "key_service": f"{base}/console/open311 (API keys are issued by the district operations centre)",
                "endpoints": [{"specification": SPEC, "url": f"{base}/open311/v2", "changeset": "2026-11-25T00:00:00+08:00",
                               "type": "production", "formats": ["text/xml", "application/json"]}]}

    return _answer(session, fmt, "discovery", produce)


# -- GeoReport v2 ----------------------------------------------------------------------------

@router.get("/open311/v2/services.{fmt}", **PUBLIC)
def services(fmt: str, session: DbSession, jurisdiction_id: str | None = None):
    """The service list: every enabled 细类 of the event classification tree."""
    def produce():
        service.check_jurisdiction(jurisdiction_id)
        return [s.as_dict() for s in service.catalogue(session)]

    return _answer(session, fmt, "services", produce)


@router.get("/open311/v2/services/{service_code}.{fmt}", **PUBLIC)
def service_definition(service_code: str, fmt: str, session: DbSession, jurisdiction_id: str | None = None):
    def produce():
        service.check_jurisdiction(jurisdiction_id)
        return service.definition(session, service_code)

    return _answer(session, fmt, "service_definition", produce)


@router.post("/open311/v2/requests.{fmt}", **PUBLIC)
def post_request(fmt: str, session: DbSession, posted: PostedForm):
    """Create a service request (form-encoded, api_key required); lat/long in WGS-84."""
    fields, attributes = posted

    def produce():
        client = service.authenticate(session, fields.get("api_key"))
        service.check_jurisdiction(fields.get("jurisdiction_id"))
        return [service.submit(session, client, fields, attributes)]

    return _answer(session, fmt, "service_requests", produce)


@router.get("/open311/v2/requests.{fmt}", **PUBLIC)
def get_requests(fmt: str, request: Request, session: DbSession, jurisdiction_id: str | None = None,
                 service_request_id: str | None = None, service_code: str | None = None,
                 start_date: str | None = None, end_date: str | None = None, status: str | None = None):
    """Requests of the last 90 days (or the given range, at most 90 days), at most 1000."""
    def produce():
        service.check_jurisdiction(jurisdiction_id)
        evs = service.query(session, service_request_id=service_request_id, service_code=service_code,
                            start_date=start_date, end_date=end_date, status=status)
        return service.describe(session, evs, media_base=_media_base(request))

    return _answer(session, fmt, "service_requests", produce)


@router.get("/open311/v2/requests/{service_request_id}.{fmt}", **PUBLIC)
def get_request(service_request_id: str, fmt: str, request: Request, session: DbSession,
                jurisdiction_id: str | None = None):
    def produce():
        service.check_jurisdiction(jurisdiction_id)
        ev = service.find_event(session, service_request_id)
        return service.describe(session, [ev], media_base=_media_base(request))

    return _answer(session, fmt, "service_requests", produce)


@router.get("/open311/v2/tokens/{token}.{fmt}", **PUBLIC)
def get_token(token: str, fmt: str, session: DbSession, jurisdiction_id: str | None = None):
    def produce():
        service.check_jurisdiction(jurisdiction_id)
        return [service.resolve_token(session, token)]

    return _answer(session, fmt, "service_requests", produce)


@router.get("/open311/v2/media/{service_request_id}/{attachment_id:int}", **PUBLIC)
def media(service_request_id: str, attachment_id: int, request: Request, session: DbSession):
    """A request's photo, the target of media_url."""
    try:
        att, path = service.photo(session, service_request_id, attachment_id,
                                  var_dir=request.app.state.ctx.settings.var_dir)
    except Open311Error as exc:
        return render.errors("json", exc.status, exc.description)
    return FileResponse(path, media_type=att.content_type, headers={"X-Content-Type-Options": "nosniff"})


def _media_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/open311/v2/media"


# -- client management (/api/v1) -------------------------------------------------------------

@router.get("/api/v1/open311/clients", response_model=list[ClientOut], tags=["open311"])
def list_clients(session: DbSession, p: Manager):
    """Open311 clients (key prefix only; the key itself is never shown again)."""
    return service.list_clients(session)


@router.post("/api/v1/open311/clients", response_model=ClientCreated, status_code=201, tags=["open311"])
def create_client(body: ClientIn, session: DbSession, p: Manager):
    """A new client; the answer carries its api_key, which is never shown again."""
    client, key = service.create_client(session, name=body.name, token_mode=body.token_mode, note=body.note,
                                        created_by=p.username)
    return ClientCreated.model_validate({f: getattr(client, f) for f in ClientOut.model_fields} | {"api_key": key})


@router.patch("/api/v1/open311/clients/{client_id}", response_model=ClientOut, tags=["open311"])
def patch_client(client_id: int, body: ClientPatch, session: DbSession, p: Manager):
    """Enable or disable a client (a disabled key gets 403), or switch token answers."""
    return service.set_client(session, client_id, enabled=body.enabled, token_mode=body.token_mode)


@router.delete("/api/v1/open311/clients/{client_id}", status_code=204, tags=["open311"])
def delete_client(client_id: int, session: DbSession, p: Manager):
    service.delete_client(session, client_id)
    return Response(status_code=204)
