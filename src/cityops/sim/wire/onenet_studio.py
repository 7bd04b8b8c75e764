"""OneNET Studio pushes as the platform sends them (IOT-2): msg is a JSON string, signed over
that string; secure mode encrypts it (AES-CBC, key = IV = the 16-character key).

`messy=True` writes times and ids as strings and lifeCycle status as 1/0.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from cityops.sim.wire import JSON_HEADERS, Wire, aes_cbc_encrypt, md5_b64, ms
from cityops.sim.wire import nonce as new_nonce
from cityops.sim.wire.onenet import verification  # the same GET check as classic OneNET

Ts = datetime | int | None

__all__ = ["push", "property_post", "event", "life_cycle", "reply", "verification", "encrypt"]


def encrypt(text: str, key: str) -> str:
    k = key.encode()
    return base64.b64encode(aes_cbc_encrypt(k, k, text.encode("utf-8"))).decode()


def push(
    inner: dict[str, Any],
    *,
    token: str,
    aes_key: str | None = None,
    nonce: str | None = None,
    push_id: str | None = None,
    ts: Ts = None,
    messy: bool = False,
) -> Wire:
    nonce = nonce or new_nonce()
    msg = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
    if aes_key:
        msg = encrypt(msg, aes_key)
    when = ms(ts)
    body = {
        "msg": msg,
        "nonce": nonce,
        "signature": md5_b64(token, nonce, msg.encode("utf-8")),
        "time": str(when) if messy else when,
        "id": push_id or uuid.uuid4().hex,
    }
    return json.dumps(body, ensure_ascii=not messy).encode("utf-8"), dict(JSON_HEADERS), {}


def _inner(message_type: str, product_id: str, device_name: str, project_id: str, data: dict,
           notify_type: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"projectId": project_id, "productId": product_id, "deviceName": device_name,
                             "messageType": message_type}
    if notify_type:
        inner["notifyType"] = notify_type
    inner["data"] = data
    return inner


def property_post(
    product_id: str,
    device_name: str,
    properties: dict[str, Any],
    *,
    token: str,
    project_id: str = "cn01",
    ts: Ts = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    when = ms(ts)
    t: Any = str(when) if messy else when
    params = {k: {"value": v, "time": t} for k, v in properties.items()}
    data = {"id": str(when % 100000), "params": params}
    inner = _inner("notify", product_id, device_name, project_id, data, "property")
    return push(inner, token=token, aes_key=aes_key, nonce=nonce, ts=ts, messy=messy)


def event(
    product_id: str,
    device_name: str,
    identifier: str,
    value: dict[str, Any],
    *,
    token: str,
    project_id: str = "cn01",
    ts: Ts = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    when = ms(ts)
    t: Any = str(when) if messy else when
    data = {"id": str(when % 100000), "params": {identifier: {"value": value, "time": t}}}
    inner = _inner("notify", product_id, device_name, project_id, data, "event")
    return push(inner, token=token, aes_key=aes_key, nonce=nonce, ts=ts, messy=messy)


def life_cycle(
    product_id: str,
    device_name: str,
    is_online: bool,
    *,
    token: str,
    project_id: str = "cn01",
    ts: Ts = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    when = ms(ts)
    if messy:
        data: dict[str, Any] = {"status": 1 if is_online else 0, "time": str(when)}
    else:
        data = {"status": "online" if is_online else "offline", "time": when}
    inner = _inner("lifeCycle", product_id, device_name, project_id, data)
    return push(inner, token=token, aes_key=aes_key, nonce=nonce, ts=ts, messy=messy)


def reply(
    product_id: str,
    device_name: str,
    task_id: str,
    code: int = 200,
    message: str = "success",
    *,
    token: str,
    project_id: str = "cn01",
    ts: Ts = None,
    aes_key: str | None = None,
    nonce: str | None = None,
    messy: bool = False,
) -> Wire:
    data = {"id": task_id, "code": str(code) if messy else code, "msg": message}
    inner = _inner("reply", product_id, device_name, project_id, data)
    return push(inner, token=token, aes_key=aes_key, nonce=nonce, ts=ts, messy=messy)
