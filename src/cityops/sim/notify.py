"""Simulators for the notification channels (IOT-5 / OPS-3), served over real HTTP/SMTP on
127.0.0.1 so tests exercise the adapters end to end.

`NotifySim` is one FastAPI app with three providers:

    POST /cgi-bin/webhook/send?key=K   the WeCom/政务微信 group robot (keys in `wecom_keys`)
    POST /sms/send                     the HTTP SMS gateway; verifies the HMAC-SHA256
                                       signature over timestamp + body (accounts in `sms_accounts`)
    POST /voice/calls                  the voice-call hook (bearer `voice_token` when set)

Everything received is recorded (`wecom`, `sms`, `voice`). Failures are injected per
provider with `fail(provider, mode, times=1)`; modes: "rate_limit" (WeCom errcode 45009,
HTTP 429 elsewhere), "invalid_key" (WeCom errcode 93000, SMS code 1001, voice 401),
"5xx" (HTTP 503), "timeout" (answer after `slow_s` seconds).

`SmtpSink` is an aiosmtpd server recording each message (parsed), with optional
STARTTLS or implicit TLS (`self_signed_cert` makes a certificate for 127.0.0.1), optional
login, refused addresses and injected reply codes (`fail_next_data = "451 ..."`).

    sim = NotifySim(wecom_keys={"k1"}, sms_accounts={"acc": "secret"})
    with serve(sim) as base_url, SmtpSink() as sink:
        ...  # wecom base_url + "/cgi-bin/webhook/send", sink.port
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cityops.sim.serve import free_port, serve_app


MODES = ("rate_limit", "invalid_key", "5xx", "timeout")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class NotifySim:
    """The simulated WeCom robot, SMS gateway and voice hook; safe to change while serving."""

    def __init__(self, *, wecom_keys: set[str] | None = None, sms_accounts: dict[str, str] | None = None,
                 voice_token: str | None = None, slow_s: float = 1.5, max_skew_s: float = 300):
        self.wecom_keys = set(wecom_keys or {"sim-key"})
        self.sms_accounts = dict(sms_accounts or {"sim-account": "sim-secret"})
        self.voice_token = voice_token
        self.slow_s = slow_s
        self.max_skew_s = max_skew_s
        self.wecom: list[dict[str, Any]] = []
        self.sms: list[dict[str, Any]] = []
        self.voice: list[dict[str, Any]] = []
        self.sms_rejected: list[str] = []  # why SMS requests were refused (signature etc.)
        self._failures: dict[str, list[str]] = {"wecom": [], "sms": [], "voice": []}
        self._lock = threading.RLock()

    def fail(self, provider: str, mode: str, times: int = 1) -> None:
        if provider not in self._failures or mode not in MODES:
            raise ValueError(f"unknown provider/mode {provider}/{mode}")
        with self._lock:
            self._failures[provider].extend([mode] * times)

    def _next_failure(self, provider: str) -> str | None:
        with self._lock:
            queue = self._failures[provider]
            return queue.pop(0) if queue else None

    # -- HTTP --

    def app(self) -> FastAPI:
        api = FastAPI(title="notification simulator", docs_url=None, redoc_url=None, openapi_url=None)

        async def injected(provider: str) -> JSONResponse | None:
            mode = self._next_failure(provider)
            if mode == "timeout":
                await asyncio.sleep(self.slow_s)
                return None  # answer normally, but too late for the client
            if mode == "5xx":
                return JSONResponse({"code": 503, "msg": "service unavailable"}, status_code=503)
            if mode == "rate_limit":
                if provider == "wecom":
                    return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
                return JSONResponse({"code": 429, "msg": "too many requests"}, status_code=429)
            if mode == "invalid_key":
                if provider == "wecom":
                    return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
                if provider == "sms":
                    return JSONResponse({"code": 1001, "msg": "account invalid"})
                return JSONResponse({"code": 401, "msg": "invalid token"}, status_code=401)
            return None

        @api.post("/cgi-bin/webhook/send")
        async def wecom(request: Request):
            failed = await injected("wecom")
            if failed is not None:
                return failed
            key = request.query_params.get("key", "")
            if key not in self.wecom_keys:
                return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
            try:
                body = json.loads(await request.body())
            except ValueError:
                return JSONResponse({"errcode": 40035, "errmsg": "invalid json"})
            msgtype = body.get("msgtype")
            limit = {"markdown": 4096, "text": 2048}.get(msgtype)
            if limit is None:
                return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
            content = (body.get(msgtype) or {}).get("content", "")
            if not content or len(content.encode("utf-8")) > limit:
                return JSONResponse({"errcode": 40058, "errmsg": f"content exceed max length {limit}"})
            with self._lock:
                self.wecom.append({"key": key, **body})
            return {"errcode": 0, "errmsg": "ok"}

        @api.post("/sms/send")
        async def sms(request: Request):
            failed = await injected("sms")
            if failed is not None:
                return failed
            raw = await request.body()
            ts = request.headers.get("x-timestamp", "")
            given = request.headers.get("x-signature", "")
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    fields = json.loads(raw)
                except ValueError:
                    return JSONResponse({"code": 400, "msg": "invalid json"}, status_code=400)
                mobiles = fields.get("mobiles") or []
            else:
                fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
                mobiles = [m for m in fields.get("mobiles", "").split(",") if m]
            secret = self.sms_accounts.get(str(fields.get("account", "")))
            if secret is None:
                return self._sms_refuse("unknown account", {"code": 1001, "msg": "account invalid"})
            want = hmac.new(secret.encode(), ts.encode() + raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given.lower().encode(), want.encode()):
                return self._sms_refuse("bad signature", {"code": 1002, "msg": "signature mismatch"}, 401)
            try:
                skew = abs(time.time() - int(ts) / 1000)
            except ValueError:
                skew = float("inf")
            if skew > self.max_skew_s:
                return self._sms_refuse("stale timestamp", {"code": 1003, "msg": "timestamp expired"}, 401)
            content = str(fields.get("content", ""))
            if not re.match(r"^【[^】]+】", content):
                return self._sms_refuse("no signature prefix", {"code": 2002, "msg": "missing 【签名】"})
            if not mobiles or not all(_MOBILE.match(str(m)) for m in mobiles):
                return self._sms_refuse("bad mobile", {"code": 2001, "msg": "invalid mobile"})
            n = len(content)
            segments = 1 if n <= 70 else -(-n // 67)
            msgid = uuid.uuid4().hex
            with self._lock:
                self.sms.append({"account": fields["account"], "mobiles": list(mobiles), "content": content,
                                 "segments": segments, "msgid": msgid, "headers": dict(request.headers),
                                 "fields": fields})
            return {"code": 0, "msg": "ok", "msgid": msgid, "segments": segments}

        @api.post("/voice/calls")
        async def voice(request: Request):
            failed = await injected("voice")
            if failed is not None:
                return failed
            if self.voice_token is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {self.voice_token}".encode()):
                    return JSONResponse({"code": 401, "msg": "invalid token"}, status_code=401)
            try:
                body = json.loads(await request.body())
            except ValueError:
                return JSONResponse({"code": 400, "msg": "invalid json"}, status_code=400)
            if not body.get("script") or not body.get("callees"):
                return {"code": 4001, "msg": "script and callees required"}
            call_id = uuid.uuid4().hex
            with self._lock:
                self.voice.append({**body, "call_id": call_id, "authorization": request.headers.get("authorization")})
            return {"code": 0, "msg": "ok", "call_id": call_id}

        return api

    def _sms_refuse(self, why: str, answer: dict[str, Any], status: int = 200) -> JSONResponse:
        with self._lock:
            self.sms_rejected.append(why)
        return JSONResponse(answer, status_code=status)


@contextmanager
def serve(sim: NotifySim, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the simulator with uvicorn in a thread; yields its base URL."""
    with serve_app(sim.app(), host=host, port=port, name="notify-sim", lifespan="off") as url:
        yield url


# -- SMTP --


@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: email.message.EmailMessage
    login: str | None = None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""


@dataclass
class _Handler:
    sink: "SmtpSink"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.refuse:
            return self.sink.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            failure, self.sink.fail_next_data = self.sink.fail_next_data, None
        if failure:
            return failure
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.auth_data.login.decode() if getattr(session.auth_data, "login", None) else None
        with self.sink.lock:
            self.sink.messages.append(SinkMessage(envelope.mail_from, list(envelope.rcpt_tos), raw, msg, login))
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 that records what it receives.

    security: "none", "starttls" (STARTTLS required) or "ssl" (implicit TLS); TLS needs
    `cert` = (cert.pem, key.pem). With `users` set, login is required."""

    security: str = "none"
    cert: tuple[Path, Path] | None = None
    users: dict[str, str] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)  # address → reply, e.g. "550 5.1.1 no such user"
    fail_next_data: str | None = None  # e.g. "451 4.3.0 try again later"
    messages: list[SinkMessage] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            want = self.users.get(auth_data.login.decode())
            if want is not None and hmac.compare_digest(want.encode(), auth_data.password):
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        self.port = self.port or free_port()
        kwargs: dict[str, Any] = {}
        if self.security != "none":
            if self.cert is None:
                raise ValueError("TLS needs a certificate")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
            if self.security == "ssl":
                kwargs["ssl_context"] = ctx
            else:
                kwargs.update(tls_context=ctx, require_starttls=True)
        if self.users:
            # Login is enforced in handle_MAIL. aiosmtpd's own auth_require_tls only knows
            # STARTTLS; with implicit TLS the socket is TLS already.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.security == "starttls")
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway certificate for `host` (an IP SAN and "localhost"); returns (cert, key)
    paths — the cert doubles as the client's CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cityops notify sim")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "sim-cert.pem", directory / "sim-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
