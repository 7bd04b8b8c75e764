"""`cityops bench ingest-http`: HTTP push throughput, accepted and durably stored (IOT-2).

The platform runs as its own process (`cityops serve`) on a fresh database; this process
is the load generator: C concurrent clients POST real CTWing dataReport pushes for D
registered devices. A message counts once the server has answered 200, which it does only
after the commit; at the end the stored rows are counted to prove it.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from cityops.bench.common import database as _database
from cityops.bench.common import machine
from cityops.sim.serve import free_port

def _prepare(url: str, devices: int) -> str:
    from cityops.audit import service as audit
    from cityops.audit.context import acting_as
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database
    from cityops.devices import service as dev
    from cityops.devices.models import Device
    from cityops.ingest import service as ingest

    audit.configure("bench-audit-key")
    db = Database(url)
    prepare_database(db)
    with acting_as("bench"), db.session() as s:
        conn = ingest.create_connection(s, kind="ctwing", name="bench-ctwing")
        product = dev.product_by_code(s, "SMOKE-NB-CTW")
        codes = dev.next_codes(s, devices)
        s.add_all(Device(code=codes[i], name=f"bench-{i}", product_id=product.id, device_type="smoke",
                         vendor=product.vendor, platform="ctwing", external_id=f"bench{i:06d}",
                         connection_id=conn.id) for i in range(devices))
        path = ingest.push_path(conn)
    db.dispose()
    return path


async def _load(base: str, path: str, messages: int, concurrency: int, devices: int) -> tuple[list[float], int]:
    from cityops.sim.wire import ctwing

    rng = random.Random(7)
    bodies = []
    for i in range(min(messages, 2000)):
        body, headers, _ = ctwing.data_report(f"bench{rng.randrange(devices):06d}",
                                              {"battery": rng.randint(20, 100), "temperature": 20 + rng.random() * 5},
                                              decoder=None, product_id="15012345")
        bodies.append((body, headers))
    latencies: list[float] = []
    errors = 0
    counter = iter(range(messages))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker():
            nonlocal errors
            for i in counter:
                body, headers = bodies[i % len(bodies)]
                t = time.perf_counter()
                r = await client.post(path, content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def run(database: str = "sqlite", messages: int = 10_000, concurrency: int = 16, devices: int = 1000) -> dict:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        url, drop = _database(database, tmp)
        server = None
        try:
            path = _prepare(url, devices)
            port = free_port()
            env = {**os.environ, "CITYOPS_DATABASE_URL": url, "CITYOPS_VAR_DIR": str(tmp / "var"),
                   "CITYOPS_AUDIT_KEY": "bench-audit-key", "CITYOPS_LOG_LEVEL": "WARNING",
                   "CITYOPS_JOBS_ENABLED": "false"}
            env.pop("CITYOPS_MQTT_URL", None)
            server = subprocess.Popen([sys.executable, "-m", "cityops.cli.main", "serve", "--port", str(port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                raise RuntimeError("the server did not start")
            started = time.perf_counter()
            latencies, errors = asyncio.run(_load(base, path, messages, concurrency, devices))
            elapsed = time.perf_counter() - started
        finally:
            if server is not None:
                server.terminate()
                server.wait(15)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        from cityops.ingest.models import StoredMessage

        with engine.connect() as c:
            stored = c.execute(select(func.count()).select_from(StoredMessage)).scalar()
        engine.dispose()
        drop()
    latencies.sort()
    accepted = messages - errors
    return {
        "bench": "ingest-http", "database": database, "messages": messages, "concurrency": concurrency,
        "devices": devices, "accepted": accepted, "errors": errors, "stored": stored,
        "rate_msgs_per_s": round(accepted / elapsed, 1), "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2), "seconds": round(elapsed, 2),
        "durable": stored == accepted, "machine": machine(),
    }
