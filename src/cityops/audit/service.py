"""The audit chain (SVC-3, SYS-SEC): every write, who/what/before/after/when, HMAC-chained.

Each entry's hash is HMAC-SHA256(audit key, previous hash + canonical JSON of the entry),
so editing, deleting or re-ordering any entry breaks the chain from that point on, and
nobody without the key can forge a consistent chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, insert, select, update
from sqlalchemy.orm import Session

from cityops.audit.context import current_actor
from cityops.audit.mixin import Audited
from cityops.audit.models import AuditEntry, AuditHead
from cityops.core.metrics import AUDIT_CHAIN_OK
from cityops.core.timeutil import utcnow

GENESIS = "0" * 64
_key: bytes | None = None


def configure(key: str) -> None:
    """Set the HMAC key (from settings) and hook the ORM once per process."""
    global _key
    _key = key.encode()
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)


def mask_phone(value: Any) -> Any:
    """138****5678: keep enough to recognise a number, never enough to dial it."""
    if not isinstance(value, str) or len(value) < 7:
        return value
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _columns(obj: Audited):
    for attr in inspect(obj).mapper.column_attrs:
        column = attr.columns[0]
        if column.info.get("audit", True):
            yield attr.key


def _value(key: str, value: Any) -> Any:
    """Phone numbers are masked in the chain (`*phone*` columns and E.164 call-list numbers)."""
    return mask_phone(value) if "phone" in key or key.startswith("number_e164") else _jsonable(value)


def _snapshot(obj: Audited) -> dict[str, Any]:
    return {k: _value(k, getattr(obj, k)) for k in _columns(obj)}


def _changes(obj: Audited) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before, after = {}, {}
    for key in _columns(obj):
        hist = state.attrs[key].history
        if hist.has_changes():
            before[key] = _value(key, hist.deleted[0] if hist.deleted else None)
            after[key] = _value(key, hist.added[0] if hist.added else None)
    return before, after


def _entity(obj: Audited) -> tuple[str, str]:
    name = obj.__audit_entity__ or obj.__tablename__
    ident = inspect(obj).identity or inspect(obj).mapper.primary_key_from_instance(obj)
    return name, "/".join(str(v) for v in ident)


@dataclass
class Pending:
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _before_flush(session: Session, _ctx, _instances) -> None:
    # Deleted rows are snapshotted before the flush, while their attributes still load.
    snaps = session.info.setdefault("audit_deleted", {})
    for obj in session.deleted:
        if isinstance(obj, Audited):
            snaps[id(obj)] = _snapshot(obj)


def _after_flush(session: Session, _ctx) -> None:
    pending: list[Pending] = []
    for obj in session.new:
        if isinstance(obj, Audited):
            pending.append(Pending("create", *_entity(obj), None, _snapshot(obj)))
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after:
                pending.append(Pending("update", *_entity(obj), before, after))
    snaps = session.info.pop("audit_deleted", {})
    for obj in session.deleted:
        if isinstance(obj, Audited):
            pending.append(Pending("delete", *_entity(obj), snaps.get(id(obj)) or _snapshot(obj), None))
    if pending:
        _append(session, pending)


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, entity: str,
               entity_id: str, before: Any, after: Any, ip: str) -> str:
    if _key is None:
        raise RuntimeError("audit key not configured")
    body = json.dumps(
        {"seq": seq, "at": _jsonable(at), "actor": actor, "action": action, "entity": entity,
         "entity_id": entity_id, "before": before, "after": after, "ip": ip},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hmac.new(_key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


def _append(session: Session, items: list[Pending]) -> None:
    conn = session.connection()
    # Take the lock before reading the head, so two writers never chain off the same hash.
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    row = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    if row is None:
        conn.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = row
    actor = current_actor(session)
    at = utcnow()
    rows = []
    for item in items:
        seq += 1
        digest = entry_hash(prev, seq, at, actor.name, item.action, item.entity, item.entity_id,
                            item.before, item.after, actor.ip)
        rows.append({"seq": seq, "at": at, "actor": actor.name, "action": item.action, "entity": item.entity,
                     "entity_id": item.entity_id, "before": item.before, "after": item.after, "ip": actor.ip,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(insert(AuditEntry), rows)
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))


def record(session: Session, action: str, entity: str, entity_id: str = "", *,
           before: dict | None = None, after: dict | None = None) -> None:
    """An audit entry for something that is not a row change (a login, an export, a verify)."""
    clean = lambda d: None if d is None else {k: _value(k, v) for k, v in d.items()}  # noqa: E731
    _append(session, [Pending(action, entity, entity_id, clean(before), clean(after))])


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_broken_seq": self.first_broken_seq,
                "reason": self.reason}


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain from the start; report the first entry whose link or hash is wrong."""
    prev, expected_seq, checked = GENESIS, 1, 0
    last = 0
    while True:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not entries:
            break
        for e in entries:
            if e.seq != expected_seq:
                return _fail(checked, expected_seq, f"第 {expected_seq} 条记录缺失（被删除）")
            if e.prev_hash != prev:
                return _fail(checked, e.seq, "与上一条记录的哈希链接不符")
            digest = entry_hash(prev, e.seq, e.at, e.actor, e.action, e.entity, e.entity_id,
                                e.before, e.after, e.ip)
            if not hmac.compare_digest(digest, e.hash):
                return _fail(checked, e.seq, "记录内容与其哈希值不符（内容被改动）")
            prev, expected_seq, checked, last = e.hash, e.seq + 1, checked + 1, e.seq
        session.expunge_all()
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    if head is not None and (head.seq != last or head.hash != prev):
        return _fail(checked, last + 1 if head.seq > last else head.seq,
                     f"链止于第 {last} 条，但链头记录为第 {head.seq} 条（末尾的记录被删除？）")
    AUDIT_CHAIN_OK.set(1)
    return VerifyResult(True, checked)


def _fail(checked: int, seq: int, reason: str) -> VerifyResult:
    AUDIT_CHAIN_OK.set(0)
    return VerifyResult(False, checked, seq, reason)


def list_entries(session: Session, *, entity: str | None = None, actor: str | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
    from sqlalchemy import func

    q = select(AuditEntry)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
