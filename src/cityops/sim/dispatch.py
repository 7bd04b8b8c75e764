"""Simulator of the district smart-dispatch platform (IOT-7 / SYS-DISPATCH), modelled as an
Open311 GeoReport v2 endpoint and served over real HTTP on 127.0.0.1 so the adapter is
tested end to end (`cityops.dispatch.adapters.open311`).

    POST /requests.json                 create a work order (form-encoded, api_key required);
                                        idempotent by `Idempotency-Key` / attribute[idempotency_key]
    GET  /requests/{id}.json            the order (status open/closed, status_notes,
                                        agency_responsible, extended_attributes.detailed_status)
    GET  /servicerequestupdates.json    updates since start_date (mySociety extension)
    GET  /media/{id}/result.png         the disposal photo

Orders are routed to units — the given responsible unit code, else the street office of the
street code (ST-<street>), else nobody (returned at once) — and then move on by themselves
after randomised delays (seeded `random.Random`; `time_scale` shrinks simulated seconds so
tests run in seconds): ACTION_SCHEDULED (受理) → IN_PROGRESS (处置中) → FIXED (已处置, Chinese
result text and photo), or, for a `return_rate` share, NOT_COUNCILS_RESPONSIBILITY (退回).
Every step is an update and, when the order gave a callback URL, a JSON POST signed with
HMAC-SHA256 over the body (`X-Signature`, `cityops.dispatch.signing`).

Failures: a `failure_rate` share of calls fail at random with 500, 503 or a late answer
(`slow_s`; the order is still created, as when a real answer is lost); `fail(mode, times)`
queues them deterministically; `down = True` answers 503 to everything, and
`DispatchSimServer.stop()/start()` refuses connections on the same port.

    sim = DispatchSim(api_key="k", time_scale=0.0002, seed=7)
    with serve(sim) as server:
        adapter = Adapter(Settings(base_url=server.url, api_key="k"))
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from cityops.dispatch import signing
from cityops.sim.serve import free_port, serve_app

SHANGHAI = timezone(timedelta(hours=8))
FAILURE_MODES = ("500", "503", "timeout")

# (low, high) simulated seconds before each step
DELAYS = {"accept": (60, 600), "start": (300, 1800), "finish": (900, 7200)}

RESULT_TEXTS = [
    "已到现场核查，问题属实，已处置完毕，现场恢复正常。",
    "经现场处置，隐患已消除，已拍照留存并告知物业。",
    "已协调相关单位完成处置，后续将加强巡查。",
    "现场已清理整改到位，经复查无异常。",
]
RETURN_REASONS = [
    "不属于本单位职责，请重新派单。",
    "地址有误，现场未发现所述问题，请核实后重新派单。",
    "该问题属于物业管理范围，建议转物业处理。",
]
UNROUTABLE = "无法确定处置单位（街镇或责任单位编码缺失或不在本区），退回派单中心。"


def default_units() -> dict[str, str]:
    """Unit code → name: the district's street offices (ST-<street code>) and departments."""
    from cityops.geo import reference

    units = {f"ST-{s['code']}": reference.street_office_name(s["name"], s["kind"])
             for s in reference.streets_file()["streets"]}
    units.update(dict(reference.DEPARTMENTS))
    return units


@dataclass
class SimOrder:
    id: str
    key: str | None
    fields: dict[str, str]
    attributes: dict[str, str]
    requested_at: datetime
    unit_code: str | None
    unit_name: str | None
    steps: list[tuple[float, str, str]]  # (due monotonic, detailed status, text) still to come
    status: str = "open"
    detailed_status: str = "open"
    notes: str | None = None
    media_url: str | None = None
    updated_at: datetime | None = None

    @property
    def callback_url(self) -> str | None:
        return self.attributes.get("callback_url")


@dataclass
class CallbackRecord:
    url: str
    body: bytes
    signature: str
    status_code: int | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class DispatchSim:
    """The simulated platform; inspection attributes are safe to read while serving."""

    def __init__(self, *, api_key: str = "sim-key", jurisdiction_id: str | None = "changning.sh.gov.cn",
                 seed: int = 0, time_scale: float = 1.0, return_rate: float = 0.1, failure_rate: float = 0.0,
                 slow_s: float = 1.5, callback_secret: str = "sim-callback-secret", callback_attempts: int = 3,
                 units: dict[str, str] | None = None):
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.time_scale = time_scale
        self.return_rate = return_rate
        self.failure_rate = failure_rate
        self.slow_s = slow_s
        self.callback_secret = callback_secret
        self.callback_attempts = callback_attempts
        self.units = dict(units) if units is not None else default_units()
        self.down = False
        self.base_url = ""  # set by the server; media URLs point here
        self.orders: dict[str, SimOrder] = {}
        self.by_key: dict[str, str] = {}
        self.submissions: Counter[str] = Counter()  # idempotency key → POSTs that reached the platform
        self.updates: list[dict[str, Any]] = []
        self.callbacks: list[CallbackRecord] = []
        self.failures_served: list[str] = []
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._forced: list[str] = []
        self._pending_callbacks: list[CallbackRecord] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # -- controls for tests --

    def fail(self, mode: str, times: int = 1) -> None:
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode}")
        with self._lock:
            self._forced.extend([mode] * times)

    def order_for_key(self, key: str) -> SimOrder | None:
        with self._lock:
            sr_id = self.by_key.get(key)
            return self.orders.get(sr_id) if sr_id else None

    def advance(self, sr_id: str) -> None:
        """Make the order's next step due now (tests that do not want to wait)."""
        with self._lock:
            order = self.orders[sr_id]
            if order.steps:
                _, status, text = order.steps[0]
                order.steps[0] = (time.monotonic(), status, text)
        self.tick()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    # -- the platform's own progress --

    def start(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._stop.clear()
            self._worker = threading.Thread(target=self._run, name="dispatch-sim-worker", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(5)
            self._worker = None

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.tick()

    def tick(self) -> None:
        """Apply every due step, then deliver the callbacks they produced."""
        self._apply_due()
        with self._lock:
            pending, self._pending_callbacks = self._pending_callbacks, []
        for record in pending:
            self._deliver(record)

    def _apply_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            for order in self.orders.values():
                while order.steps and order.steps[0][0] <= now:
                    _, status, text = order.steps.pop(0)
                    self._apply(order, status, text)

    def _delay(self, step: str) -> float:
        low, high = DELAYS[step]
        return self._rng.uniform(low, high) * self.time_scale

    def _plan(self, order: SimOrder) -> None:
        t = time.monotonic()
        if order.unit_code is None:
            order.steps = [(t + self._delay("accept"), "NOT_COUNCILS_RESPONSIBILITY", UNROUTABLE)]
            return
        t += self._delay("accept")
        steps = [(t, "ACTION_SCHEDULED", f"已受理，派至{order.unit_name}处置。")]
        if self._rng.random() < self.return_rate:
            t += self._delay("start")
            steps.append((t, "NOT_COUNCILS_RESPONSIBILITY", f"{order.unit_name}退回：{self._rng.choice(RETURN_REASONS)}"))
        else:
            t += self._delay("start")
            steps.append((t, "IN_PROGRESS", f"{order.unit_name}已派员赶赴现场处置。"))
            t += self._delay("finish")
            steps.append((t, "FIXED", self._rng.choice(RESULT_TEXTS)))
        order.steps = steps

    def _apply(self, order: SimOrder, status: str, text: str) -> None:
        order.detailed_status = status
        order.notes = text
        order.updated_at = datetime.now(SHANGHAI)
        if status in ("FIXED", "NOT_COUNCILS_RESPONSIBILITY"):
            order.status = "closed"
        media = f"{self.base_url}/media/{order.id}/result.png" if status == "FIXED" else None
        if media:
            order.media_url = media
        update = {"update_id": f"U{next(self._update_ids):06d}", "service_request_id": order.id, "status": status,
                  "updated_datetime": order.updated_at.isoformat(), "description": text, "media_url": media or "",
                  "agency_responsible": order.unit_name or "", "agency_code": order.unit_code or ""}
        self.updates.append(update)
        if order.callback_url:
            body = json.dumps({**update, "idempotency_key": order.key, "event_no": order.attributes.get("event_no")},
                              ensure_ascii=False).encode("utf-8")
            self._pending_callbacks.append(CallbackRecord(order.callback_url, body,
                                                          signing.sign(self.callback_secret, body)))

    def _deliver(self, record: CallbackRecord) -> None:
        for attempt in range(1, self.callback_attempts + 1):
            record.attempts = attempt
            try:
                response = httpx.post(record.url, content=record.body, timeout=2.0, headers={
                    "Content-Type": "application/json; charset=utf-8", signing.HEADER: record.signature})
                record.status_code, record.error = response.status_code, None
                if response.status_code < 500:
                    break
            except httpx.HTTPError as exc:
                record.error = type(exc).__name__
            time.sleep(0.05 * attempt)
        with self._lock:
            self.callbacks.append(record)

    # -- Open311 --

    def _route(self, attributes: dict[str, str]) -> tuple[str | None, str | None]:
        for code in (attributes.get("unit_code"), f"ST-{attributes['street_code']}" if attributes.get("street_code") else None):
            if code and code in self.units:
                return code, self.units[code]
        return None, None

    def create(self, fields: dict[str, str], key: str | None) -> tuple[SimOrder, bool]:
        """The order for `key` (created=False) or a new one; fields are already validated."""
        attributes = {k[len("attribute["):-1]: v for k, v in fields.items() if k.startswith("attribute[") and k.endswith("]")}
        with self._lock:
            if key:
                self.submissions[key] += 1
                if key in self.by_key:
                    return self.orders[self.by_key[key]], False
            unit_code, unit_name = self._route(attributes)
            sr_id = f"CN{datetime.now(SHANGHAI):%Y%m%d}{next(self._ids):05d}"
            order = SimOrder(id=sr_id, key=key, fields=dict(fields), attributes=attributes,
                             requested_at=datetime.now(SHANGHAI), unit_code=unit_code, unit_name=unit_name, steps=[])
            order.updated_at = order.requested_at
            self._plan(order)
            self.orders[sr_id] = order
            if key:
                self.by_key[key] = sr_id
            return order, True

    def as_open311(self, order: SimOrder) -> dict[str, Any]:
        f = order.fields
        return {
            "service_request_id": order.id, "status": order.status, "status_notes": order.notes or "",
            "service_code": f.get("service_code"), "service_name": order.attributes.get("category_name", ""),
            "description": f.get("description", ""), "agency_responsible": order.unit_name or "",
            "service_notice": "", "requested_datetime": order.requested_at.isoformat(),
            "updated_datetime": (order.updated_at or order.requested_at).isoformat(), "expected_datetime": "",
            "address": f.get("address_string", ""), "address_id": "", "zipcode": "",
            "lat": float(f["lat"]) if f.get("lat") else None, "long": float(f["long"]) if f.get("long") else None,
            "media_url": order.media_url or f.get("media_url", ""),
            "extended_attributes": {"detailed_status": order.detailed_status, "agency_code": order.unit_code or "",
                                    "idempotency_key": order.key or ""},
        }

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._forced:
                mode = self._forced.pop(0)
            elif self.failure_rate and self._rng.random() < self.failure_rate:
                mode = self._rng.choice(FAILURE_MODES)
            else:
                return None
            self.failures_served.append(mode)
            return mode

    def app(self) -> FastAPI:
        api = FastAPI(title="dispatch platform simulator", docs_url=None, redoc_url=None, openapi_url=None)

        def error(status: int, description: str) -> JSONResponse:
            return JSONResponse([{"code": status, "description": description}], status_code=status)

        async def gate(request: Request) -> tuple[JSONResponse | None, bool]:
            """(an answer that replaces the real one, whether to answer late)."""
            self._apply_due()  # reads see every due step; callbacks stay with the worker
            if self.down:
                return error(503, "派单平台维护中，请稍后重试"), False
            mode = self._next_failure()
            if mode in ("500", "503"):
                return error(int(mode), "服务器内部错误" if mode == "500" else "服务暂不可用"), False
            jurisdiction = request.query_params.get("jurisdiction_id")
            if request.method == "POST":
                jurisdiction = _form(await request.body()).get("jurisdiction_id")
            if self.jurisdiction_id and jurisdiction and jurisdiction != self.jurisdiction_id:
                return error(404, f"jurisdiction_id {jurisdiction} not found"), False
            return None, mode == "timeout"

        async def late(answer: Any, slow: bool) -> Any:
            if slow:
                await asyncio.sleep(self.slow_s)  # the work is done; the client just never hears of it
            return answer

        @api.post("/requests.json")
        async def create(request: Request):
            blocked, slow = await gate(request)
            if blocked is not None:
                return blocked
            fields = _form(await request.body())
            if fields.get("api_key") != self.api_key:
                return error(403, "api_key 无效")
            if not fields.get("service_code"):
                return error(400, "service_code 不能为空")
            if not (fields.get("lat") and fields.get("long")) and not fields.get("address_string"):
                return error(400, "需提供 lat/long 或 address_string")
            try:
                if fields.get("lat"):
                    lat, lon = float(fields["lat"]), float(fields["long"])
                    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                        raise ValueError
            except (ValueError, KeyError):
                return error(400, "lat/long 无效")
            key = request.headers.get("idempotency-key") or fields.get("attribute[idempotency_key]")
            order, created = self.create(fields, key)
            notice = f"工单已{'创建' if created else '存在'}，{'已派至' + order.unit_name if order.unit_name else '待人工分派'}"
            return await late(JSONResponse([{"service_request_id": order.id, "service_notice": notice,
                                             "account_id": None}], status_code=201 if created else 200), slow)

        @api.get("/requests/{sr_id}.json")
        async def one(sr_id: str, request: Request):
            blocked, slow = await gate(request)
            if blocked is not None:
                return blocked
            with self._lock:
                order = self.orders.get(sr_id)
                answer = [self.as_open311(order)] if order else None
            if answer is None:
                return error(404, f"service_request_id {sr_id} not found")
            return await late(answer, slow)

        @api.get("/servicerequestupdates.json")
        async def updates(request: Request):
            blocked, slow = await gate(request)
            if blocked is not None:
                return blocked
            if request.query_params.get("api_key") not in (None, self.api_key):
                return error(403, "api_key 无效")
            start = _time(request.query_params.get("start_date"))
            end = _time(request.query_params.get("end_date"))
            if start is False or end is False:
                return error(400, "start_date/end_date 须为 W3C 时间格式")
            with self._lock:
                items = [u for u in self.updates
                         if (start is None or _time(u["updated_datetime"]) >= start)
                         and (end is None or _time(u["updated_datetime"]) <= end)]
            return await late({"service_requests_updates": items}, slow)

        @api.get("/media/{sr_id}/result.png")
        async def media(sr_id: str):
            if sr_id not in self.orders:
                return error(404, "not found")
            return Response(_png(sr_id), media_type="image/png")

        return api


def _form(raw: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}


def _time(value: str | None) -> datetime | None | bool:
    """None when absent, False when unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _png(seed: str, size: int = 16) -> bytes:
    """A small solid-colour PNG (colour from the order id), so the photo is a real image."""
    r, g, b = zlib.crc32(seed.encode()).to_bytes(4, "big")[:3]
    rows = b"".join(b"\x00" + bytes((r, g, b)) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@dataclass
class DispatchSimServer:
    """The simulator behind uvicorn on a fixed loopback port; `stop()` makes the platform
    unreachable (connection refused) and `start()` brings it back on the same port."""

    sim: DispatchSim
    host: str = "127.0.0.1"
    port: int = 0
    _cm: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DispatchSimServer:
        self.port = self.port or free_port()
        self.sim.base_url = self.url
        self._cm = serve_app(self.sim.app(), host=self.host, port=self.port, name="dispatch-sim", lifespan="off")
        self._cm.__enter__()
        self.sim.start()
        return self

    def stop(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None

    def close(self) -> None:
        self.stop()
        self.sim.stop()


@contextmanager
def serve(sim: DispatchSim, host: str = "127.0.0.1", port: int = 0) -> Iterator[DispatchSimServer]:
    """Serve the simulator (and run its progress worker); yields the server handle."""
    server = DispatchSimServer(sim, host, port).start()
    try:
        yield server
    finally:
        server.close()
