"""Voice-call hook (IOT-5 / OPS-3): hand a call request to the AI outbound-call system
(the callout issue). That system will provide the URL later; until then this is the
contract we propose, served by the simulator:

    POST {url}
    Authorization: Bearer <token>          (when a token is set)
    {"request_id": "<dedup key or a uuid>", "title": "...", "severity": "critical",
     "script": "<the text to be spoken, Chinese>", "repeat": 2,
     "callees": [{"name": "张三", "phone": "13800001111"}, ...], "links": [...]}
    → {"code": 0, "msg": "ok", "call_id": "..."}

HTTP 408/429/5xx and timeouts are retryable, other 4xx permanent. A non-zero `code` is
permanent unless the answer says `"retryable": true`. Callees need a mainland mobile
(invalid ones are skipped, reported masked in `detail["rejected"]`); numbers appear in
logs only masked. `request_id` lets the call system drop duplicates of a retried request.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr

from cityops.notify.base import (
    Notification,
    PermanentError,
    RetryableError,
    SendResult,
    Severity,
    as_settings,
    json_body,
    mask_phone,
    normalize_mobile,
    post_http,
)

log = logging.getLogger(__name__)


class Settings(BaseModel):
    url: str
    token: SecretStr | None = None  # sent as a bearer token
    repeat: int = 2  # how often the script is read out per call
    max_script_chars: int = 300
    timeout_s: float = 10.0


def script(n: Notification, max_chars: int = 300) -> str:
    text = f"{Severity(n.severity).label}通知：{n.title}。{n.text}"
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


class VoiceHook:
    kind: ClassVar[str] = "voice"
    label: ClassVar[str] = "语音外呼"
    Settings: ClassVar[type[BaseModel]] = Settings

    def send(self, notification: Notification, settings: Any) -> SendResult:
        s: Settings = as_settings(Settings, settings)  # type: ignore[assignment]
        callees: list[dict[str, str]] = []
        rejected: list[str] = []
        for r in notification.recipients:
            if not r.phone:
                continue
            m = normalize_mobile(r.phone)
            if m is None:
                rejected.append(mask_phone(r.phone))
            elif all(c["phone"] != m for c in callees):
                callees.append({"name": r.name, "phone": m})
        masked = [mask_phone(c["phone"]) for c in callees]
        request_id = notification.dedup_key or uuid.uuid4().hex
        detail: dict[str, Any] = {"request_id": request_id, "callees": len(callees), "rejected": rejected}
        try:
            if not callees:
                raise PermanentError("voice: no valid mainland mobile number among the recipients")
            body = {"request_id": request_id, "title": notification.title,
                    "severity": Severity(notification.severity).value,
                    "script": script(notification, s.max_script_chars), "repeat": s.repeat,
                    "callees": callees, "links": [asdict(link) for link in notification.links]}
            headers = {"Authorization": f"Bearer {s.token.get_secret_value()}"} if s.token else {}
            response = post_http(s.url, timeout_s=s.timeout_s, what="voice", json=body, headers=headers)
            answer = json_body(response, "voice")
            code = answer.get("code", 0)
            if str(code) != "0":
                err = RetryableError if answer.get("retryable") is True else PermanentError
                raise err(f"voice: code {code} {answer.get('msg', '')}".strip(), status_code=response.status_code,
                          detail={"code": code})
        except (RetryableError, PermanentError) as exc:
            log.warning("voice call request failed (%s, retryable=%s) request=%s callees=%s rejected=%s", exc,
                        exc.retryable, request_id, masked, rejected)
            return SendResult.failed(exc, detail)
        call_id = answer.get("call_id")
        log.info("voice call requested call_id=%s request=%s callees=%s rejected=%s", call_id, request_id, masked,
                 rejected)
        return SendResult(ok=True, provider_message_id=None if call_id is None else str(call_id),
                          status_code=response.status_code, detail=detail)


channel = VoiceHook()
