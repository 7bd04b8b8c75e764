"""Line checks (CALL-3): SIP OPTIONS ping, HTTP status page, test calls.

Every check is one `callout_line_checks` row. OPTIONS decides a device's state: any answer
below 500 means its SIP stack is alive (401/404 included), no answer within the timeout, an
ICMP port-unreachable or a 5xx means down. A change of state up ↔ down is alerted once (the
dedup key names the change, not the check). A test call passes when the test number answers.
The network part runs without a database session, so a slow gateway holds no transaction."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.callout import lines, numbers
from cityops.callout.line_models import CallerId, LineCheck, LineDevice
from cityops.callout.sip import message
from cityops.callout.sip.client import place_call_sync, run_sync
from cityops.core.errors import Invalid
from cityops.core.timeutil import utcnow

OPTIONS_TIMEOUT_S = 2.0
HTTP_TIMEOUT_S = 5.0
MAX_PARALLEL = 8
RESULT_LABELS = {"answered": "接通", "busy": "忙", "no_answer": "无人接听", "rejected": "拒接",
                 "invalid_number": "空号", "unreachable": "网关无响应", "failed": "失败"}


@dataclass
class Probe:
    ok: bool
    detail: str
    duration_ms: int
    data: dict[str, Any] = field(default_factory=dict)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.queue.put_nowait(data)

    def error_received(self, exc):  # ICMP port unreachable on a connected socket
        self.queue.put_nowait(exc)


async def options_ping(host: str, port: int, *, timeout_s: float = OPTIONS_TIMEOUT_S, t1: float = 0.5) -> Probe:
    """One OPTIONS transaction over UDP, retransmitted per RFC 3261 timer E until `timeout_s`."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    try:
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        transport, proto = await loop.create_datagram_endpoint(_Collect, remote_addr=infos[0][4])
    except OSError as exc:
        return Probe(False, f"无法连接 {host}:{port}（{exc.strerror or type(exc).__name__}）", 0)
    try:
        local_ip, local_port = transport.get_extra_info("sockname")[:2]
        call_id = f"{secrets.token_hex(10)}@{local_ip}"
        request = message.build(f"OPTIONS sip:{host}:{port} SIP/2.0", [
            ("Via", f"SIP/2.0/UDP {local_ip}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("Max-Forwards", "70"), ("From", f"<sip:cityops@{local_ip}>;tag={secrets.token_hex(6)}"),
            ("To", f"<sip:{host}:{port}>"), ("Call-ID", call_id), ("CSeq", "1 OPTIONS"),
            ("Accept", "application/sdp"), ("User-Agent", "cityops-linecheck")])
        deadline, interval = loop.time() + timeout_s, t1
        transport.sendto(request)
        next_tx = loop.time() + interval
        while True:
            wait = min(deadline, next_tx) - loop.time()
            try:
                item = await asyncio.wait_for(proto.queue.get(), max(wait, 0))
            except TimeoutError:
                if loop.time() >= deadline:
                    return Probe(False, f"SIP OPTIONS 超时（{timeout_s:g} 秒无响应）", _ms(start))
                transport.sendto(request)
                interval = min(interval * 2, 4.0)
                next_tx = loop.time() + interval
                continue
            if isinstance(item, Exception):
                return Probe(False, f"SIP 端口不可达（{host}:{port}）", _ms(start))
            msg = message.parse(item)
            if msg is None or not msg.is_response or msg.get("call-id") != call_id or msg.status < 200:
                continue
            data = {"sip_code": msg.status, "server": msg.get("server") or msg.get("user-agent") or ""}
            if msg.status >= 500:
                return Probe(False, f"网关答复 {msg.start_line[8:]}", _ms(start), data)
            return Probe(True, f"SIP OPTIONS 正常（{msg.status}）", _ms(start), data)
    finally:
        transport.close()


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class _HttpFailed(Exception):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


def http_status(url: str, *, timeout_s: float = HTTP_TIMEOUT_S) -> Probe:
    """GET the device's status page; 2xx is up. A JSON body is kept (ports in use, uptime …)."""
    from cityops.core.http import call

    start = time.monotonic()
    try:
        r = call("GET", url, timeout_s=timeout_s, what="状态页", retryable=_HttpFailed, permanent=_HttpFailed)
    except _HttpFailed as exc:
        return Probe(False, str(exc), _ms(start))
    try:
        body = r.json()
    except ValueError:
        body = None
    data = {"status": r.status_code, "page": body if isinstance(body, dict) else {}}
    return Probe(True, f"状态页正常（HTTP {r.status_code}）", _ms(start), data)


def probe_device(host: str, port: int, url: str, *, timeout_s: float = OPTIONS_TIMEOUT_S) -> tuple[Probe, Probe | None]:
    """OPTIONS (and the status page, when configured) for one device, no database involved."""
    opt = run_sync(options_ping(host, port, timeout_s=timeout_s))
    return opt, (http_status(url) if url else None)


# -- recording -------------------------------------------------------------------------------
def _row(session: Session, kind: str, d: LineDevice, p: Probe, now: datetime) -> LineCheck:
    row = LineCheck(kind=kind, subject=d.name, device_id=d.id, ok=p.ok, detail=p.detail, duration_ms=p.duration_ms,
                    data=p.data, at=now)
    session.add(row)
    session.flush()
    return row


def record_probe(session: Session, d: LineDevice, opt: Probe, http: Probe | None, now: datetime) -> int:
    """Store the checks, update the device's status, alert on a change up ↔ down. Returns the
    number of outbox rows written."""
    row = _row(session, "options", d, opt, now)
    d.sip_ok, d.last_checked_at = opt.ok, now
    d.last_detail = opt.detail
    if http is not None:
        _row(session, "http", d, http, now)
        d.http_ok = http.ok
        d.status_page = http.data.get("page") or {}
        if not http.ok:
            d.last_detail = f"{opt.detail}；{http.detail}"
    else:
        d.http_ok, d.status_page = None, {}
    new = "up" if opt.ok else "down"
    old, d.state = d.state, new
    if new == old:
        return 0
    d.state_since = now
    what = "IP 话机" if d.kind == "ip_phone" else "语音网关"
    if new == "down":
        return lines.alert(session, title=f"外呼线路·{what}离线", severity="major", now=now,
                           text=f"{what}「{d.name}」（{d.host}:{d.sip_port}，{d.ports} 路，线路组 {d.line_group or '默认'}）"
                                f"不再响应：{opt.detail}。外呼已停止使用该设备。",
                           dedup_prefix=f"callout-line:{d.id}:down:{row.id}")
    if old == "down":
        return lines.alert(session, title=f"外呼线路·{what}恢复", severity="info", now=now,
                           text=f"{what}「{d.name}」（{d.host}:{d.sip_port}）已恢复：{opt.detail}。",
                           dedup_prefix=f"callout-line:{d.id}:up:{row.id}")
    return 0


def check_device(session: Session, device_id: int, *, now: datetime | None = None,
                 timeout_s: float = OPTIONS_TIMEOUT_S) -> LineDevice:
    """Run OPTIONS + HTTP for one device now (the console's 立即检查)."""
    d = lines.get_device(session, device_id)
    opt, http = probe_device(d.host, d.sip_port, d.http_status_url, timeout_s=timeout_s)
    record_probe(session, d, opt, http, now or utcnow())
    return d


def check_all(session: Session, *, now: datetime | None = None, timeout_s: float = OPTIONS_TIMEOUT_S) -> dict[str, int]:
    """Every enabled device, probed in parallel; counts of up / down and alerts written."""
    devices = list(session.scalars(select(LineDevice).where(LineDevice.enabled.is_(True)).order_by(LineDevice.id)))
    if not devices:
        return {}
    targets = [(d.host, d.sip_port, d.http_status_url) for d in devices]
    session.commit()  # no transaction open while we wait on the network
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(devices))) as pool:
        results = list(pool.map(lambda t: probe_device(*t, timeout_s=timeout_s), targets))
    now = now or utcnow()
    out = {"up": 0, "down": 0, "alerts": 0}
    for d, (opt, http) in zip(devices, results):
        out["alerts"] += record_probe(session, d, opt, http, now)
        out["up" if opt.ok else "down"] += 1
    return out


# -- test calls ------------------------------------------------------------------------------
def _caller_for(session: Session, d: LineDevice) -> str | None:
    """A caller ID of the device's line group, clean ones first; None lets the gateway decide."""
    rows = list(session.scalars(select(CallerId).where(CallerId.line_group == d.line_group)))
    rows.sort(key=lambda c: ({"clean": 0, "unknown": 1}.get(c.marking, 2), c.id))
    return numbers.national(rows[0].number_e164) if rows else None


def describe(result: dict[str, Any]) -> str:
    label = RESULT_LABELS.get(result.get("result", "failed"), result.get("result", ""))
    code = f"（SIP {result['sip_code']}）" if result.get("sip_code") else ""
    if result.get("result") == "answered":
        extra = f"，收到按键 {result['dtmf']}" if result.get("dtmf") else ""
        return f"接通{code}，通话 {result.get('duration_s', 0):.1f} 秒{extra}"
    return f"{label}{code}" + (f"：{result['final_response']}" if result.get("final_response") else "")


def test_call(session: Session, device_id: int, *, now: datetime | None = None, ring_timeout_s: float | None = None,
              max_call_s: float | None = None) -> LineCheck:
    """Call the device's test number through it now; pass = answered. Returns the history row
    (`data` holds the normalised CallResult)."""
    d = lines.get_device(session, device_id)
    if not d.test_number:
        raise Invalid(f"「{d.name}」未设置测试号码")
    cfg = lines.get_settings(session)
    target = {"host": d.host, "port": d.sip_port, "number": numbers.national(d.test_number),
              "caller": _caller_for(session, d), "username": d.username or None, "password": d.password or None}
    session.commit()  # the call takes seconds: no transaction open meanwhile
    start = time.monotonic()
    try:
        res = place_call_sync(target["host"], target["port"], target["number"], caller_id=target["caller"],
                              username=target["username"], password=target["password"],
                              ring_timeout_s=ring_timeout_s or cfg["test_ring_timeout_s"],
                              max_call_s=max_call_s or cfg["test_max_call_s"]).to_dict()
    except OSError as exc:
        res = {"result": "unreachable", "sip_code": None, "final_response": f"网络错误：{exc}"}
    now = now or utcnow()
    d = lines.get_device(session, device_id)
    ok = res.get("result") == "answered"
    row = LineCheck(kind="test_call", subject=d.name, device_id=d.id, ok=ok, detail=describe(res),
                    duration_ms=_ms(start), data={**res, "number": d.test_number, "caller_id": target["caller"] or ""},
                    at=now)
    session.add(row)
    d.last_test_at, d.last_test_ok, d.last_test_result = now, ok, res.get("result", "failed")
    session.flush()
    return row


def due_tests(session: Session, now: datetime) -> list[int]:
    """Enabled devices with a test number whose last test is older than the configured interval.
    Devices known to be down are left out: their failing OPTIONS already say so, and a call to a
    dead gateway would only hold the job for the whole ring timeout."""
    every = timedelta(hours=lines.get_settings(session)["test_interval_h"])
    rows = session.scalars(select(LineDevice).where(LineDevice.enabled.is_(True), LineDevice.test_number != "",
                                                     LineDevice.state != "down")
                           .order_by(LineDevice.id))
    return [d.id for d in rows if d.last_test_at is None or d.last_test_at <= now - every]
