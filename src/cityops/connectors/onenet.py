"""China Mobile OneNET classic HTTP push (IOT-2).

OneNET signs each push: msg_signature = base64(md5(token + nonce + msg)), where msg is the
text of the `msg` member exactly as it appears in the body — so the raw bytes are cut out of
the body (util.raw_member) rather than re-serialised. In encrypted mode the body carries
`enc_msg` instead (AES-256-CBC, see `decrypt`), signed the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from pydantic import BaseModel, SecretStr, field_validator

from cityops.connectors.base import PushRequest, Rejected
from cityops.connectors.util import (
    as_settings,
    aes_cbc_decrypt,
    b64decode,
    epoch_ms,
    integer,
    load_json,
    pick,
    raw_member,
    text,
)
from cityops.ingest.message import DeviceMessage


class Settings(BaseModel):
    token: SecretStr  # the push token configured on OneNET
    aes_key: SecretStr | None = None  # EncodingAESKey (43 chars): enables encrypted mode

    @field_validator("token")
    @classmethod
    def _token_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the push token must not be empty")
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            aes_key(value.get_secret_value())
        return value or None


def aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey → the 32-byte AES key."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except ValueError as exc:
        raise ValueError(f"EncodingAESKey is not base64: {exc}") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def signature_ok(signature: Any, token: str, nonce: str, msg: bytes) -> bool:
    """Check base64(md5(token + nonce + msg)). Tolerates what URL decoding does to base64
    ('+' read as ' ') and dropped '=' padding."""
    sig = text(signature)
    if sig is None:
        return False
    got = sig.replace(" ", "+").rstrip("=")
    want = base64.b64encode(hashlib.md5(token.encode() + nonce.encode() + msg).digest()).decode().rstrip("=")
    return hmac.compare_digest(got.encode(), want.encode())


def raw_text(value: Any) -> str:
    """A signed field as the sender hashed it: strings as they are, numbers as written."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def decrypt(enc_msg: Any, key: bytes) -> bytes:
    """OneNET encrypted mode: plaintext = 16 random bytes + 4-byte big-endian length + message."""
    data = b64decode(enc_msg, "enc_msg")
    try:
        plain = aes_cbc_decrypt(key, key[:16], data)
    except ValueError as exc:
        raise Rejected(f"cannot decrypt enc_msg (wrong aes_key?): {exc}") from exc
    if len(plain) < 20:
        raise Rejected("decrypted enc_msg is too short")
    size = int.from_bytes(plain[16:20], "big")
    if 20 + size > len(plain):
        raise Rejected("decrypted enc_msg length field exceeds the data (wrong aes_key?)")
    return plain[20 : 20 + size]


def _data_point(m: dict, common: dict) -> DeviceMessage:
    ds_id = text(pick(m, "ds_id"))
    if ds_id is None:
        raise Rejected("data point (type 1) without ds_id")
    return DeviceMessage(kind="telemetry", properties={ds_id: m.get("value")}, **common)


def _online(m: dict, common: dict) -> DeviceMessage:
    raw = pick(m, "status")
    status = integer(raw)
    if status not in (0, 1):
        raise Rejected(f"online/offline (type 2) with status {raw!r} (expected 0 or 1)")
    login_type = integer(pick(m, "login_type"))
    if login_type is not None:
        common["meta"]["login_type"] = login_type
    return DeviceMessage(kind="status", online=status == 1, **common)


HANDLERS = {1: _data_point, 2: _online}


def _one(m: Any) -> DeviceMessage:
    if not isinstance(m, dict):
        raise Rejected(f"expected a JSON object, got {type(m).__name__}")
    raw_type = pick(m, "type")
    handler = HANDLERS.get(integer(raw_type))  # type: ignore[arg-type]
    if handler is None:
        raise Rejected(f"unknown OneNET msg type {raw_type!r} (expected 1 data point or 2 online/offline)")
    dev_id = text(pick(m, "dev_id"))
    if dev_id is None:
        raise Rejected("OneNET msg without dev_id")
    common = {
        "external_id": dev_id,
        "ts": epoch_ms(pick(m, "at")),
        "imei": text(pick(m, "imei", "IMEI")),
        "source_type": f"type{integer(raw_type)}",
        "meta": {},
    }
    return handler(m, common)


def messages(msg: Any) -> list[DeviceMessage]:
    """A decoded `msg` value (one object or an array) → canonical messages."""
    items = msg if isinstance(msg, list) else [msg]
    out = []
    for n, m in enumerate(items):
        try:
            out.append(_one(m))
        except Rejected as exc:
            prefix = f"msg {n}: " if isinstance(msg, list) else ""
            raise Rejected(prefix + exc.reason, exc.status) from exc
    return out



class OneNETConnector:
    kind = "onenet"
    label = "中国移动 OneNET"
    needs_shared_token = False
    Settings = Settings

    def parse(self, request: PushRequest, settings: Any) -> list[DeviceMessage]:
        settings = as_settings(Settings, settings)
        token = settings.token.get_secret_value()
        body = load_json(request.body)
        if not isinstance(body, dict):
            raise Rejected("OneNET push body must be a JSON object")
        nonce = raw_text(body.get("nonce"))
        signature = body.get("msg_signature")
        if "enc_msg" in body:
            if settings.aes_key is None:
                raise Rejected("encrypted OneNET push but the connection has no aes_key")
            enc_msg = body["enc_msg"]
            if not isinstance(enc_msg, str) or not signature_ok(signature, token, nonce, enc_msg.encode()):
                raise Rejected("OneNET signature mismatch", status=401)
            raw = decrypt(enc_msg, aes_key(settings.aes_key.get_secret_value()))
        else:
            try:
                raw = raw_member(request.body, "msg")
            except ValueError as exc:
                raise Rejected(f"OneNET push body: {exc}") from exc
            if raw is None:
                raise Rejected("OneNET push without msg or enc_msg")
            if not signature_ok(signature, token, nonce, raw):
                raise Rejected("OneNET signature mismatch", status=401)
        # parse the bytes that were signed, not whatever else the body holds
        try:
            msg = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise Rejected(f"OneNET msg is not JSON: {exc}") from exc
        return messages(msg)

    def verify_get(self, request: PushRequest, settings: Any) -> bytes | None:
        settings = as_settings(Settings, settings)
        return verify_url(request, settings.token.get_secret_value())


def verify_url(request: PushRequest, token: str) -> bytes:
    """OneNET URL verification: GET ?msg&nonce&signature → echo msg when the signature holds."""
    msg = request.query.get("msg")
    if msg is None:
        raise Rejected("verification GET without msg")
    nonce = request.query.get("nonce", "")
    if not signature_ok(request.query.get("signature"), token, nonce, msg.encode()):
        raise Rejected("OneNET verification signature mismatch", status=401)
    return msg.encode()


connector = OneNETConnector()
