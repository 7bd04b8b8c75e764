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
from cityops.monitoring.models import MonitoringState
from cityops.monitoring.clock import Clock, MonotonicClock
from cityops.ingest.message import DeviceMessage
from cityops.monitoring.liveness import NEVER_SEEN, OFFLINE, ONLINE, LivenessEngine, LivenessLoop, Transition
from cityops.monitoring.rule_table import RuleTable
from cityops.monitoring.rules import RuleEngine, Signal

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 3600.0
RULES_STATE = "rules"  # one worker owns the rule state; see docs/architecture.md
SAVE_EVERY_S = 30.0
class MonitoringRuntime:
    def __init__(self, db: Database, *, clock: Clock | None = None, bus: Bus | None = None, tick_s: float = 0.2,
                 refresh_s: float = 60.0):
        self.db = db
        self.clock = clock or MonotonicClock()
        self.bus = bus or default_bus
        self.queue: queue.Queue[Transition | Signal] = queue.Queue()
        self.engine = LivenessEngine(self.clock, on_transition=self.queue.put)
        self.table = RuleTable()
        self._rules_lock = threading.Lock()  # the rule engine is single-threaded; pushes arrive on many
        self.rules = RuleEngine(self.table.rules_for, self.clock)
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
            self._load_rules(s)
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

    def _load_rules(self, session) -> None:
        self.table.load(session)
        with self._rules_lock:
            self.rules.invalidate()

    # -- rule state across restarts ----------------------------------------------------------

    def save_state(self) -> None:
        with self._rules_lock:
            snap = self.rules.snapshot()
        with self.db.session() as s:
            row = s.get(MonitoringState, RULES_STATE)
            if row is None:
                s.add(MonitoringState(name=RULES_STATE, data=snap, saved_at=utcnow()))
            else:
                row.data, row.saved_at = snap, utcnow()

    def restore_state(self) -> bool:
        """Continue from the saved rule state; the downtime counts towards running durations."""
        with self.db.session() as s:
            row = s.get(MonitoringState, RULES_STATE)
            if row is None:
                return False
            snap, saved_at = row.data, aware(row.saved_at)
        try:
            engine = RuleEngine.restore(snap, self.table.rules_for, self.clock,
                                        elapsed_s=max(0.0, (utcnow() - saved_at).total_seconds()))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("saved rule state not usable; starting fresh", extra={"error": str(exc)})
            return False
        with self._rules_lock:
            self.rules = engine
        return True

    def _tracked(self):
        return list(getattr(self.engine, "_devices", {}).keys())

    # -- feeding -------------------------------------------------------------------------

    def on_message(self, _topic: str, event: dict) -> None:
        device_id = event.get("device_id")
        if device_id is None:
            return
        if device_id not in self.engine:
            self.engine.track(device_id, DEFAULT_INTERVAL_S)  # a new device; the next refresh sets its interval
        body = event.get("body") or {}
        online = body.get("online") if event.get("kind") == "status" else None
        self.engine.observe(device_id, event["kind"], online=online)
        if event["kind"] in ("telemetry", "event"):
            msg = DeviceMessage(kind=event["kind"], external_id=event.get("external_id") or str(device_id),
                                properties=body.get("properties") or {}, event=body.get("event"),
                                event_state=body.get("event_state"), severity=body.get("severity"))
            with self._rules_lock:
                if not self.table.knows(device_id):
                    return  # a device created after the last refresh: rules from the next one
                signals = self.rules.on_message(device_id, msg)
            for sig in signals:
                self.queue.put(sig)

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
            for item in batch:
                at = now_wall - timedelta(seconds=max(0.0, now_mono - item.at))
                if isinstance(item, Transition):
                    service.record_transition(s, device_id=item.device_id, old=item.old, new=item.new,
                                              reason=item.reason, at=at)
                elif item.action == "raise":
                    value = f"（当前值 {item.value}）" if item.value is not None else ""
                    service.raise_alarm(s, device_id=item.device_id, alarm_type=item.alarm_type,
                                        severity=item.severity, at=at, message=f"{item.alarm_type}{value}",
                                        source="vendor" if item.rule_id.startswith("event:") else "rule",
                                        details={"rule": item.rule_id, "value": item.value})
                elif item.action == "clear":
                    service.auto_clear(s, item.device_id, item.alarm_type, f"条件已恢复：{item.reason}")
        self.written += len(batch)
        for item in batch:
            if isinstance(item, Transition):
                self.bus.publish(f"device.liveness.{item.new}", item.as_payload())
            else:
                self.bus.publish(f"alarm.{item.action}", item.as_payload())
        return len(batch)

    def tick(self) -> int:
        """Time-based rule conditions (durations, stale values, repeat windows)."""
        with self._rules_lock:
            signals = self.rules.tick()
        for sig in signals:
            self.queue.put(sig)
        return len(signals)

    def _write_loop(self) -> None:
        last_refresh = last_save = self.clock.now()
        while not self._stop.wait(0.5):
            try:
                self.tick()
                while self.flush():
                    pass
                if self.clock.now() - last_refresh >= self.refresh_s:
                    self.load()
                    last_refresh = self.clock.now()
                if self.clock.now() - last_save >= SAVE_EVERY_S:
                    self.save_state()
                    last_save = self.clock.now()
            except Exception:
                log.exception("monitoring writer failed; will retry")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> MonitoringRuntime:
        n = self.load()
        self.restore_state()
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
        self.save_state()
