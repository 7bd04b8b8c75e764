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
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import bindparam, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
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
STORED_TOPIC = "ingest.stored"  # published after each commit: wakes the monitoring feed (IOT-5)


# -- connections ---------------------------------------------------------------------------

def _settings_model(kind: str) -> type[BaseModel]:
    try:
        return registry.get(kind).Settings
    except KeyError:
        raise Invalid(f"未知的连接类型 {kind!r}，可选类型：{'、'.join(registry.kinds())}") from None


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
        errors = "；".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Invalid(f"{kind} 连接设置有误：{errors}") from exc
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
            raise Invalid(f"不是有效的 IP 地址或网段：{ip!r}") from None
    return out


def create_connection(session: Session, *, kind: str, name: str, settings: dict[str, Any] | None = None,
                      allowed_ips: list[str] | None = None, created_by: str = "") -> Connection:
    clean = validate_settings(kind, settings or {})
    name = name.strip()
    if not name:
        raise Invalid("接入连接需要填写名称")
    if session.scalar(select(Connection.id).where(Connection.name == name)):
        raise Conflict(f"接入连接 {name!r} 已存在")
    conn = Connection(kind=kind, name=name, settings=clean, push_token=secrets.token_urlsafe(24),
                      allowed_ips=_check_ips(allowed_ips or []), created_by=created_by)
    session.add(conn)
    session.flush()
    return conn


def get_connection(session: Session, connection_id: int) -> Connection:
    conn = session.get(Connection, connection_id)
    if conn is None:
        raise NotFound(f"接入连接 {connection_id} 不存在")
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


_BODY_FIELDS = ("kind", "external_id", "properties", "event", "event_state", "severity", "online", "product_key",
                "imei", "imsi", "iccid", "command", "source_type", "meta")


def message_body(msg: DeviceMessage, attachments: list[str]) -> dict[str, Any]:
    """The stored JSON of a message: its set fields only (built by hand: `asdict` deep-copies)."""
    body: dict[str, Any] = {}
    for name in _BODY_FIELDS:
        v = getattr(msg, name)
        if v is not None and v != "" and v != {} and v != []:
            body[name] = v
    if msg.ts is not None:
        body["ts"] = msg.ts.isoformat()
    if attachments:
        body["attachments"] = attachments
    return body


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


class DeviceIndex:
    """(platform, external id) → device id, cached per database so the hot path does not look
    every device up on every message. Entries live `ttl_s` (a re-mapped or deleted device is
    noticed within that); unknown ids are never cached, so onboarding takes effect at once."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._ids: dict[tuple[str, str], int] = {}
        self._born = time.monotonic()
        self._lock = threading.Lock()

    def lookup(self, conn: Any, platform: str, external_ids: set[str]) -> dict[str, int]:
        with self._lock:
            if time.monotonic() - self._born > self.ttl_s:
                self._ids, self._born = {}, time.monotonic()
            found = {e: self._ids[(platform, e)] for e in external_ids if (platform, e) in self._ids}
        missing = [e for e in external_ids if e not in found]
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            rows = conn.execute(select(_DEV.external_id, _DEV.id).where(_DEV.platform == platform,
                                                                        _DEV.external_id.in_(chunk))).all()
            with self._lock:
                for ext, did in rows:
                    found[ext] = self._ids[(platform, ext)] = did
        return found

    def clear(self) -> None:
        with self._lock:
            self._ids = {}


_indexes: dict[str, DeviceIndex] = {}


def device_index(db_url: str) -> DeviceIndex:
    with _counters_lock:
        return _indexes.setdefault(db_url, DeviceIndex())


_DEV = Device.__table__.c
_MSG = StoredMessage.__table__
# Built once: the statements of the hot path are compiled and cached by SQLAlchemy.
# No RETURNING: a plain executemany (pipelined by psycopg; one statement text, converted
# once) is several times cheaper than multi-row VALUES lists of changing length.
_INSERT = _MSG.insert()
_NEW_VALUES = bindparam("new_values", type_=_DEV.last_values.type)


def _update_statement(dialect: str):
    """One UPDATE per device and batch. Last values are merged by the database (jsonb `||`,
    SQLite `json_patch`), so two workers storing readings of one device never undo each
    other's properties, and the hot path never reads the old values."""
    if dialect == "postgresql":
        merged = func.coalesce(_DEV.last_values, cast(literal("{}"), JSONB)).op("||", return_type=JSONB)(_NEW_VALUES)
    else:
        merged = func.json_patch(func.coalesce(_DEV.last_values, "{}"), _NEW_VALUES)
    return Device.__table__.update().where(_DEV.id == bindparam("device_id")).values(
        online=bindparam("online"), last_seen_at=bindparam("seen", type_=_DEV.last_seen_at.type),
        last_data_at=func.coalesce(bindparam("data_at", type_=_DEV.last_data_at.type), _DEV.last_data_at),
        last_values=merged)


_UPDATES = {d: _update_statement(d) for d in ("postgresql", "sqlite")}


_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('device_messages', 'id')) FROM generate_series(1, :n)")


def _insert_with_ids(db, rows: list[dict[str, Any]]) -> None:
    """Insert and put each row's id in it, so the monitoring leader in this process can take
    the rows as they are instead of reading them back (`monitoring.feed.MessageFeed.offer`).
    PostgreSQL: ids drawn from the sequence in one round trip, then a plain executemany.
    SQLite: the write lock is held for the whole insert, so the ids are consecutive up to
    last_insert_rowid()."""
    if db.dialect.name == "postgresql":
        for row, new_id in zip(rows, db.execute(_NEXT_IDS, {"n": len(rows)}).scalars(), strict=True):
            row["id"] = new_id
        db.execute(_INSERT, rows)
        return
    db.execute(_INSERT, rows)
    last = db.exec_driver_sql("SELECT last_insert_rowid()").scalar()
    for i, row in enumerate(rows):
        row["id"] = last - len(rows) + 1 + i


def stored_event(db_url: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What is published on STORED_TOPIC after a commit: the database it went to and the rows."""
    return {"db": db_url, "messages": len(rows), "rows": rows}


def ingest(session: Session, conn: Connection, msgs: list[DeviceMessage], *,
           var_dir: Path | None = None, index: DeviceIndex | None = None) -> tuple[list[dict[str, Any]], int]:
    """Store messages and update device state; returns (stored rows as dicts, messages held pending).

    The hot path of the platform: one multi-row insert of the messages and one update per
    device (executemany), cached device lookups, no ORM unit of work (runtime state is not
    audited metadata)."""
    now = utcnow()
    db = session.connection()
    index = index or device_index(str(session.get_bind().url))
    ids = index.lookup(db, conn.kind, {m.external_id for m in msgs})
    rows: list[dict[str, Any]] = []
    pending = 0
    states: dict[int, dict[str, Any]] = {}
    for msg in msgs:
        device_id = ids.get(msg.external_id)
        body = message_body(msg, _save_attachments(var_dir, conn.id, msg))
        rows.append({"connection_id": conn.id, "device_id": device_id, "external_id": msg.external_id,
                     "kind": msg.kind, "ts": msg.ts or now, "received_at": now, "body": body})
        if device_id is None:
            _hold_pending(session, conn, msg, body, now)
            pending += 1
            continue
        st = states.get(device_id)
        if st is None:
            st = states[device_id] = {"device_id": device_id, "online": True, "seen": now, "data_at": None,
                                      "new_values": {}}
        if msg.kind == "status":
            st["online"] = msg.online
            continue
        st["online"] = True
        if msg.kind == "telemetry" and msg.properties:
            at = (msg.ts or now).isoformat()
            for k, v in msg.properties.items():
                st["new_values"][k] = {"value": v, "ts": at}
            st["data_at"] = now
    _insert_with_ids(db, rows)
    if states:
        db.execute(_UPDATES[db.dialect.name], list(states.values()))
    session.flush()
    return rows, pending


def dead_letter_row(*, connection_id: int | None, req: PushRequest, reason: str, status: int,
                    transport: str = "http") -> DeadLetter:
    """The dead-letter record of a push: the raw bytes, where they came from and why."""
    return DeadLetter(connection_id=connection_id, reason=reason[:4000], status_code=status, transport=transport,
                      topic=req.topic or "", headers=dict(req.headers), query=dict(req.query),
                      remote_addr=req.remote_addr, raw=req.body)


def dead_letter(db: Database, *, connection_id: int | None, req: PushRequest, reason: str, status: int,
                transport: str = "http") -> int:
    with db.session() as s:
        dl = dead_letter_row(connection_id=connection_id, req=req, reason=reason, status=status, transport=transport)
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
            published = stored
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
    bus.publish(STORED_TOPIC, stored_event(db.url, published))
    n_pending = sum(1 for e in published if e["device_id"] is None)
    return Outcome(200, accepted=len(published), pending=n_pending)


@dataclass
class BatchItem:
    """One received MQTT message: the connection whose filter matched its topic (None: no
    connection subscribes to it) and the request."""

    connection_id: int | None
    req: PushRequest


def handle_batch(db: Database, items: list[BatchItem], *, var_dir: Path | None = None,
                 transport: str = "mqtt") -> list[Outcome]:
    """Many received messages in ONE transaction (the MQTT hot path, IOT-2/IOT-5): what a
    connector rejects is dead-lettered in the same transaction, the rest is stored. If the
    transaction itself fails, each message is retried in its own transaction, so one poison
    message never blocks the others. Raises only when even that cannot store (database
    down): the caller then keeps the messages unacknowledged and tries again."""
    if not items:
        return []
    try:
        outcomes = _store_batch(db, items, var_dir, transport)
    except Exception:
        log.exception("batch failed; storing its messages one by one", extra={"messages": len(items)})
        device_index(db.url).clear()
        outcomes = []
        for it in items:
            if it.connection_id is None:
                dl = dead_letter(db, connection_id=None, req=it.req, transport=transport, status=404,
                                 reason=f"no connection subscribes to topic {it.req.topic!r}")
                outcomes.append(Outcome(404, reason="no connection", dead_letter_id=dl))
            else:
                outcomes.append(handle_push(db, it.connection_id, it.req, var_dir=var_dir, transport=transport))
        return outcomes
    return outcomes


def _store_batch(db: Database, items: list[BatchItem], var_dir: Path | None, transport: str) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(items)
    dead: list[tuple[int, DeadLetter]] = []
    taken: list[tuple[int, int, int]] = []  # item index, connection id, number of messages
    with db.session() as s:
        conns: dict[int, tuple[Connection, Any, Any] | None] = {}
        groups: dict[int, list[DeviceMessage]] = defaultdict(list)
        for i, it in enumerate(items):
            try:
                if it.connection_id is None:
                    raise Rejected(f"no connection subscribes to topic {it.req.topic!r}", 404)
                if it.connection_id not in conns:
                    conn = s.get(Connection, it.connection_id)
                    if conn is None:
                        conns[it.connection_id] = None
                    else:
                        connector = registry.get(conn.kind)
                        conns[it.connection_id] = (conn, connector, connector.Settings.model_validate(conn.settings))
                found = conns[it.connection_id]
                if found is None:
                    raise Rejected(f"no connection {it.connection_id}", 404)
                conn, connector, settings = found
                if not conn.enabled:
                    raise Rejected("connection is disabled", 403)
                msgs = connector.parse(it.req, settings)
                if not msgs:
                    raise Rejected("the push carried no device message")
            except Rejected as exc:
                outcomes[i] = Outcome(exc.status, reason=exc.reason)
                known = it.connection_id if conns.get(it.connection_id) else None
                dead.append((i, dead_letter_row(connection_id=known, req=it.req, reason=exc.reason,
                                                status=exc.status, transport=transport)))
                continue
            except Exception as exc:  # a connector bug on this message: keep the bytes with the reason
                log.exception("connector failed on a message", extra={"connection": it.connection_id})
                outcomes[i] = Outcome(500, reason="internal error; the message was kept for replay")
                known = it.connection_id if conns.get(it.connection_id) else None
                dead.append((i, dead_letter_row(connection_id=known, req=it.req, status=500,
                                                reason=f"internal error: {type(exc).__name__}: {exc}",
                                                transport=transport)))
                continue
            groups[conn.id].extend(msgs)
            taken.append((i, conn.id, len(msgs)))
        stored: dict[int, list[dict[str, Any]]] = {}
        for conn_id, msgs in groups.items():
            stored[conn_id], _ = ingest(s, conns[conn_id][0], msgs, var_dir=var_dir)
        for _, row in dead:
            s.add(row)
        s.flush()
        kinds = {cid: v[0].kind for cid, v in conns.items() if v}
    # committed: now the counters, metrics and the wake-up of the monitoring feed
    cursor = defaultdict(int)
    for i, conn_id, n in taken:
        rows = stored[conn_id][cursor[conn_id]:cursor[conn_id] + n]
        cursor[conn_id] += n
        outcomes[i] = Outcome(200, accepted=n, pending=sum(1 for r in rows if r["device_id"] is None))
        counters_for(db).add(conn_id, accepted=n)
    for conn_id, msgs in groups.items():
        INGEST_MESSAGES.labels(kinds[conn_id]).inc(len(msgs))
    for i, row in dead:
        outcomes[i].dead_letter_id = row.id
        if row.connection_id is not None:
            counters_for(db).add(row.connection_id, rejected=1, error=row.reason)
        INGEST_REJECTED.labels(kinds.get(row.connection_id, "unknown")).inc()
    if taken:
        bus.publish(STORED_TOPIC, stored_event(db.url, [r for rows in stored.values() for r in rows]))
    return [o for o in outcomes if o is not None]


# -- dead letters and pending devices ---------------------------------------------------------

def replay(db: Database, dead_letter_id: int, *, actor: str, var_dir: Path | None = None) -> Outcome:
    """Run a dead letter through the pipeline again (after the cause was fixed)."""
    with db.session() as s:
        dl = s.get(DeadLetter, dead_letter_id)
        if dl is None:
            raise NotFound(f"死信 {dead_letter_id} 不存在")
        if dl.state != "new":
            raise Conflict(f"死信 {dead_letter_id} 已处理过（状态为 {dl.state}）")
        if dl.connection_id is None:
            raise Invalid("该死信没有对应的接入连接，无法重放")
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
        raise NotFound(f"死信 {dead_letter_id} 不存在")
    if dl.state != "new":
        raise Conflict(f"死信 {dead_letter_id} 已处理过（状态为 {dl.state}）")
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
        raise NotFound(f"待接入设备 {pending_id} 不存在")
    if p.state == "onboarded":
        raise Conflict("该设备已接入")
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
        raise NotFound(f"待接入设备 {pending_id} 不存在")
    p.state = "ignored"
    session.flush()
    return p


def recent_messages(session: Session, device_id: int, limit: int = 20) -> list[StoredMessage]:
    return list(session.scalars(select(StoredMessage).where(StoredMessage.device_id == device_id)
                                .order_by(StoredMessage.id.desc()).limit(limit)))
