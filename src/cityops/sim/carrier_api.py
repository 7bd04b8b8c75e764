"""A simulated carrier/vendor platform's device-list API (IOT-4), served over real HTTP.

It answers the way the platforms' open APIs do: bearer-token protected, paged, wrapped in
a vendor envelope::

    GET /devices?page=1&size=100   → {"code": 0, "msg": "ok", "result": {"total": n, "list": [...]}}
    GET /products?page=1&size=100  → the same envelope around the models (with their properties)

Device records use the vendor's camelCase names (deviceId, deviceName, productId, imei,
address, longitude, latitude, deviceStatus) plus whatever custom fields a device carries;
tests change the contents while the server runs (add or remove a device, rename a field,
add a property to a model, add a new model) and can make it fail (`fail_next` answers
503, `delay_s` makes it slow, `broken` answers non-JSON).

    platform = CarrierPlatform(token="t")
    platform.add_product("15012345", "烟感", properties=[("smoke_state", "烟雾状态")])
    platform.add_device("dev-1", product_id="15012345", name="华阳路1号烟感")
    with serve(platform) as base_url:
        ...  # GET {base_url}/devices

`python -m cityops.sim.carrier_api --port 8099` serves a small demo data set.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from cityops.sim.serve import free_port, serve_app  # noqa: F401  (free_port is re-exported)

SETTINGS_FOR_SYNC = {
    # The http_json settings that read this simulator (tests add base_url and token).
    "items_field": "result.list", "total_field": "result.total", "code_field": "code", "message_field": "msg",
    "mapping": {"external_id": "deviceId", "name": "deviceName", "product_key": "productId", "model": "model",
                "imei": "imei", "address": "address", "lon": "longitude", "lat": "latitude",
                "status": "deviceStatus"},
    "product_mapping": {"product_key": "productId", "name": "productName", "model": "model",
                        "properties": "properties", "property_identifier": "identifier",
                        "property_name": "name", "property_type": "dataType", "property_unit": "unit"},
}


class CarrierPlatform:
    """The platform's data and behaviour; safe to change from another thread while serving."""

    def __init__(self, token: str = "sim-token", max_page_size: int = 1000):
        self.token = token
        self.max_page_size = max_page_size
        self.devices: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.fail_next = 0  # answer 503 to this many requests
        self.delay_s = 0.0  # answer this late
        self.broken = False  # answer HTML instead of JSON
        self.requests: list[str] = []  # "GET /devices?page=1&size=100", for assertions
        self._lock = threading.RLock()

    # -- contents --

    def add_product(self, product_id: str, name: str, *, model: str = "",
                    properties: Iterable[tuple[str, str] | dict[str, Any]] = ()) -> dict[str, Any]:
        props = []
        for p in properties:
            if isinstance(p, dict):
                props.append(dict(p))
            else:
                props.append({"identifier": p[0], "name": p[1], "dataType": "double", "unit": ""})
        with self._lock:
            self.products[product_id] = {"productId": product_id, "productName": name, "model": model or name,
                                         "protocol": "LWM2M", "properties": props}
            return self.products[product_id]

    def add_property(self, product_id: str, identifier: str, name: str, data_type: str = "double",
                     unit: str = "") -> None:
        with self._lock:
            self.products[product_id]["properties"].append({"identifier": identifier, "name": name,
                                                            "dataType": data_type, "unit": unit})

    def remove_property(self, product_id: str, identifier: str) -> None:
        with self._lock:
            props = self.products[product_id]["properties"]
            props[:] = [p for p in props if p["identifier"] != identifier]

    def rename_property(self, product_id: str, old: str, new: str) -> None:
        with self._lock:
            for p in self.products[product_id]["properties"]:
                if p["identifier"] == old:
                    p["identifier"] = new

    def add_device(self, device_id: str, *, product_id: str, name: str, imei: str = "", address: str = "",
                   longitude: float | None = None, latitude: float | None = None, status: str = "ACTIVE",
                   model: str = "", **fields: Any) -> dict[str, Any]:
        with self._lock:
            product = self.products.get(product_id, {})
            record = {"deviceId": device_id, "deviceName": name, "productId": product_id,
                      "model": model or product.get("model", ""), "imei": imei, "address": address,
                      "longitude": longitude, "latitude": latitude, "deviceStatus": status,
                      "onlineStatus": 1, "lastOnlineTime": int(time.time() * 1000), **fields}
            self.devices[device_id] = record
            return record

    def update_device(self, device_id: str, **fields: Any) -> None:
        with self._lock:
            self.devices[device_id].update(fields)

    def remove_device(self, device_id: str) -> None:
        with self._lock:
            del self.devices[device_id]

    def rename_field(self, old: str, new: str, device_ids: Iterable[str] | None = None) -> None:
        """The vendor renamed a field (e.g. after a platform upgrade): same value, new key."""
        with self._lock:
            ids = list(device_ids) if device_ids is not None else list(self.devices)
            for device_id in ids:
                record = self.devices[device_id]
                if old in record:
                    record[new] = record.pop(old)

    # -- HTTP --

    def _page(self, rows: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
        start = (page - 1) * size
        return {"code": 0, "msg": "ok", "result": {"page": page, "size": size, "total": len(rows),
                                                   "list": rows[start:start + size]}}

    def app(self) -> FastAPI:
        api = FastAPI(title="carrier platform simulator", docs_url=None, redoc_url=None, openapi_url=None)

        @api.middleware("http")
        async def _gate(request: Request, call_next):
            with self._lock:
                self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
                fail = self.fail_next > 0
                if fail:
                    self.fail_next -= 1
                delay, broken = self.delay_s, self.broken
            if delay:
                import asyncio

                await asyncio.sleep(delay)
            if fail:
                return JSONResponse({"code": 503, "msg": "service busy"}, status_code=503)
            if broken:
                return PlainTextResponse("<html>maintenance</html>", media_type="text/html")
            given = request.headers.get("authorization", "")
            if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), self.token.encode())):
                return JSONResponse({"code": 401, "msg": "invalid or missing token"}, status_code=401)
            return await call_next(request)

        @api.get("/devices")
        def devices(page: int = Query(1, ge=1), size: int = Query(100, ge=1)):
            size = min(size, self.max_page_size)
            with self._lock:
                rows = copy.deepcopy(list(self.devices.values()))
            return self._page(rows, page, size)

        @api.get("/products")
        def products(page: int = Query(1, ge=1), size: int = Query(100, ge=1)):
            size = min(size, self.max_page_size)
            with self._lock:
                rows = copy.deepcopy(list(self.products.values()))
            return self._page(rows, page, size)

        return api


@contextmanager
def serve(platform: CarrierPlatform, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the platform with uvicorn in a thread; yields its base URL."""
    with serve_app(platform.app(), host=host, port=port, name="carrier-sim", lifespan="off") as url:
        yield url


def demo_platform(token: str = "sim-token") -> CarrierPlatform:
    """A few Changning devices on a CTWing-like platform whose models are the seeded CTWing ones."""
    from cityops.devices.seed import PRODUCTS

    p = CarrierPlatform(token)
    for spec in PRODUCTS:
        if spec["platform"] == "ctwing":
            p.add_product(spec["vendor_product_key"], spec["name"], model=spec["model_no"],
                          properties=[(x["identifier"], x["name"]) for x in spec["properties"]])
    p.add_device("ctw-sim-0001", product_id="15012345", name="华阳路街道101弄烟感", imei="861234567890001",
                 address="华阳路101弄", longitude=121.4201, latitude=31.2221, floor="3F")
    p.add_device("ctw-sim-0002", product_id="15012345", name="江苏路街道愚园路烟感", imei="861234567890002",
                 address="愚园路800号", longitude=121.4302, latitude=31.2213, floor="1F")
    p.add_device("ctw-sim-0003", product_id="15023456", name="天山路井盖", imei="861234567890003",
                 address="天山路300号", longitude=121.3980, latitude=31.2130)
    return p


def main() -> None:  # pragma: no cover - manual use
    ap = argparse.ArgumentParser(description="Serve a simulated carrier device-list API (IOT-4).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--token", default="sim-token")
    args = ap.parse_args()
    uvicorn.run(demo_platform(args.token).app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":  # pragma: no cover
    main()
