"""The monitoring runtime of a worker process (IOT-5): feeds device messages from the
in-process bus into the liveness engine and writes its transitions (state history, device
online flag, offline/silent alarms) in batches on a writer thread, so the engine's lock and
the ingest path never wait for the database.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import timedelta

from sqlalchemy import func, select

from cityops.core.bus import Bus, bus as default_bus
from cityops.core.db import Database
from cityops.core.timeutil import aware, utcnow
from cityops.devices.models import Device, Product
from cityops.monitoring import service
from cityops.monitoring.clock import Clock, MonotonicClock
from cityops.monitoring.liveness import NEVER_SEEN, OFFLINE, ONLINE, LivenessEngine, LivenessLoop, Transition

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 3600.0


class MonitoringRuntime:
    def __init__(self, db: Database, *, clock: Clock | None = None, bus: Bus | None = None, tick_s: float = 0.2,
                 refresh_s: float = 60.0):
        self.db = db
        self.clock = clock or MonotonicClock()
        self.bus = bus or default_bus
        self.queue: queue.Queue[Transition] = queue.Queue()
        self.engine = LivenessEngine(self.clock, on_transition=self.queue.put)
        self.loop = LivenessLoop(self.engine, tick_s=tick_s)
        self.refresh_s = refresh_s
        self._unsubscribe = None
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.written = 0

    # -- loading -----------------------------------------------------------------------

    def load(self) -> int:
        """(Re)track every non-retired device with its interval and its persisted state."""
        now_wall, now_mono = utcnow(), self.clock.now()
        with self.db.session() as s:
            rows = s.execute(select(Device.id, func.coalesce(Device.report_interval_s, Product.report_interval_s),
                                    Device.online, Device.last_seen_at, Device.last_data_at)
                             .join(Product, Product.id == Device.product_id)
                             .where(Device.status != "retired")).all()
        seen = set()
        for device_id, interval, online, last_seen, last_data in rows:
            seen.add(device_id)
            mono = lambda t: None if t is None else now_mono - (now_wall - aware(t)).total_seconds()  # noqa: E731
            if device_id in self.engine:
                self.engine.set_interval(device_id, float(interval or DEFAULT_INTERVAL_S))
                continue
            state = NEVER_SEEN if last_seen is None else (OFFLINE if online is False else ONLINE)
            self.engine.track(device_id, float(interval or DEFAULT_INTERVAL_S), state=state,
                              last_activity=mono(last_seen), last_data=mono(last_data))
        for device_id in [d for d in list(self._tracked()) if d not in seen]:
            self.engine.untrack(device_id)
        return len(rows)

    def _tracked(self):
        return list(getattr(self.engine, "_devices", {}).keys())

    # -- feeding -------------------------------------------------------------------------

    def on_message(self, _topic: str, event: dict) -> None:
        device_id = event.get("device_id")
        if device_id is None:
            return
        if device_id not in self.engine:
            self.engine.track(device_id, DEFAULT_INTERVAL_S)  # a new device; the next refresh sets its interval
        online = (event.get("body") or {}).get("online") if event.get("kind") == "status" else None
        self.engine.observe(device_id, event["kind"], online=online)

    # -- writing -------------------------------------------------------------------------

    def flush(self, max_items: int = 5000) -> int:
        """Write queued transitions in one transaction; returns how many."""
        batch: list[Transition] = []
        while len(batch) < max_items:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return 0
        now_wall, now_mono = utcnow(), self.clock.now()
        with self.db.session() as s:
            for tr in batch:
                at = now_wall - timedelta(seconds=max(0.0, now_mono - tr.at))
                service.record_transition(s, device_id=tr.device_id, old=tr.old, new=tr.new, reason=tr.reason, at=at)
        self.written += len(batch)
        for tr in batch:
            self.bus.publish(f"device.liveness.{tr.new}", tr.as_payload())
        return len(batch)

    def _write_loop(self) -> None:
        last_refresh = self.clock.now()
        while not self._stop.wait(0.5):
            try:
                while self.flush():
                    pass
                if self.clock.now() - last_refresh >= self.refresh_s:
                    self.load()
                    last_refresh = self.clock.now()
            except Exception:
                log.exception("monitoring writer failed; will retry")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> MonitoringRuntime:
        n = self.load()
        self._unsubscribe = self.bus.subscribe("device.message.*", self.on_message)
        self.loop.start()
        self._writer = threading.Thread(target=self._write_loop, name="cityops-monitoring-writer", daemon=True)
        self._writer.start()
        log.info("monitoring started", extra={"devices": n})
        return self

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.loop.stop()
        self._stop.set()
        if self._writer:
            self._writer.join(5)
        self.flush()
