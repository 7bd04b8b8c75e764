"""Short-lived signed bearer tokens (JWT, HS256) (SVC-3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt

from cityops.core.timeutil import utcnow

ALGORITHM = "HS256"
ISSUER = "cityops"


@dataclass(frozen=True)
class Claims:
    user_id: int
    username: str
    role: str
    street_code: str | None
    jti: str


def issue(key: str, *, user_id: int, username: str, role: str, street_code: str | None, ttl_minutes: int) -> str:
    now = utcnow()
    payload = {
        "iss": ISSUER, "sub": username, "uid": user_id, "role": role, "street": street_code,
        "jti": secrets.token_urlsafe(12), "iat": now, "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode(key: str, token: str) -> Claims | None:
    """The claims of a valid, unexpired token of ours; None for anything else."""
    try:
        p = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=ISSUER,
                       options={"require": ["exp", "sub", "uid", "role", "jti"]})
    except jwt.PyJWTError:
        return None
    return Claims(int(p["uid"]), str(p["sub"]), str(p["role"]), p.get("street"), str(p["jti"]))


def csrf_token(key: str, jti: str) -> str:
    """Console forms carry this; it is bound to the session token, so another site cannot forge it."""
    return hmac.new(key.encode(), f"csrf:{jti}".encode(), hashlib.sha256).hexdigest()[:32]
