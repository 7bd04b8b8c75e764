"""China Mobile OneNET Studio HTTP push (IOT-2).

The body is {"msg": "<JSON text as a string>", "nonce", "signature", "time", "id"}; the
signature is base64(md5(token + nonce + msg)) over the string's decoded value, as in classic
OneNET. In secure mode `msg` is base64 of AES-CBC ciphertext (key = the 16-character key,
IV = the key). Inside, `messageType` lifeCycle / notify (property, event) / reply.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr, field_validator

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.onenet import raw_text, signature_ok, verify_url
from cityops.connectors.util import (
    as_settings,
    aes_cbc_decrypt,
    b64decode,
    epoch_ms,
    integer,
    load_json,
    pick,
    text,
    timed_values,
)
from cityops.ingest.message import DeviceMessage


class Settings(BaseModel):
    token: SecretStr
    aes_key: SecretStr | None = None  # 16-character key: enables secure mode

    @field_validator("token")
    @classmethod
    def _token_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the push token must not be empty")
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and len(value.get_secret_value().encode()) != 16:
            raise ValueError("the OneNET Studio AES key must be 16 characters")
        return value or None


def decrypt(msg: str, key: str) -> bytes:
    k = key.encode()
    try:
        return aes_cbc_decrypt(k, k, b64decode(msg, "encrypted msg"))
    except ValueError as exc:
        raise Rejected(f"cannot decrypt msg (wrong aes_key?): {exc}") from exc


def _value(entry: Any) -> Any:
    """params entries are {"value", "time"}; tolerate a bare value."""
    return entry.get("value") if isinstance(entry, dict) and "value" in entry else entry


def _time(entry: Any) -> Any:
    return entry.get("time") if isinstance(entry, dict) else None


def _params(data: dict) -> dict:
    params = data.get("params")
    return params if isinstance(params, dict) else {}


def _life_cycle(m: dict, data: dict, common: dict) -> list[DeviceMessage]:
    raw = pick(data, "status")
    state = (text(raw) or "").lower()
    if state in ("online", "1", "true"):
        online = True
    elif state in ("offline", "0", "false"):
        online = False
    else:
        raise Rejected(f"lifeCycle with status {raw!r} (expected online or offline)")
    common["ts"] = epoch_ms(pick(data, "time")) or common["ts"]
    return [DeviceMessage(kind="status", online=online, **common)]


def _property(m: dict, data: dict, common: dict) -> list[DeviceMessage]:
    params = _params(data)
    if not params:
        raise Rejected("property notify without data.params")
    # one message per distinct property time, like the other connectors' batched reports
    return [
        DeviceMessage(kind="telemetry", properties=props, **{**common, "ts": ts, "meta": dict(common["meta"])})
        for ts, props in timed_values(params, common["ts"])
    ]


def _event(m: dict, data: dict, common: dict) -> list[DeviceMessage]:
    params = _params(data)
    identifier = text(pick(data, "identifier")) or text(pick(m, "identifier"))
    if identifier:  # one named event whose params are its outputs
        props = {k: _value(v) for k, v in params.items()}
        ts = epoch_ms(pick(data, "time")) or common["ts"]
        return [DeviceMessage(kind="event", event=identifier, properties=props, **{**common, "ts": ts})]
    if not params:
        raise Rejected("event notify without data.params or identifier")
    out = []
    for name, entry in params.items():  # params keyed by event identifier
        value = _value(entry)
        props = value if isinstance(value, dict) else {"value": value}
        ts = epoch_ms(_time(entry)) or common["ts"]
        out.append(DeviceMessage(kind="event", event=name, properties=dict(props), **{**common, "ts": ts}))
    return out


def _reply(m: dict, data: dict, common: dict) -> list[DeviceMessage]:
    task_id = text(pick(data, "id")) or text(pick(m, "id"))
    if task_id is None:
        raise Rejected("reply without data.id")
    raw = pick(data, "code")
    code = integer(raw)
    if code is None:
        raise Rejected(f"reply with code {raw!r}")
    detail = {"code": code, "msg": text(pick(data, "msg")), "data": pick(data, "data")}
    command = {
        "task_id": task_id,
        "status": "SUCCESSFUL" if code == 200 else "FAILED",
        "detail": {k: v for k, v in detail.items() if v is not None},
    }
    return [DeviceMessage(kind="command_response", command=command, **common)]


NOTIFY = {"property": _property, "event": _event}


def _one(m: Any, push: dict) -> list[DeviceMessage]:
    if not isinstance(m, dict):
        raise Rejected(f"msg must hold a JSON object, got {type(m).__name__}")
    mtype = text(pick(m, "messageType"))
    notify = text(pick(m, "notifyType"))
    if mtype == "notify":
        handler = NOTIFY.get(notify or "")
        if handler is None:
            raise Rejected(f"unknown OneNET Studio notifyType {notify!r} (expected property or event)")
    elif mtype == "lifeCycle":
        handler = _life_cycle
    elif mtype == "reply":
        handler = _reply
    else:
        raise Rejected(f"unknown OneNET Studio messageType {mtype!r} (expected lifeCycle, notify or reply)")
    device = text(pick(m, "deviceName"))
    if device is None:
        raise Rejected(f"{mtype} without deviceName")
    data = m.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    data = data if isinstance(data, dict) else {}
    meta = {k: v for k in ("productId", "projectId") if (v := text(pick(m, k))) is not None}
    if notify:
        meta["notifyType"] = notify
    if (mid := text(pick(data, "id"))) is not None:
        meta["message_id"] = mid
    if (pid := text(pick(push, "id"))) is not None:
        meta["push_id"] = pid
    common = {
        "external_id": device,
        "ts": epoch_ms(pick(push, "time")),
        "product_key": text(pick(m, "productId")),
        "source_type": f"{mtype}/{notify}" if mtype == "notify" else mtype,
        "meta": meta,
    }
    return handler(m, data, common)



class OneNETStudioConnector:
    kind = "onenet_studio"
    label = "中国移动 OneNET Studio"
    needs_shared_token = False
    Settings = Settings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        settings = as_settings(Settings, settings)
        push = load_json(request.body)
        if not isinstance(push, dict):
            raise Rejected("OneNET Studio push body must be a JSON object")
        msg = push.get("msg")
        if not isinstance(msg, str):
            raise Rejected("OneNET Studio push needs msg as a JSON string")
        token = settings.token.get_secret_value()
        if not signature_ok(push.get("signature"), token, raw_text(push.get("nonce")), msg.encode("utf-8")):
            raise Rejected("OneNET Studio signature mismatch", status=401)
        # base64 never starts with "{": a plain msg is accepted even when a key is set
        if settings.aes_key is not None and not msg.lstrip().startswith("{"):
            plain = decrypt(msg, settings.aes_key.get_secret_value())
        else:
            plain = msg.encode("utf-8")
        try:
            inner = json.loads(plain.decode("utf-8-sig"))
        except ValueError as exc:
            raise Rejected(f"OneNET Studio msg is not JSON: {exc}") from exc
        items = inner if isinstance(inner, list) else [inner]
        out: list[DeviceMessage] = []
        for n, m in enumerate(items):
            try:
                out.extend(_one(m, push))
            except Rejected as exc:
                prefix = f"msg {n}: " if isinstance(inner, list) else ""
                raise Rejected(prefix + exc.reason, exc.status) from exc
        return out

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        return verify_url(request, as_settings(Settings, settings).token.get_secret_value())


connector = OneNETStudioConnector()
