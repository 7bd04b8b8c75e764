"""Wall displays (SYS-SCREEN): create (the key is returned once), list, revoke, and the check
a display's cookie goes through on every screen request. Writes are audited (ScreenDisplay is
Audited; the key's hash and the last-seen stamp stay out of the chain)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.screen.display_models import ScreenDisplay

KEY_BYTES = 32
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most once a minute per display


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, *, name: str, street_code: str | None, actor: str,
           now: datetime | None = None) -> tuple[ScreenDisplay, str]:
    """A new display and its key (shown to the creator once, never stored)."""
    from cityops.geo.service import get_street

    name = (name or "").strip()
    if not name:
        raise Invalid("请填写显示屏名称")
    if len(name) > 64:
        raise Invalid("显示屏名称最多 64 个字")
    street_code = (street_code or "").strip() or None
    if street_code is not None:
        get_street(session, street_code)  # 404 for an unknown street
    key = secrets.token_urlsafe(KEY_BYTES)
    d = ScreenDisplay(name=name, key_hash=hash_key(key), street_code=street_code, created_by=actor,
                      created_at=now or utcnow())
    session.add(d)
    session.flush()
    return d, key


def list_displays(session: Session) -> list[ScreenDisplay]:
    return list(session.scalars(select(ScreenDisplay).order_by(ScreenDisplay.revoked_at.is_not(None),
                                                               ScreenDisplay.id.desc())))


def get(session: Session, display_id: int) -> ScreenDisplay:
    d = session.get(ScreenDisplay, display_id)
    if d is None:
        raise NotFound(f"显示屏 {display_id} 不存在")
    return d


def revoke(session: Session, display_id: int, *, now: datetime | None = None) -> ScreenDisplay:
    d = get(session, display_id)
    if d.revoked_at is not None:
        raise Conflict(f"显示屏“{d.name}”已于此前停用")
    d.revoked_at = now or utcnow()
    session.flush()
    return d


def by_key(session: Session, key: str | None, *, now: datetime | None = None) -> ScreenDisplay | None:
    """The live display holding `key`, or None (unknown or revoked); notes when it was seen."""
    if not key or len(key) > 200:
        return None
    d = session.scalar(select(ScreenDisplay).where(ScreenDisplay.key_hash == hash_key(key)))
    if d is None or d.revoked_at is not None:
        return None
    now = now or utcnow()
    if d.last_seen_at is None or now - d.last_seen_at >= SEEN_EVERY:
        # A plain UPDATE of the runtime column: no audit row, no version bump.
        session.execute(update(ScreenDisplay).where(ScreenDisplay.id == d.id).values(last_seen_at=now))
        set_committed_value(d, "last_seen_at", now)
    return d


def created_with(session: Session, display_id: int, key: str) -> ScreenDisplay | None:
    """The display `display_id` if `key` is its key (the console's one showing after a create);
    unlike by_key, this is not the display being seen."""
    d = session.get(ScreenDisplay, display_id)
    if d is None or d.revoked_at is not None or len(key) > 200:
        return None
    return d if hmac.compare_digest(d.key_hash, hash_key(key)) else None


def as_dict(d: ScreenDisplay) -> dict:
    from cityops.core.schemas import iso

    return {"id": d.id, "name": d.name, "street_code": d.street_code, "created_by": d.created_by,
            "created_at": iso(d.created_at), "last_seen_at": iso(d.last_seen_at), "revoked_at": iso(d.revoked_at),
            "active": d.revoked_at is None}
