"""Tolerant readers for messy vendor fields: ids as numbers or strings, "", "undefined"."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Any

from cityops.connectors.base import Rejected

_EMPTY = ("", "undefined", "null", "none", "nan")


def text(value: Any) -> str | None:
    """A string id/field, or None for missing, empty, "undefined" and the like."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return None if s.lower() in _EMPTY else s


def pick(obj: dict, *names: str) -> Any:
    """The first present, non-empty value among several spellings (e.g. "IMEI", "imei")."""
    lowered = {k.lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else None
        if v is None:
            v = lowered.get(n.lower())
        if text(v) is not None or isinstance(v, (dict, list)):
            return v
    return None


def epoch_ms(value: Any) -> datetime | None:
    """Milliseconds (or seconds) since the epoch → aware UTC datetime; None if unusable."""
    s = text(value)
    if s is None:
        return None
    try:
        n = float(s)
    except ValueError:
        return None
    if n > 1e14:  # microseconds
        n /= 1000.0
    if n > 1e11:  # milliseconds
        n /= 1000.0
    try:
        return datetime.fromtimestamp(n, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(f"body is not JSON: {exc}") from exc


def integer(value: Any) -> int | None:
    """An integer field sent as a number or a string ("12", "12.0"); None if unusable."""
    if isinstance(value, bool):
        return int(value)
    s = text(value)
    if s is None:
        return None
    try:
        n = float(s)
    except ValueError:
        return None
    return int(n) if n.is_integer() else None


def b64decode(value: Any, what: str) -> bytes:
    """Standard or URL-safe base64, padding optional; Rejected naming `what` otherwise."""
    s = text(value)
    if s is None:
        raise Rejected(f"{what} is missing or empty")
    s = "".join(s.split())
    if "-" in s or "_" in s:
        s = s.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(f"{what} is not base64: {exc}") from exc


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CBC with PKCS7 padding; ValueError when the key or the data is wrong."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not data or len(data) % 16:
        raise ValueError("ciphertext length is not a multiple of 16")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


# --- raw JSON member scanner -------------------------------------------------------------
# Signatures computed over "the text as received" cannot be checked against a re-serialised
# value, so this finds the exact byte span of a top-level member without parsing it.
# Scanning bytes is safe for UTF-8: multi-byte sequences never contain ASCII bytes.

_WS = b" \t\r\n"


def _skip_ws(s: bytes, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _skip_string(s: bytes, i: int) -> int:
    """`i` is at the opening quote; returns the index after the closing quote."""
    i += 1
    while i < len(s):
        c = s[i]
        if c == 0x5C:  # backslash: skip the escaped character
            i += 2
            continue
        if c == 0x22:
            return i + 1
        i += 1
    raise ValueError("unterminated string")


def _skip_value(s: bytes, i: int) -> int:
    if i >= len(s):
        raise ValueError("missing value")
    c = s[i]
    if c == 0x22:
        return _skip_string(s, i)
    if c in b"{[":
        depth = 0
        while i < len(s):
            c = s[i]
            if c == 0x22:
                i = _skip_string(s, i)
                continue
            if c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ValueError("unbalanced brackets")
    start = i
    while i < len(s) and s[i] not in b",}]" and s[i] not in _WS:
        i += 1
    if i == start:
        raise ValueError(f"unexpected {chr(c)!r} at {i}")
    return i


def raw_member(body: bytes, key: str) -> bytes | None:
    """The exact bytes of the value of top-level member `key` of a JSON object text, or None
    when absent. ValueError for a body that is not a JSON object or names `key` twice
    (a second copy could differ from the one a signature was checked over)."""
    s = body[3:] if body.startswith(b"\xef\xbb\xbf") else body
    i = _skip_ws(s, 0)
    if i >= len(s) or s[i] != 0x7B:
        raise ValueError("not a JSON object")
    i = _skip_ws(s, i + 1)
    found: bytes | None = None
    if i < len(s) and s[i] == 0x7D:
        return None
    while True:
        if i >= len(s) or s[i] != 0x22:
            raise ValueError(f"expected a member name at {i}")
        end = _skip_string(s, i)
        name = json.loads(s[i:end].decode("utf-8"))
        i = _skip_ws(s, end)
        if i >= len(s) or s[i] != 0x3A:
            raise ValueError(f"expected ':' at {i}")
        i = _skip_ws(s, i + 1)
        end = _skip_value(s, i)
        if name == key:
            if found is not None:
                raise ValueError(f"member {key!r} appears twice")
            found = s[i:end]
        i = _skip_ws(s, end)
        if i < len(s) and s[i] == 0x2C:
            i = _skip_ws(s, i + 1)
            continue
        if i < len(s) and s[i] == 0x7D:
            return found
        raise ValueError(f"expected ',' or '}}' at {i}")


# --- time and settings helpers (IoTDA, Aliyun, Hikvision, MQTT JSON) ---
from datetime import timedelta  # noqa: E402  (appended section; the header imports belong to others)

CHINA_TZ = timezone(timedelta(hours=8))  # vendors' local times without an offset are Beijing time


def any_time(value: Any, naive_tz: timezone = timezone.utc) -> datetime | None:
    """A vendor timestamp → aware UTC datetime, or None if unusable.

    Accepts epoch s/ms/µs (number or digit string), ISO 8601 in basic form
    ("20151212T121212Z", IoTDA) or extended form ("2017-05-04T11:20:02+08:00",
    "2018-08-31 15:32:28.205"). Times without an offset are read in `naive_tz`.
    """
    if isinstance(value, datetime):
        dt = value
    else:
        s = text(value)
        if s is None:
            return None
        if s.lstrip("-").replace(".", "", 1).isdigit():
            return epoch_ms(s)
        try:
            dt = datetime.fromisoformat(s.replace("z", "Z"))
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive_tz)
    return dt.astimezone(timezone.utc)


def as_settings(model: type, settings: Any) -> Any:
    """The connection's settings as `model`, whether given as the model, a dict or None."""
    if isinstance(settings, model):
        return settings
    if settings is None:
        settings = {}
    elif not isinstance(settings, dict):
        settings = settings.model_dump() if hasattr(settings, "model_dump") else dict(settings)
    return model.model_validate(settings)


def timed_values(items: dict, default_ts: datetime | None = None) -> list[tuple[datetime | None, dict]]:
    """Split {identifier: {"value", "time"} | plain value} into (ts, {identifier: value}) groups,
    one per distinct time, in order of first appearance; items without a time get `default_ts`."""
    groups: dict[datetime | None, dict] = {}
    for key, item in items.items():
        if isinstance(item, dict) and "value" in item and set(item) <= {"value", "time"}:
            ts = any_time(item.get("time")) or default_ts
            item = item["value"]
        else:
            ts = default_ts
        groups.setdefault(ts, {})[key] = item
    return list(groups.items())
