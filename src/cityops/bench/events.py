"""`cityops bench events`: alarm → city event → routing → work order at the dispatch platform
(IOT-6, IOT-7, SYS-DISPATCH), with the real jobs and the dispatch simulator on loopback.

Smoke detectors (the default intake policy 烟雾报警 dispatches at once) raise alarms the way
the monitoring runtime does — commit, then `alarm.raise` on the bus. The scheduler runs the
`events.intake` and `dispatch.deliver` jobs exactly as a worker process does (woken by the bus,
not polled). Two phases:

* **latency**: alarms one at a time at a steady rate; for each, the time from the alarm's commit
  to the simulator creating the work order (both wall clocks of this machine). Target p99 < 1 s.
* **throughput**: a burst of alarms committed together; events/s = alarms / time until the last
  work order reached the platform.

Merging is switched off for the smoke category during the run, so every alarm is its own event
and work order (the bench's devices are scattered but not always 100 m apart).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from cityops.bench.common import database, machine, pct

TARGET_P99_MS = 1000.0
CATEGORY = "050101"  # 消防安全 / 火灾隐患 / 烟雾报警 (seeded intake policy 烟雾报警)


def _devices(db, n: int) -> list[int]:
    from cityops.devices import service as dev
    from cityops.devices.models import Device
    from cityops.geo.models import Street

    rng = random.Random(11)
    with db.session() as s:
        streets = list(s.scalars(select(Street).order_by(Street.code)))
        product = dev.product_by_code(s, "SMOKE-NB-CTW")
        codes = dev.next_codes(s, n)
        rows = []
        for i in range(n):
            st = streets[i % len(streets)]
            rows.append(Device(code=codes[i], name=f"bench-smoke-{i}", product_id=product.id, device_type="smoke",
                               vendor=product.vendor, platform="ctwing", external_id=f"bsmoke{i:06d}",
                               lon=st.approx_lon + rng.uniform(-0.004, 0.004),
                               lat=st.approx_lat + rng.uniform(-0.003, 0.003), address=f"{st.name}测试点{i}号"))
        s.add_all(rows)
        s.flush()
        return [d.id for d in rows]


def _raise(db, device_ids: list[int]) -> float:
    """Raise one alarm per device in one transaction, announce them, return the commit time."""
    from cityops.core.bus import bus
    from cityops.monitoring import service as mon

    with db.session() as s:
        ids = [mon.raise_alarm(s, device_id=d, alarm_type="烟雾报警", severity="critical", source="vendor",
                               message="烟雾报警（bench）").id for d in device_ids]
    t = time.time()
    for alarm_id, d in zip(ids, device_ids, strict=True):
        bus.publish("alarm.raise", {"alarm_id": alarm_id, "device_id": d})
    return t


def _order_times(db, sim) -> dict[int, float]:
    """device id → when the platform created its work order (epoch seconds)."""
    from cityops.events.intake_models import EventAlarmLink
    from cityops.events.models import CityEvent
    from cityops.monitoring.models import Alarm

    with sim._lock:
        created = {o.attributes.get("event_no"): o.requested_at.timestamp() for o in sim.orders.values()}
    with db.session() as s:
        rows = s.execute(select(CityEvent.number, Alarm.device_id).join(
            EventAlarmLink, EventAlarmLink.event_id == CityEvent.id).join(Alarm, Alarm.id == EventAlarmLink.alarm_id)
            .where(CityEvent.number.in_(list(created)))).all()
    return {device_id: created[number] for number, device_id in rows}


def _wait(sim, count: int, timeout_s: float) -> bool:
    return sim.wait_for(lambda: len(sim.orders) >= count, timeout_s)


def run(database_kind: str = "sqlite", paced: int = 300, rate: float = 20.0, burst: int = 2000) -> dict:
    from cityops.audit import service as audit
    from cityops.audit.context import acting_as
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database
    from cityops.core.jobs import Scheduler
    from cityops.dispatch import jobs as dispatch_jobs
    from cityops.dispatch import service as dispatch
    from cityops.events import intake_jobs
    from cityops.events import service as events
    from cityops.sim.dispatch import DispatchSim, serve

    audit.configure("bench-audit-key")
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database(database_kind, Path(tmp))
        db = Database(url)
        scheduler = None
        try:
            prepare_database(db)
            device_ids = _devices(db, paced + burst)
            sim = DispatchSim(api_key="bench-key", seed=3, time_scale=1.0, return_rate=0.0)
            with serve(sim) as server, acting_as("bench"):
                with db.session() as s:
                    dispatch.create_platform(s, name="bench", kind="open311",
                                             settings={"base_url": server.url, "api_key": "bench-key"})
                    cat = events.category_by_code(s, CATEGORY)
                    cat.merge_radius_m = 0
                scheduler = Scheduler(db)
                intake_jobs.register(scheduler)
                dispatch_jobs.register(scheduler)
                scheduler.start()
                time.sleep(5)  # past the jobs' initial delays

                raised: dict[int, float] = {}
                for d in device_ids[:paced]:
                    raised[d] = _raise(db, [d])
                    time.sleep(1.0 / rate)
                paced_ok = _wait(sim, paced, 60)
                arrived = _order_times(db, sim)
                lat = [arrived[d] - t for d, t in raised.items() if d in arrived]

                t0 = _raise(db, device_ids[paced:])
                burst_ok = _wait(sim, paced + burst, 600)
                elapsed = max(o.requested_at.timestamp() for o in sim.orders.values()) - t0
                duplicates = sum(n - 1 for n in sim.submissions.values() if n > 1)
        finally:
            if scheduler is not None:
                scheduler.stop()
            db.dispose()
            drop()
    p99 = pct(lat, 0.99)
    return {
        "bench": "events", "database": database_kind, "paced_alarms": paced, "paced_rate_per_s": rate,
        "burst_alarms": burst, "work_orders": len(sim.orders), "duplicate_submissions": duplicates,
        "complete": paced_ok and burst_ok and len(lat) == paced,
        "events_per_s": round(burst / elapsed, 1) if elapsed > 0 else None,
        "alarm_to_workorder_p50_ms": round(statistics.median(lat) * 1e3, 1) if lat else None,
        "alarm_to_workorder_p99_ms": round(p99 * 1e3, 1) if p99 is not None else None,
        "alarm_to_workorder_max_ms": round(max(lat) * 1e3, 1) if lat else None,
        "target_p99_ms": TARGET_P99_MS, "ok": p99 is not None and p99 * 1e3 < TARGET_P99_MS and len(lat) == paced,
        "at": datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine(),
    }
