"""The ingest pipeline (IOT-2): sender check → connector → canonical messages → durable
store → device state, all in one transaction before the sender gets its answer.

Anything that cannot be accepted goes to the dead-letter store with the raw bytes and the
reason; a device nobody registered is held as "pending onboarding" with what it said.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from cityops.connectors import registry
from cityops.connectors.base import PushRequest, Rejected
from cityops.core.bus import bus
from cityops.core.db import Database
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.metrics import INGEST_MESSAGES, INGEST_REJECTED
from cityops.core.timeutil import utcnow
from cityops.devices.models import Device
from cityops.ingest.message import DeviceMessage
from cityops.ingest.models import Connection, DeadLetter, PendingDevice, StoredMessage

log = logging.getLogger(__name__)
TOKEN_HEADER = "x-cityops-token"


# -- connections ---------------------------------------------------------------------------

def _settings_model(kind: str) -> type[BaseModel]:
    try:
        return registry.get(kind).Settings
    except KeyError:
        raise Invalid(f"unknown connector kind {kind!r}; kinds: {', '.join(registry.kinds())}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def validate_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    model = _settings_model(kind)
    try:
        parsed = model.model_validate(settings or {})
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Invalid(f"settings for {kind}: {errors}") from exc
    return {k: _plain(getattr(parsed, k)) for k in model.model_fields}


def public_settings(conn: Connection) -> dict[str, Any]:
    """Settings as the API shows them: secrets replaced by a fixed mask."""
    model = _settings_model(conn.kind)
    out = {}
    for name, f in model.model_fields.items():
        value = conn.settings.get(name)
        secret = f.annotation is SecretStr or "SecretStr" in str(f.annotation)
        out[name] = ("******" if value else None) if secret else value
    return out


def push_path(conn: Connection) -> str:
    """Where the vendor pushes. Kinds that cannot sign carry the shared token in the URL."""
    path = f"/ingest/{conn.id}"
    if registry.get(conn.kind).needs_shared_token:
        path += f"?token={conn.push_token}"
    return path


def _check_ips(ips: list[str]) -> list[str]:
    out = []
    for ip in ips or []:
        try:
            out.append(str(ipaddress.ip_network(str(ip).strip(), strict=False)))
        except ValueError:
            raise Invalid(f"not an IP address or network: {ip!r}") from None
    return out


def create_connection(session: Session, *, kind: str, name: str, settings: dict[str, Any] | None = None,
                      allowed_ips: list[str] | None = None, created_by: str = "") -> Connection:
    clean = validate_settings(kind, settings or {})
    name = name.strip()
    if not name:
        raise Invalid("a connection needs a name")
    if session.scalar(select(Connection.id).where(Connection.name == name)):
        raise Conflict(f"connection {name!r} already exists")
    conn = Connection(kind=kind, name=name, settings=clean, push_token=secrets.token_urlsafe(24),
                      allowed_ips=_check_ips(allowed_ips or []), created_by=created_by)
    session.add(conn)
    session.flush()
    return conn


def get_connection(session: Session, connection_id: int) -> Connection:
    conn = session.get(Connection, connection_id)
    if conn is None:
        raise NotFound("connection", connection_id)
    return conn


def list_connections(session: Session) -> list[Connection]:
    return list(session.scalars(select(Connection).order_by(Connection.id)))


def update_connection(session: Session, connection_id: int, *, name: str | None = None,
                      settings: dict[str, Any] | None = None, allowed_ips: list[str] | None = None,
                      enabled: bool | None = None, rotate_token: bool = False) -> Connection:
    conn = get_connection(session, connection_id)
    if settings is not None:
        merged = dict(conn.settings)
        # A masked secret sent back unchanged keeps the stored value.
        merged.update({k: v for k, v in settings.items() if v != "******"})
        conn.settings = validate_settings(conn.kind, merged)
    if name is not None:
        conn.name = name.strip()
    if allowed_ips is not None:
        conn.allowed_ips = _check_ips(allowed_ips)
    if enabled is not None:
        conn.enabled = enabled
    if rotate_token:
        conn.push_token = secrets.token_urlsafe(24)
    session.flush()
    return conn


# -- counters: kept in memory, flushed by a job so pushes never contend on one row ----------

class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[int, dict[str, Any]] = defaultdict(lambda: {"received": 0, "accepted": 0, "rejected": 0,
                                                                     "last": None, "error": None})

    def add(self, conn_id: int, accepted: int = 0, rejected: int = 0, error: str | None = None) -> None:
        with self._lock:
            c = self._data[conn_id]
            c["received"] += 1
            c["accepted"] += accepted
            c["rejected"] += rejected
            c["last"] = utcnow()
            if error:
                c["error"] = error

    def drain(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            data, self._data = dict(self._data), defaultdict(self._data.default_factory)
        return data


_counters: dict[str, Counters] = {}
_counters_lock = threading.Lock()


def counters_for(db: Database) -> Counters:
    """One set of counters per database, so two apps in one process never mix their figures."""
    with _counters_lock:
        return _counters.setdefault(db.url, Counters())


def flush_counters(db: Database) -> int:
    data = counters_for(db).drain()
    if not data:
        return 0
    with db.session() as s:
        for conn_id, c in data.items():
            values: dict[str, Any] = {"received": Connection.received + c["received"],
                                      "accepted": Connection.accepted + c["accepted"],
                                      "rejected": Connection.rejected + c["rejected"],
                                      "last_received_at": c["last"]}
            if c["error"]:
                values["last_error"] = c["error"][:1000]
            s.execute(update(Connection).where(Connection.id == conn_id).values(**values))
    return len(data)


# -- the pipeline ------------------------------------------------------------------------

@dataclass
class Outcome:
    status: int
    accepted: int = 0
    pending: int = 0
    reason: str = ""
    dead_letter_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    echo: bytes | None = None  # URL-verification answer


def _check_sender(conn: Connection, connector, req: PushRequest) -> None:
    if not conn.enabled:
        raise Rejected("connection is disabled", 403)
    if conn.allowed_ips:
        try:
            addr = ipaddress.ip_address(req.remote_addr)
        except ValueError:
            raise Rejected(f"sender address {req.remote_addr!r} is not allowed", 403) from None
        if not any(addr in ipaddress.ip_network(n) for n in conn.allowed_ips):
            raise Rejected(f"sender address {req.remote_addr} is not in the connection's allow-list", 403)
    if connector.needs_shared_token:
        given = req.query.get("token") or req.headers.get(TOKEN_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), conn.push_token.encode()):
            raise Rejected("missing or wrong connection token", 401)


def message_body(msg: DeviceMessage, attachments: list[str]) -> dict[str, Any]:
    body = asdict(msg)
    body.pop("attachments")
    body["ts"] = msg.ts.isoformat() if msg.ts else None
    if attachments:
        body["attachments"] = attachments
    return {k: v for k, v in body.items() if v not in (None, {}, [], "")}


def _save_attachments(var_dir: Path | None, conn_id: int, msg: DeviceMessage) -> list[str]:
    if not msg.attachments or var_dir is None:
        return []
    day = utcnow().strftime("%Y%m%d")
    folder = var_dir / "attachments" / day
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for a in msg.attachments:
        ext = {"image/jpeg": ".jpg", "image/png": ".png"}.get(a.content_type, ".bin")
        name = f"{conn_id}-{secrets.token_hex(8)}{ext}"
        (folder / name).write_bytes(a.data)
        paths.append(f"attachments/{day}/{name}")
    return paths


def _apply_to_device(state: dict[str, Any], msg: DeviceMessage, now: datetime) -> None:
    """Fold one message into a device's runtime state (online, last seen, last values)."""
    state["last_seen_at"] = now
    if msg.kind == "status":
        state["online"] = msg.online
        return
    state["online"] = True
    if msg.kind == "telemetry" and msg.properties:
        at = (msg.ts or now).isoformat()
        values = dict(state["last_values"] or {})
        for k, v in msg.properties.items():
            values[k] = {"value": v, "ts": at}
        state["last_values"] = values
        state["last_data_at"] = now


def _hold_pending(session: Session, conn: Connection, msg: DeviceMessage, body: dict, now: datetime) -> None:
    p = session.scalar(select(PendingDevice).where(PendingDevice.connection_id == conn.id,
                                                   PendingDevice.external_id == msg.external_id))
    if p is None:
        p = PendingDevice(connection_id=conn.id, external_id=msg.external_id, first_seen_at=now, messages=0)
        session.add(p)
    p.last_seen_at = now
    p.messages = (p.messages or 0) + 1
    p.last_message = body
    p.product_key = msg.product_key or p.product_key or ""
    p.imei = msg.imei or p.imei or ""
    if p.state == "ignored":
        return
    p.state = "pending"


_DEV = Device.__table__.c
# Built once: the statements of the hot path are compiled and cached by SQLAlchemy.
_FIND = select(_DEV.id, _DEV.online, _DEV.last_seen_at, _DEV.last_data_at, _DEV.last_values).where(
    _DEV.platform == bindparam("platform"), _DEV.external_id == bindparam("external_id"))
_INSERT = StoredMessage.__table__.insert().returning(StoredMessage.__table__.c.id)
_UPDATE = Device.__table__.update().where(_DEV.id == bindparam("device_id")).values(
    online=bindparam("online"), last_seen_at=bindparam("last_seen_at"), last_data_at=bindparam("last_data_at"),
    last_values=bindparam("last_values", type_=_DEV.last_values.type))


def ingest(session: Session, conn: Connection, msgs: list[DeviceMessage], *,
           var_dir: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """Store messages and update device state; returns (stored rows as dicts, messages held pending).

    The hot path of the platform: precompiled Core statements, one insert per message and
    one update per device, no ORM unit of work (runtime state is not audited metadata)."""
    now = utcnow()
    db = session.connection()
    rows: list[dict[str, Any]] = []
    pending = 0
    states: dict[int, dict[str, Any]] = {}
    ids: dict[str, int | None] = {}
    for msg in msgs:
        if msg.external_id not in ids:
            found = db.execute(_FIND, {"platform": conn.kind, "external_id": msg.external_id}).first()
            ids[msg.external_id] = found.id if found else None
            if found:
                states[found.id] = {"online": found.online, "last_seen_at": found.last_seen_at,
                                    "last_data_at": found.last_data_at, "last_values": found.last_values}
        device_id = ids[msg.external_id]
        body = message_body(msg, _save_attachments(var_dir, conn.id, msg))
        row = {"connection_id": conn.id, "device_id": device_id, "external_id": msg.external_id, "kind": msg.kind,
               "ts": msg.ts or now, "received_at": now, "body": body}
        row["id"] = db.execute(_INSERT, row).scalar_one()
        rows.append(row)
        if device_id is None:
            _hold_pending(session, conn, msg, body, now)
            pending += 1
        else:
            _apply_to_device(states[device_id], msg, now)
    for device_id, state in states.items():
        db.execute(_UPDATE, {"device_id": device_id, **state})
    session.flush()
    return rows, pending


def dead_letter(db: Database, *, connection_id: int | None, req: PushRequest, reason: str, status: int,
                transport: str = "http") -> int:
    with db.session() as s:
        dl = DeadLetter(connection_id=connection_id, reason=reason[:4000], status_code=status, transport=transport,
                        topic=req.topic or "", headers=dict(req.headers), query=dict(req.query),
                        remote_addr=req.remote_addr, raw=req.body)
        s.add(dl)
        s.flush()
        return dl.id


def handle_push(db: Database, connection_id: int, req: PushRequest, *, var_dir: Path | None = None,
                transport: str = "http") -> Outcome:
    """One received push, end to end. Never loses it: accepted, or dead-lettered with the reason."""
    published: list[dict[str, Any]] = []
    conn_kind = None
    try:
        with db.session() as s:
            conn = s.get(Connection, connection_id)
            if conn is None:
                raise Rejected(f"no connection {connection_id}", 404)
            conn_kind = conn.kind
            connector = registry.get(conn.kind)
            settings = connector.Settings.model_validate(conn.settings)
            if transport == "http":
                _check_sender(conn, connector, req)
            elif not conn.enabled:
                raise Rejected("connection is disabled", 403)
            if req.method == "GET":
                echo = connector.verify_get(req, settings)
                if echo is None:
                    raise Rejected(f"{conn.kind} pushes are POSTed; GET is not part of its protocol", 405)
                return Outcome(200, echo=echo)
            msgs = connector.parse(req, settings)
            if not msgs:
                raise Rejected("the push carried no device message")
            stored, pending = ingest(s, conn, msgs, var_dir=var_dir)
            ids = [m["id"] for m in stored]
            for row, msg in zip(stored, msgs, strict=True):
                published.append({"message_id": row["id"], "connection_id": conn.id, "device_id": row["device_id"],
                                  "kind": msg.kind, "external_id": msg.external_id, "body": row["body"]})
    except Rejected as exc:
        counters_for(db).add(connection_id, rejected=1, error=exc.reason)
        INGEST_REJECTED.labels(conn_kind or "unknown").inc()
        dl = dead_letter(db, connection_id=connection_id if conn_kind else None, req=req, reason=exc.reason,
                         status=exc.status, transport=transport)
        log.warning("push rejected", extra={"connection": connection_id, "reason": exc.reason, "dead_letter": dl})
        return Outcome(exc.status, reason=exc.reason, dead_letter_id=dl)
    except Exception as exc:  # a bug or a database failure: keep the bytes, answer 500 so the sender retries
        log.exception("push failed", extra={"connection": connection_id})
        counters_for(db).add(connection_id, rejected=1, error=f"{type(exc).__name__}: {exc}")
        dl = dead_letter(db, connection_id=connection_id if conn_kind else None, req=req,
                         reason=f"internal error: {type(exc).__name__}: {exc}", status=500, transport=transport)
        return Outcome(500, reason="internal error; the message was kept for replay", dead_letter_id=dl)
    counters_for(db).add(connection_id, accepted=len(published))
    INGEST_MESSAGES.labels(conn_kind).inc(len(published))
    for event in published:
        bus.publish(f"device.message.{event['kind']}", event)
    n_pending = sum(1 for e in published if e["device_id"] is None)
    return Outcome(200, accepted=len(published), pending=n_pending, message_ids=ids)


# -- dead letters and pending devices ---------------------------------------------------------

def replay(db: Database, dead_letter_id: int, *, actor: str, var_dir: Path | None = None) -> Outcome:
    """Run a dead letter through the pipeline again (after the cause was fixed)."""
    with db.session() as s:
        dl = s.get(DeadLetter, dead_letter_id)
        if dl is None:
            raise NotFound("dead letter", dead_letter_id)
        if dl.state != "new":
            raise Conflict(f"dead letter {dead_letter_id} was already {dl.state}")
        if dl.connection_id is None:
            raise Invalid("this dead letter has no connection to replay it to")
        req = PushRequest(body=dl.raw, headers=dict(dl.headers or {}), query=dict(dl.query or {}),
                          remote_addr=dl.remote_addr, topic=dl.topic or None)
        conn_id, transport = dl.connection_id, dl.transport
    outcome = handle_push(db, conn_id, req, var_dir=var_dir, transport=transport)
    with db.session() as s:
        dl = s.get(DeadLetter, dead_letter_id)
        dl.handled_at, dl.handled_by = utcnow(), actor
        if outcome.status == 200:
            dl.state = "replayed"
            dl.replay_result = f"accepted {outcome.accepted} message(s)"
        else:
            dl.replay_result = f"still rejected: {outcome.reason} (see dead letter {outcome.dead_letter_id})"
    if outcome.status != 200 and outcome.dead_letter_id:
        # The failed replay made a new dead letter of the same bytes; keep only the original.
        with db.session() as s:
            dup = s.get(DeadLetter, outcome.dead_letter_id)
            if dup is not None:
                s.delete(dup)
    return outcome


def discard(session: Session, dead_letter_id: int, *, actor: str, note: str = "") -> DeadLetter:
    dl = session.get(DeadLetter, dead_letter_id)
    if dl is None:
        raise NotFound("dead letter", dead_letter_id)
    if dl.state != "new":
        raise Conflict(f"dead letter {dead_letter_id} was already {dl.state}")
    dl.state, dl.handled_at, dl.handled_by, dl.replay_result = "discarded", utcnow(), actor, note
    session.flush()
    return dl


def list_dead_letters(session: Session, *, state: str | None = "new", connection_id: int | None = None,
                      limit: int = 50, offset: int = 0) -> tuple[list[DeadLetter], int]:
    from sqlalchemy import func

    q = select(DeadLetter)
    if state:
        q = q.where(DeadLetter.state == state)
    if connection_id:
        q = q.where(DeadLetter.connection_id == connection_id)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(DeadLetter.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def list_pending(session: Session, *, state: str = "pending", connection_id: int | None = None) -> list[PendingDevice]:
    q = select(PendingDevice).where(PendingDevice.state == state)
    if connection_id:
        q = q.where(PendingDevice.connection_id == connection_id)
    return list(session.scalars(q.order_by(PendingDevice.last_seen_at.desc())))


def onboard(session: Session, pending_id: int, *, name: str, product_id: int, reason: str = "",
            **fields: Any) -> Device:
    """Register a pending device; its held messages are attached to it."""
    from cityops.devices import service as devices

    p = session.get(PendingDevice, pending_id)
    if p is None:
        raise NotFound("pending device", pending_id)
    if p.state == "onboarded":
        raise Conflict("this device was already onboarded")
    conn = get_connection(session, p.connection_id)
    if p.imei and "imei" not in fields:
        fields["imei"] = p.imei
    device = devices.create_device(session, name=name, product_id=product_id, external_id=p.external_id,
                                   platform=conn.kind, connection_id=conn.id, reason=reason or "onboarded",
                                   source="onboarding", **fields)
    session.execute(update(StoredMessage).where(StoredMessage.connection_id == conn.id,
                                                StoredMessage.external_id == p.external_id,
                                                StoredMessage.device_id.is_(None)).values(device_id=device.id))
    p.state, p.device_id = "onboarded", device.id
    session.flush()
    from cityops.devices.checks import check_devices

    check_devices(session, [device.id])
    return device


def ignore_pending(session: Session, pending_id: int) -> PendingDevice:
    p = session.get(PendingDevice, pending_id)
    if p is None:
        raise NotFound("pending device", pending_id)
    p.state = "ignored"
    session.flush()
    return p


def recent_messages(session: Session, device_id: int, limit: int = 20) -> list[StoredMessage]:
    return list(session.scalars(select(StoredMessage).where(StoredMessage.device_id == device_id)
                                .order_by(StoredMessage.id.desc()).limit(limit)))
