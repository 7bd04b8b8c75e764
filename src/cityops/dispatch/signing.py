"""HMAC-SHA256 signatures of dispatch callbacks (IOT-7).

The platform signs the raw request body with the shared secret and sends the lowercase hex
digest in the `X-Signature` header; the receiver recomputes it over the bytes it received
(never over re-serialised JSON: key order and spacing would differ)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Signature"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` (hex, optionally "sha256=" prefixed) matches `body`; constant time."""
    if not signature or not secret:
        return False
    given = signature.strip().lower().removeprefix("sha256=")
    return hmac.compare_digest(given.encode("ascii", "ignore"), sign(secret, body).encode("ascii"))
