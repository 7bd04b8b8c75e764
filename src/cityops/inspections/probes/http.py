"""`http` probe: status, keyword, JSON path and the TLS certificate's remaining days (OPS-1).

The certificate is read from the live connection even with `verify=false` (self-signed intranet
certificates), so an expiring one is reported either way."""

from __future__ import annotations

import json
import socket
import ssl
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from cityops.core.errors import Invalid
from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms

LABEL = "HTTP(S) 接口"
OPTIONS = (
    Opt("method", "请求方法", default="GET", choices=("GET", "HEAD", "POST")),
    Opt("status", "期望状态码（逗号分隔，默认 2xx/3xx）", type="list", default=[]),
    Opt("keyword", "响应中应包含的关键字", default=""),
    Opt("json_path", "JSON 路径（如 data.items.0.state）", default=""),
    Opt("expect", "JSON 路径的期望值", default=""),
    Opt("verify", "校验证书（自签名证书填 false）", type="bool", default=True),
    Opt("cert_warn_days", "证书剩余天数告警阈值", type="int", default=14),
    Opt("follow_redirects", "跟随跳转", type="bool", default=False),
    Opt("username", "Basic 认证用户名", default=""),
    Opt("password", "Basic 认证密码", default="", secret=True),
)
_BODY_LIMIT = 1_000_000


def validate_target(target: str, opts: dict[str, Any]) -> None:
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"HTTP 探针的目标必须是 http:// 或 https:// 开头的 URL，收到 {target!r}")
    for code in opts.get("status", []):
        if not code.isdigit() or not 100 <= int(code) <= 599:
            raise Invalid(f"期望状态码 {code!r} 无效")
    if opts.get("expect") and not opts.get("json_path"):
        raise Invalid("填写了期望值（expect）却没有 JSON 路径（json_path）")


def json_path(doc: Any, path: str) -> Any:
    """`data.items.0.state` → the value; KeyError with the failing step when absent."""
    cur = doc
    for step in path.split("."):
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        elif isinstance(cur, list) and step.lstrip("-").isdigit() and -len(cur) <= int(step) < len(cur):
            cur = cur[int(step)]
        else:
            raise KeyError(step)
    return cur


def _days_left(der: bytes | None) -> tuple[float | None, str]:
    if not der:
        return None, ""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    left = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400
    return round(left, 1), cert.not_valid_after_utc.date().isoformat()


def _fetch_cert(host: str, port: int, timeout_s: float) -> bytes | None:
    """The server's certificate without verifying it (to report days left after a TLS failure)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    if "expired" in text:
        return "证书已过期"
    if "self-signed" in text or "self signed" in text or "unable to get local issuer" in text:
        return "证书不受信任（自签名？可设置 verify=false）"
    if "hostname" in text.lower() or "IP address mismatch" in text:
        return "证书与主机名不符"
    return f"TLS 握手失败（{text[:120]}）"


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    url = urlsplit(target)
    is_tls = url.scheme == "https"
    port = url.port or (443 if is_tls else 80)
    auth = (opts["username"], opts["password"]) if opts["username"] else None
    start = time.monotonic()
    data: dict[str, Any] = {}
    der: bytes | None = None
    try:
        with httpx.Client(verify=opts["verify"], timeout=timeout_s, follow_redirects=opts["follow_redirects"],
                          trust_env=False) as client:
            start = time.monotonic()  # latency is the request's, not the loading of the CA bundle
            with client.stream(opts["method"], target, auth=auth) as r:
                if is_tls:
                    stream = r.extensions.get("network_stream")
                    sslobj = stream.get_extra_info("ssl_object") if stream is not None else None
                    der = sslobj.getpeercert(True) if sslobj is not None else None
                body = b""
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > _BODY_LIMIT:
                        break
                    if time.monotonic() - start > timeout_s:  # a trickling body still ends at the timeout
                        raise httpx.ReadTimeout("body too slow")
                status = r.status_code
    except httpx.TimeoutException:
        return ProbeResult(False, elapsed_ms(start), f"请求超时（{timeout_s:g} 秒）", data)
    except httpx.ConnectError as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
            days, until = _days_left(_fetch_cert(url.hostname, port, timeout_s))
            if days is not None:
                data.update(cert_days_left=days, cert_not_after=until)
            return ProbeResult(False, elapsed_ms(start), _tls_reason(exc), data)
        text = str(exc)
        reason = "连接被拒绝" if "refused" in text.lower() else ("域名解析失败" if "name" in text.lower() and
                                                                  "resol" in text.lower() else text[:160])
        return ProbeResult(False, elapsed_ms(start), f"无法连接 {url.hostname}:{port}（{reason}）", data)
    except httpx.HTTPError as exc:
        return ProbeResult(False, elapsed_ms(start), f"请求失败（{type(exc).__name__}: {str(exc)[:160]}）", data)
    latency = elapsed_ms(start)
    data["status"] = status
    problems: list[str] = []
    if is_tls:
        days, until = _days_left(der)
        if days is not None:
            data.update(cert_days_left=days, cert_not_after=until)
            if days < 0:
                problems.append(f"证书已于 {until} 过期")
            elif days < opts["cert_warn_days"]:
                problems.append(f"证书将在 {days:.0f} 天后（{until}）过期")
    wanted = opts["status"]
    if (str(status) not in wanted) if wanted else not 200 <= status < 400:
        problems.append(f"状态码 {status}，期望 {'、'.join(wanted) if wanted else '2xx/3xx'}")
    text = body.decode("utf-8", errors="replace")
    if opts["keyword"] and opts["keyword"] not in text:
        problems.append(f"响应中没有关键字“{opts['keyword']}”")
    if opts["json_path"]:
        try:
            value = json_path(json.loads(text), opts["json_path"])
            data["value"] = value
            if opts["expect"] and str(value if not isinstance(value, bool) else str(value).lower()) != opts["expect"]:
                problems.append(f"{opts['json_path']} = {value!r}，期望 {opts['expect']!r}")
        except ValueError:
            problems.append("响应不是 JSON")
        except KeyError as exc:
            problems.append(f"JSON 路径 {opts['json_path']} 不存在（在 {exc.args[0]!r} 处）")
    if problems:
        return ProbeResult(False, latency, "；".join(problems), data)
    extra = f"，证书剩余 {data['cert_days_left']:.0f} 天" if "cert_days_left" in data else ""
    return ProbeResult(True, latency, f"HTTP {status}，{latency:.0f} ms{extra}", data)
