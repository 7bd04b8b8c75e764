"""OneNET classic pushes as the platform sends them (IOT-2): signed, optionally encrypted.

The signature covers the msg text exactly as written into the body, so the body is assembled
as text around it. `messy=True` pretty-prints msg (spaces, newlines, raw Chinese), puts it
after the other members and writes numbers as strings, which a receiver that re-serialises
msg before hashing gets wrong.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from typing import Any

from cityops.sim.wire import JSON_HEADERS, Wire, aes_cbc_encrypt, md5_b64, ms
from cityops.sim.wire import nonce as new_nonce

Ts = datetime | int | None


def encrypt(msg_text: bytes, encoding_aes_key: str) -> str:
    """enc_msg: AES-256-CBC over 16 random bytes + 4-byte big-endian length + the message."""
    key = base64.b64decode(encoding_aes_key + "=")
    plain = os.urandom(16) + len(msg_text).to_bytes(4, "big") + msg_text
    return base64.b64encode(aes_cbc_encrypt(key, key[:16], plain)).decode()


def push(
    msg: dict[str, Any] | list[dict[str, Any]],
    *,
    token: str,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    nonce = nonce or new_nonce()
    if messy:
        msg_text = json.dumps(msg, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        msg_text = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if aes_key:
        enc = encrypt(msg_text, aes_key)
        body = {"enc_msg": enc, "msg_signature": md5_b64(token, nonce, enc.encode()), "nonce": nonce}
        return json.dumps(body).encode(), dict(JSON_HEADERS), {}
    sig = json.dumps(md5_b64(token, nonce, msg_text)).encode()
    n = json.dumps(nonce).encode()
    if messy:
        body = b'{ "nonce": ' + n + b', "msg_signature": ' + sig + b',\n  "msg": ' + msg_text + b"\n}"
    else:
        body = b'{"msg":' + msg_text + b',"msg_signature":' + sig + b',"nonce":' + n + b"}"
    return body, dict(JSON_HEADERS), {}


def data_point_msg(
    dev_id: int | str, ds_id: str, value: Any, *, at: Ts = None, imei: str | None = None, messy: bool = False
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": 1, "dev_id": dev_id, "ds_id": ds_id, "at": ms(at), "value": value}
    if imei:
        msg["imei"] = imei
    if messy:
        msg.update(type="1", dev_id=str(dev_id), at=str(msg["at"]))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            msg["value"] = str(value)
    return msg


def status_msg(
    dev_id: int | str, is_online: bool, *, login_type: int = 7, at: Ts = None, messy: bool = False
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": 2, "dev_id": dev_id, "status": 1 if is_online else 0,
                           "login_type": login_type, "at": ms(at)}
    if messy:
        msg = {k: str(v) for k, v in msg.items()}
    return msg


def data_point(
    dev_id: int | str,
    ds_id: str,
    value: Any,
    *,
    token: str,
    at: Ts = None,
    imei: str | None = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    msg = data_point_msg(dev_id, ds_id, value, at=at, imei=imei, messy=messy)
    return push(msg, token=token, aes_key=aes_key, nonce=nonce, messy=messy)


def data_points(
    dev_id: int | str,
    values: dict[str, Any],
    *,
    token: str,
    at: Ts = None,
    imei: str | None = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    """Several data streams of one device in one push (msg is an array)."""
    msgs = [data_point_msg(dev_id, k, v, at=at, imei=imei, messy=messy) for k, v in values.items()]
    return push(msgs, token=token, aes_key=aes_key, nonce=nonce, messy=messy)


def status(
    dev_id: int | str,
    is_online: bool,
    *,
    token: str,
    login_type: int = 7,
    at: Ts = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    msg = status_msg(dev_id, is_online, login_type=login_type, at=at, messy=messy)
    return push(msg, token=token, aes_key=aes_key, nonce=nonce, messy=messy)


def verification(token: str, msg: str | None = None, nonce: str | None = None) -> Wire:
    """The URL-verification GET: empty body, ?msg&nonce&signature (already URL-decoded)."""
    msg = msg or new_nonce(16)
    nonce = nonce or new_nonce()
    return b"", {}, {"msg": msg, "nonce": nonce, "signature": md5_b64(token, nonce, msg.encode())}
