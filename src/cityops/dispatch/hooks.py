"""The callback receiver of the dispatch link (IOT-7): `POST /hooks/dispatch/{platform id}`.

Outside /api/v1 because the caller is the platform, not a user: it proves itself with an
HMAC-SHA256 signature of the raw body under the platform's callback secret
(`dispatch/signing.py`). Answered 200 only once the update is stored; anything refused is
kept as a dead letter with the reason (transport "dispatch"), so nothing is lost. A database
failure answers 503 so the platform calls again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cityops.core.db import Database
from cityops.core.errors import problem_response
from cityops.dispatch import results, service, signing
from cityops.dispatch.models import DispatchPlatform
from cityops.ingest.models import DeadLetter

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
MAX_BODY = 1024 * 1024


@dataclass
class Received:
    status: int
    message: str
    body: dict[str, Any] = field(default_factory=dict)
    dead_letter_id: int | None = None


def _dead_letter(db: Database, platform_id: int, raw: bytes, headers: dict[str, str], remote: str, reason: str,
                 status: int) -> int:
    with db.session() as s:
        dl = DeadLetter(connection_id=None, reason=f"派单平台回调（平台 {platform_id}）：{reason}"[:4000],
                        status_code=status, transport="dispatch", topic=f"dispatch/{platform_id}",
                        headers=headers, query={}, remote_addr=remote, raw=raw)
        s.add(dl)
        s.flush()
        return dl.id


def receive(db: Database, platform_id: int, raw: bytes, headers: dict[str, str], remote: str = "") -> Received:
    """Check, store and apply one callback."""
    def refuse(status: int, reason: str) -> Received:
        return Received(status, reason, dead_letter_id=_dead_letter(db, platform_id, raw, headers, remote, reason,
                                                                    status))

    with db.session() as s:
        p = s.get(DispatchPlatform, platform_id)
        if p is None:
            return refuse(404, "未知的派单平台")
        secret, enabled, kind, settings = p.callback_secret, p.enabled, p.kind, dict(p.settings)
    if not signing.verify(secret, raw, headers.get(signing.HEADER.lower())):
        return refuse(401, f"签名无效或缺失（{signing.HEADER}）")
    if not enabled:
        return refuse(403, "派单平台已停用")
    if len(raw) > MAX_BODY:
        return refuse(413, "回调内容过大")
    try:
        payload = json.loads(raw.decode("utf-8"))
        update = service.registry.create(kind, settings).callback_update(payload)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return refuse(400, f"无法解析回调：{exc}")
    with db.session() as s:
        row, outcome = results.store(s, s.get(DispatchPlatform, platform_id), update, source="callback")
    return Received(200, outcome, {"stored": row is not None, "update_id": update.update_id, "outcome": outcome})


@router.post("/hooks/dispatch/{platform_id}")
async def dispatch_callback(platform_id: int, request: Request):
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    remote = request.client.host if request.client else ""
    db = request.app.state.ctx.db
    try:
        got = await run_in_threadpool(receive, db, platform_id, raw, headers, remote)
    except Exception:  # the database is down or similar: the platform must call again
        log.exception("dispatch callback could not be stored")
        return problem_response(503, "Service Unavailable", "暂时无法保存回调，请稍后重试", request.url.path)
    if got.status == 200:
        return JSONResponse(got.body)
    return problem_response(got.status, "Rejected", got.message, request.url.path, dead_letter_id=got.dead_letter_id)
