"""WeCom (企业微信) group-robot webhook channel (IOT-5 / OPS-3). 政务微信 speaks the same
robot format, so it is this channel with another `base_url`.

    POST {base_url}?key={webhook_key}
    {"msgtype": "markdown", "markdown": {"content": "..."}}
    {"msgtype": "text", "text": {"content": "...", "mentioned_list": [...], "mentioned_mobile_list": [...]}}
    → {"errcode": 0, "errmsg": "ok"}   (HTTP 200 also for errors; errcode tells)

errcode 45009 (API rate limit: 20 messages/minute per robot) and -1 (system busy) are
retryable; 93000 (invalid webhook URL / key) and everything else permanent.
Content limits: markdown 4096 bytes, text 2048 bytes of UTF-8 — longer content is cut on
a character boundary with "…". Markdown messages cannot carry mentioned_mobile_list; they
@-mention recipients with a WeCom userid as <@userid>. Text messages mention by userid
and by mobile number.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, SecretStr, field_validator

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
    truncate_utf8,
)

log = logging.getLogger(__name__)

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MARKDOWN_MAX_BYTES = 4096
TEXT_MAX_BYTES = 2048
RETRYABLE_ERRCODES = {-1, 45009}
ERRCODE_RATE_LIMIT = 45009
ERRCODE_INVALID_WEBHOOK = 93000

_COLOUR = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.MAJOR: "warning",
           Severity.CRITICAL: "warning"}


class Settings(BaseModel):
    webhook_key: SecretStr  # the key= of the robot's webhook URL
    base_url: str = DEFAULT_URL  # 政务微信 / private deployment: its own …/cgi-bin/webhook/send
    msgtype: Literal["markdown", "text"] = "markdown"
    mention_all: bool = False  # text: add "@all"
    timeout_s: float = 10.0

    @field_validator("webhook_key")
    @classmethod
    def _key_set(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("企业微信机器人 webhook_key 不能为空")
        return value


def markdown_content(n: Notification) -> str:
    sev = Severity(n.severity)
    head = f'### {n.title}\n> 级别：<font color="{_COLOUR[sev]}">{sev.label}</font>\n\n'
    tail_lines = [f"[{link.title}]({link.url})" for link in n.links]
    mentions = " ".join(f"<@{r.wecom_userid}>" for r in n.recipients if r.wecom_userid)
    if mentions:
        tail_lines.append(mentions)
    tail = "".join("\n" + line for line in tail_lines)
    # Links and mentions matter most to the reader: cut the body text, keep head and tail.
    room = MARKDOWN_MAX_BYTES - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return truncate_utf8(head + truncate_utf8(n.text, max(room, 0)) + tail, MARKDOWN_MAX_BYTES)


def text_content(n: Notification) -> str:
    sev = Severity(n.severity)
    parts = [f"【{sev.label}】{n.title}", n.text]
    parts += [f"{link.title}：{link.url}" for link in n.links]
    return truncate_utf8("\n".join(parts), TEXT_MAX_BYTES)


def payload(n: Notification, settings: Settings) -> dict[str, Any]:
    if settings.msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": markdown_content(n)}}
    userids = [r.wecom_userid for r in n.recipients if r.wecom_userid]
    mobiles = [m for m in (normalize_mobile(r.phone) for r in n.recipients) if m]
    if settings.mention_all:
        userids.append("@all")
    text: dict[str, Any] = {"content": text_content(n)}
    if userids:
        text["mentioned_list"] = userids
    if mobiles:
        text["mentioned_mobile_list"] = mobiles
    return {"msgtype": "text", "text": text}


class WeComRobot:
    kind: ClassVar[str] = "wecom"
    label: ClassVar[str] = "企业微信/政务微信群机器人"
    Settings: ClassVar[type[BaseModel]] = Settings

    def send(self, notification: Notification, settings: Any) -> SendResult:
        s: Settings = as_settings(Settings, settings)  # type: ignore[assignment]
        body = payload(notification, s)
        mentioned = body.get("text", {}).get("mentioned_mobile_list", [])
        try:
            response = post_http(s.base_url, timeout_s=s.timeout_s, what="wecom",
                                 params={"key": s.webhook_key.get_secret_value()}, json=body)
            answer = json_body(response, "wecom")
            errcode = answer.get("errcode")
            try:
                errcode = int(errcode)
            except (TypeError, ValueError):
                raise RetryableError(f"wecom: answer without errcode: {str(answer)[:200]}",
                                     status_code=response.status_code)
            if errcode != 0:
                msg = f"wecom: errcode {errcode} {answer.get('errmsg', '')}".strip()
                err = RetryableError if errcode in RETRYABLE_ERRCODES else PermanentError
                raise err(msg, status_code=response.status_code, detail={"errcode": errcode})
        except (RetryableError, PermanentError) as exc:
            log.warning("wecom send failed (%s, retryable=%s) dedup=%s mentioned=%s", exc, exc.retryable,
                        notification.dedup_key, [mask_phone(m) for m in mentioned])
            return SendResult.failed(exc)
        log.info("wecom sent %s dedup=%s mentioned=%s", s.msgtype, notification.dedup_key,
                 [mask_phone(m) for m in mentioned])
        return SendResult(ok=True, status_code=response.status_code, detail={"errcode": 0, "msgtype": s.msgtype})


channel = WeComRobot()
