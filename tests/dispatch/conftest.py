"""The dispatch simulator served over real HTTP, a callback receiver, and an Open311 adapter
pointing at the simulator (IOT-7 / SYS-DISPATCH)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request

from cityops.dispatch.adapters.base import WorkOrder
from cityops.dispatch.adapters.open311 import Adapter, Settings
from cityops.sim.dispatch import DispatchSim, serve
from cityops.sim.serve import serve_app

API_KEY = "cn-dispatch-key"
SECRET = "cn-callback-secret"
# Simulated delays are minutes to hours; at this scale a whole order takes at most ~2 s.
FAST = 0.0002


@pytest.fixture
def sim():
    return DispatchSim(api_key=API_KEY, seed=42, time_scale=FAST, return_rate=0.0, slow_s=1.0,
                       callback_secret=SECRET)


@pytest.fixture
def server(sim):
    with serve(sim) as server:
        yield server


@pytest.fixture
def adapter(server):
    return Adapter(Settings(base_url=server.url, api_key=API_KEY, jurisdiction_id="changning.sh.gov.cn",
                            timeout_s=0.5))


class Receiver:
    """Records the callbacks the platform POSTs (raw body and headers)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/dispatch/callback")
        async def callback(request: Request):
            body = await request.body()
            with self.lock:
                self.received.append((body, dict(request.headers)))
            return {"ok": True}

        return api


@pytest.fixture
def receiver():
    rec = Receiver()
    with serve_app(rec.app(), name="dispatch-callback", lifespan="off") as url:
        rec.url = url + "/dispatch/callback"
        yield rec


def order(key: str = "EV-20261125-0001#1", **overrides) -> WorkOrder:
    values = {
        "idempotency_key": key, "event_no": "EV-20261125-0001", "category_code": "SMOKE",
        "category_name": "烟感报警", "title": "华阳路101弄3号楼烟感报警",
        "description": "烟感设备连续两次上报烟雾浓度超限，请现场核查。", "lon": 121.420, "lat": 31.222,
        "address": "长宁区华阳路101弄3号楼", "street_code": "310105001", "unit_code": None, "severity": "major",
        "reported_at": datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        "attachments": ["https://cityops.example/media/a.jpg", "https://cityops.example/media/b.jpg"],
    }
    values.update(overrides)
    return WorkOrder(**values)
