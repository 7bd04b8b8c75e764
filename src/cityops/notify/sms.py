"""SMS over a generic HTTP gateway (IOT-5 / OPS-3), the shape Chinese government SMS
platforms (政务短信平台) expose.

    POST {url}
    X-Timestamp: <unix ms>
    X-Signature: hex(HMAC-SHA256(secret, timestamp + raw_body))
    {"account": "...", "mobiles": ["13800001111", ...], "content": "【签名】...", "dedup_key": "..."}
    → {"code": 0, "msg": "ok", "msgid": "..."}

Everything that varies between gateways is a setting: JSON or form body
(`body_format`; form mobiles are comma-joined), the field names, the header names, the
digest encoding (hex/base64), the answer's code/message/id fields and which codes are
retryable. The signature is HMAC-SHA256 keyed with the secret over the timestamp string
immediately followed by the exact body bytes sent.

Content is "【signature】title：text", at most `max_chars` characters. Segments are counted
the way carriers bill: up to 70 characters is one SMS, longer content is split into
67-character parts (the rest carries the concatenation header); the signature counts.
Numbers must be mainland 11-digit mobiles; invalid ones are skipped and reported
(masked) in `detail["rejected"]`; no valid number at all is a permanent error.
Numbers appear in logs only masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, SecretStr, field_validator

from cityops.notify.base import (
    Notification,
    PermanentError,
    RetryableError,
    SendResult,
    as_settings,
    json_body,
    mask_phone,
    normalize_mobile,
    post_http,
)

log = logging.getLogger(__name__)

SINGLE_MAX = 70
PART_MAX = 67


class Settings(BaseModel):
    url: str  # the gateway's send endpoint
    account: str
    secret: SecretStr  # HMAC-SHA256 key
    signature: str  # 短信签名 without brackets, e.g. "长宁城运"
    body_format: Literal["json", "form"] = "json"
    account_field: str = "account"
    mobiles_field: str = "mobiles"
    content_field: str = "content"
    timestamp_header: str = "X-Timestamp"
    signature_header: str = "X-Signature"
    digest_encoding: Literal["hex", "base64"] = "hex"
    code_field: str = "code"
    ok_code: str = "0"
    message_field: str = "msg"
    message_id_field: str = "msgid"
    retryable_codes: list[str] = []  # gateway codes meaning "busy / try later"
    max_chars: int = 500
    timeout_s: float = 10.0

    @field_validator("secret")
    @classmethod
    def _secret_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("短信网关密钥 secret 不能为空")
        return value

    @field_validator("signature")
    @classmethod
    def _sig_plain(cls, value: str) -> str:
        value = value.strip().strip("【】").strip()
        if not value:
            raise ValueError("短信签名 signature 不能为空")
        return value


def segments(content: str) -> int:
    """How many SMS the carrier bills: ≤70 characters one, else ceil(n / 67)."""
    n = len(content)
    if n == 0:
        return 0
    return 1 if n <= SINGLE_MAX else math.ceil(n / PART_MAX)


def content(n: Notification, signature: str, max_chars: int = 500) -> str:
    text = f"【{signature}】{n.title}：{n.text}" if n.title else f"【{signature}】{n.text}"
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def sign(secret: str, timestamp: str, body: bytes, encoding: str = "hex") -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + body, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def split_mobiles(n: Notification) -> tuple[list[str], list[str]]:
    """(valid deduplicated mobiles, masked rejects)."""
    valid: list[str] = []
    rejected: list[str] = []
    for r in n.recipients:
        if not r.phone:
            continue
        m = normalize_mobile(r.phone)
        if m is None:
            rejected.append(mask_phone(r.phone))
        elif m not in valid:
            valid.append(m)
    return valid, rejected


def encode_body(s: Settings, mobiles: list[str], text: str, dedup_key: str | None) -> tuple[bytes, str]:
    fields: dict[str, Any] = {s.account_field: s.account, s.mobiles_field: mobiles, s.content_field: text}
    if dedup_key:
        fields["dedup_key"] = dedup_key
    if s.body_format == "json":
        return json.dumps(fields, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"
    fields[s.mobiles_field] = ",".join(mobiles)
    return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"


class SmsGateway:
    kind: ClassVar[str] = "sms"
    label: ClassVar[str] = "短信网关"
    Settings: ClassVar[type[BaseModel]] = Settings

    def send(self, notification: Notification, settings: Any) -> SendResult:
        s: Settings = as_settings(Settings, settings)  # type: ignore[assignment]
        mobiles, rejected = split_mobiles(notification)
        text = content(notification, s.signature, s.max_chars)
        detail: dict[str, Any] = {"segments": segments(text), "chars": len(text), "mobiles": len(mobiles),
                                  "rejected": rejected}
        masked = [mask_phone(m) for m in mobiles]
        try:
            if not mobiles:
                raise PermanentError("sms: no valid mainland mobile number among the recipients")
            body, ctype = encode_body(s, mobiles, text, notification.dedup_key)
            ts = str(int(time.time() * 1000))
            headers = {"Content-Type": ctype, s.timestamp_header: ts,
                       s.signature_header: sign(s.secret.get_secret_value(), ts, body, s.digest_encoding)}
            response = post_http(s.url, timeout_s=s.timeout_s, what="sms", content=body, headers=headers)
            answer = json_body(response, "sms")
            code = str(answer.get(s.code_field))
            if code != s.ok_code:
                msg = f"sms: gateway code {code} {answer.get(s.message_field, '')}".strip()
                err = RetryableError if code in s.retryable_codes else PermanentError
                raise err(msg, status_code=response.status_code, detail={"code": code})
        except (RetryableError, PermanentError) as exc:
            log.warning("sms send failed (%s, retryable=%s) dedup=%s to=%s rejected=%s", exc, exc.retryable,
                        notification.dedup_key, masked, rejected)
            return SendResult.failed(exc, detail)
        msgid = answer.get(s.message_id_field)
        log.info("sms sent msgid=%s dedup=%s to=%s segments=%d rejected=%s", msgid, notification.dedup_key,
                 masked, detail["segments"], rejected)
        return SendResult(ok=True, provider_message_id=None if msgid is None else str(msgid),
                          status_code=response.status_code, detail=detail)


channel = SmsGateway()
