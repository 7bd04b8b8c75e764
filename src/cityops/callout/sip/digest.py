"""HTTP digest authentication for SIP (RFC 2617/3261 §22): MD5, with or without qop=auth."""

from __future__ import annotations

import hashlib
import re
import secrets

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(rest)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # MD5: what SIP digest (RFC 2617) requires


def authorization(challenge: dict[str, str], method: str, uri: str, username: str, password: str,
                  nc: int = 1, cnonce: str | None = None) -> str:
    """The Authorization / Proxy-Authorization header value answering `challenge`."""
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise ValueError(f"unsupported digest algorithm {algorithm}")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        ncs = f"{nc:08x}"
        response = _md5(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', "algorithm=MD5", f'cnonce="{cnonce}"', "qop=auth",
                  f"nc={ncs}"]
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
        parts += [f'response="{response}"', "algorithm=MD5"]
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)
