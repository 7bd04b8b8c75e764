"""E-mail over SMTP (IOT-5 / OPS-3), with the standard library's smtplib.

Connection security is a setting: "starttls" (port 587, upgrade after EHLO), "ssl"
(implicit TLS, port 465) or "none" (plain — only for a relay inside the government
network). TLS certificates are verified against the system store or `ca_file`; login is
done when `username` is set. The message is MIME multipart/alternative (text/plain +
text/html), UTF-8, with the Chinese subject and sender name RFC 2047-encoded by
`email.policy.SMTP`. The Message-ID is the provider message id.

SMTP 4xx replies, timeouts and dropped connections are retryable; 5xx replies (bad
login, refused recipients or message) are permanent. When the server refuses only some
recipients the send is ok and `detail["refused"]` lists them.
"""

from __future__ import annotations

import html
import logging
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, SecretStr

from cityops.notify.base import (
    ChannelError,
    Notification,
    PermanentError,
    RetryableError,
    SendResult,
    Severity,
    as_settings,
)

log = logging.getLogger(__name__)


class Settings(BaseModel):
    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str  # e.g. "cityops@cn.gov.cn"
    from_name: str = "长宁区城市运行管理平台"
    verify_tls: bool = True
    ca_file: str | None = None  # PEM bundle for a private CA
    timeout_s: float = 15.0
    subject_prefix: str = ""  # e.g. "[一网统管]"


def _tls_context(s: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=s.ca_file)
    if not s.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def html_body(n: Notification) -> str:
    sev = Severity(n.severity)
    colour = {"info": "#1677ff", "warning": "#fa8c16", "major": "#fa541c", "critical": "#f5222d"}[sev.value]
    paras = "".join(f"<p>{html.escape(line)}</p>" for line in n.text.splitlines() if line.strip())
    links = "".join(f'<li><a href="{html.escape(link.url, quote=True)}">{html.escape(link.title)}</a></li>'
                    for link in n.links)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
            f'<h3>{html.escape(n.title)}</h3>'
            f'<p style="color:{colour}">级别：{html.escape(sev.label)}</p>{paras}'
            + (f"<ul>{links}</ul>" if links else "") + "</body></html>")


def text_body(n: Notification) -> str:
    sev = Severity(n.severity)
    parts = [n.title, f"级别：{sev.label}", "", n.text]
    if n.links:
        parts.append("")
        parts += [f"{link.title}：{link.url}" for link in n.links]
    return "\n".join(parts) + "\n"


def build_message(n: Notification, s: Settings, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    domain = s.from_addr.rpartition("@")[2] or None
    subject = f"{s.subject_prefix} {n.title}".strip() if s.subject_prefix else n.title
    if Severity(n.severity) is Severity.CRITICAL:
        subject = f"【紧急】{subject}"
    msg["Subject"] = subject
    msg["From"] = Address(display_name=s.from_name, addr_spec=s.from_addr)
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=domain)
    if n.dedup_key:
        msg["X-CityOps-Dedup-Key"] = n.dedup_key
    msg.set_content(text_body(n), charset="utf-8")
    msg.add_alternative(html_body(n), subtype="html", charset="utf-8")
    return msg


def _reply_error(prefix: str, code: int, text: Any) -> ChannelError:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    err = RetryableError if 400 <= code < 500 else PermanentError
    return err(f"{prefix}: {code} {text}", status_code=code)


class SmtpEmail:
    kind: ClassVar[str] = "email"
    label: ClassVar[str] = "电子邮件"
    Settings: ClassVar[type[BaseModel]] = Settings

    def send(self, notification: Notification, settings: Any) -> SendResult:
        s: Settings = as_settings(Settings, settings)  # type: ignore[assignment]
        to = list(dict.fromkeys(r.email.strip() for r in notification.recipients if r.email and r.email.strip()))
        try:
            if not to:
                raise PermanentError("email: no recipient has an e-mail address")
            msg = build_message(notification, s, to)
            refused = self._deliver(msg, s, to)
        except ChannelError as exc:
            log.warning("email send failed (%s, retryable=%s) dedup=%s recipients=%d", exc, exc.retryable,
                        notification.dedup_key, len(to))
            return SendResult.failed(exc)
        msgid = msg["Message-ID"]
        log.info("email sent %s dedup=%s recipients=%d refused=%d", msgid, notification.dedup_key, len(to),
                 len(refused))
        return SendResult(ok=True, provider_message_id=msgid, status_code=250,
                          detail={"recipients": len(to), "refused": refused})

    def _deliver(self, msg: EmailMessage, s: Settings, to: list[str]) -> dict[str, str]:
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s,
                                                      context=_tls_context(s))
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with smtp:
                smtp.ehlo()
                if s.security == "starttls":
                    smtp.starttls(context=_tls_context(s))
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password.get_secret_value() if s.password else "")
                refused = smtp.send_message(msg, from_addr=s.from_addr, to_addrs=to)
        except UnicodeEncodeError as exc:  # smtplib sends AUTH credentials as ASCII only
            raise PermanentError("email: username and password must be ASCII for SMTP AUTH") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(400 <= c < 500 for c in codes):
                raise RetryableError(f"email: all recipients refused temporarily {codes}", status_code=codes[0])
            raise PermanentError(f"email: all recipients refused {codes}", status_code=codes[0] if codes else None)
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(f"email: server does not support it ({exc})")
        except smtplib.SMTPResponseException as exc:  # incl. authentication, sender, data errors
            raise _reply_error("email", exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPServerDisconnected as exc:
            raise RetryableError(f"email: server disconnected ({exc})")
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"email: TLS certificate not trusted ({exc.verify_message})")
        except (socket.timeout, TimeoutError) as exc:
            raise RetryableError(f"email: timed out after {s.timeout_s}s") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableError(f"email: connection failed ({type(exc).__name__}: {exc})") from exc
        return {addr: f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
                for addr, (code, text) in refused.items()}


channel = SmtpEmail()
