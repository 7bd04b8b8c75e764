"""The monitoring runtime (IOT-5): liveness and rules over every stored device message,
with their transitions and signals (state history, device online flag, alarms) written in
batches on a writer thread, so neither the engines nor the ingest path wait on each other.

One process leads (`core.leader`: a PostgreSQL advisory lock, or a file lock on SQLite);
the others wait as standbys and take over when it dies. The leader reads the messages all
ingest processes stored (`monitoring.feed`), woken at once by its own process's ingest and
by polling for the others', so two workers never raise the same alarm twice and a restart
continues from the saved feed position and rule state.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import timedelta

from sqlalchemy import func, select

from cityops.core.bus import Bus, bus as default_bus
from cityops.core.db import Database
from cityops.core.leader import Leadership
from cityops.core.timeutil import aware, utcnow
from cityops.devices.models import Device, Product
from cityops.monitoring import service
from cityops.ingest.service import STORED_TOPIC
from cityops.monitoring.feed import FeedRow, MessageFeed
from cityops.monitoring.models import MonitoringState
from cityops.monitoring.clock import Clock, MonotonicClock
from cityops.ingest.message import DeviceMessage
from cityops.monitoring.liveness import NEVER_SEEN, OFFLINE, ONLINE, LivenessEngine, LivenessLoop, Transition
from cityops.monitoring.rule_table import RuleTable
from cityops.monitoring.rules import RuleEngine, Signal

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 3600.0
RULES_STATE = "rules"  # one worker owns the rule state; see docs/architecture.md
FEED_STATE = "feed"
SAVE_EVERY_S = 10.0  # a takeover replays at most this much of the stream
POLL_S = 0.2  # how often the leader looks for messages other processes stored
LEADER_CHECK_S = 5.0
class MonitoringRuntime:
    def __init__(self, db: Database, *, clock: Clock | None = None, bus: Bus | None = None, tick_s: float = 0.2,
                 refresh_s: float = 60.0, poll_s: float = POLL_S):
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
        self.poll_s = poll_s
        self.feed = MessageFeed(db)
        self.leader = Leadership(db, "monitoring")
        self._wake = threading.Event()
        self._unsubscribe = None
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._standby: threading.Thread | None = None
        self.active = False
        self.written = 0
        self.processed = 0

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
        """Rule state and feed position, taken together so a restart replays exactly the
        messages the saved rule state has not seen."""
        with self._rules_lock:
            snap = self.rules.snapshot()
            pos = self.feed.position()
        now = utcnow()
        with self.db.session() as s:
            for name, data in ((RULES_STATE, snap), (FEED_STATE, pos)):
                if name == FEED_STATE and data.get("cursor") is None:
                    continue
                row = s.get(MonitoringState, name)
                if row is None:
                    s.add(MonitoringState(name=name, data=data, saved_at=now))
                else:
                    row.data, row.saved_at = data, now

    def restore_state(self) -> bool:
        """Continue from the saved rule state and feed position; the downtime counts towards
        running durations. Without a saved position the feed starts at the newest message."""
        with self.db.session() as s:
            row = s.get(MonitoringState, RULES_STATE)
            feed_row = s.get(MonitoringState, FEED_STATE)
            snap, saved_at = (row.data, aware(row.saved_at)) if row else (None, None)
            pos = feed_row.data if feed_row else None
        if pos:
            self.feed.restore(pos)
        else:
            self.feed.start_at_end()
        if snap is None:
            return False
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

    def on_message(self, _topic: str, event: dict, at: float | None = None) -> None:
        """One device message (a bus event: device_id, kind, external_id, body); `at` is its
        time on the engine clock (default now)."""
        with self._rules_lock:
            self._observe(event.get("device_id"), event["kind"], event.get("external_id"), event.get("body") or {}, at)

    def _observe(self, device_id: int | None, kind: str, external_id: str | None, body: dict,
                 at: float | None) -> None:
        if device_id is None:
            return  # held for onboarding: not a device yet
        if device_id not in self.engine:
            self.engine.track(device_id, DEFAULT_INTERVAL_S)  # a new device; the next refresh sets its interval
        online = body.get("online") if kind == "status" else None
        self.engine.observe(device_id, kind, online=online, at=at)
        if kind in ("telemetry", "event") and self.table.knows(device_id):
            msg = DeviceMessage(kind=kind, external_id=external_id or str(device_id),
                                properties=body.get("properties") or {}, event=body.get("event"),
                                event_state=body.get("event_state"), severity=body.get("severity"))
            for sig in self.rules.on_message(device_id, msg, at=at):
                self.queue.put(sig)

    def consume(self, rows: list[FeedRow]) -> int:
        """Feed stored messages (read from the database) through liveness and rules."""
        if not rows:
            return 0
        now_wall, now_mono = utcnow(), self.clock.now()
        with self._rules_lock:
            for r in rows:
                at = min(now_mono, now_mono - (now_wall - aware(r.received_at)).total_seconds())
                self._observe(r.device_id, r.kind, r.external_id, r.body or {}, at)
        self.processed += len(rows)
        return len(rows)

    def poll_feed(self) -> int:
        """Read and consume everything stored since the last read; returns how many."""
        total = 0
        while True:
            rows = self.feed.read()
            total += self.consume(rows)
            if len(rows) < self.feed.batch:
                return total

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

        def wall(t: float):
            return now_wall - timedelta(seconds=max(0.0, now_mono - t))

        # A never-seen device's first report cannot clear or raise anything: written in bulk
        # (thousands at once when a district's devices first come up).
        first = {id(t): t for t in batch
                 if isinstance(t, Transition) and t.old == NEVER_SEEN and t.new == ONLINE}
        with self.db.session() as s:
            service.record_first_reports(s, [(t.device_id, t.reason, wall(t.at)) for t in first.values()])
            for item in batch:
                at = wall(item.at)
                if id(item) in first:
                    continue
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
                elif item.action == "severity":  # a higher level raised or cleared (de-escalation)
                    service.change_severity(s, device_id=item.device_id, alarm_type=item.alarm_type,
                                            severity=item.severity, reason=item.reason, at=at)
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

    def _on_stored(self, _topic: str, event: dict) -> None:
        """This process committed messages: take them over (same database only) and wake."""
        if event.get("db") == self.db.url and event.get("rows"):
            self.feed.offer(event["rows"])
        self._wake.set()

    def _feed_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.poll_feed()
            except Exception:
                log.exception("monitoring feed failed; will retry")
                self._stop.wait(1.0)

    def _write_loop(self) -> None:
        last_refresh = last_save = last_check = self.clock.now()
        while not self._stop.wait(0.2):
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
                if self.clock.now() - last_check >= LEADER_CHECK_S:
                    last_check = self.clock.now()
                    if not self.leader.held():
                        log.error("monitoring lost its leadership; standing by")
                        threading.Thread(target=self._demote, daemon=True).start()
                        return
            except Exception:
                log.exception("monitoring writer failed; will retry")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> MonitoringRuntime:
        """Lead if no other process does; otherwise stand by and take over when it stops."""
        self._closing.clear()
        if not self._try_lead():
            self._standby = threading.Thread(target=self._stand_by, name="cityops-monitoring-standby", daemon=True)
            self._standby.start()
            log.info("monitoring standing by: another process leads")
        return self

    def _try_lead(self) -> bool:
        try:
            if not self.leader.try_acquire():
                return False
        except Exception:
            log.exception("monitoring could not ask for leadership")
            return False
        self._activate()
        return True

    def _stand_by(self) -> None:
        while not self._closing.wait(LEADER_CHECK_S):
            if self._try_lead():
                return

    def _activate(self) -> None:
        self._stop.clear()
        n = self.load()
        self.restore_state()
        self.save_state()  # a checkpoint at once: whoever takes over from us replays from here
        self.poll_feed()  # catch up on what arrived while nobody led
        self._unsubscribe = self.bus.subscribe(STORED_TOPIC, self._on_stored)
        self.loop.start()
        self._threads = [threading.Thread(target=self._feed_loop, name="cityops-monitoring-feed", daemon=True),
                         threading.Thread(target=self._write_loop, name="cityops-monitoring-writer", daemon=True)]
        for t in self._threads:
            t.start()
        self.active = True
        log.info("monitoring leads", extra={"devices": n, "feed_cursor": self.feed.cursor})

    def _deactivate(self, *, save: bool) -> None:
        if not self.active:
            return
        self.active = False
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        self.loop.stop()
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(5)
        self._threads = []
        if save:
            self.poll_feed()
            self.flush()
            self.save_state()

    def _demote(self) -> None:
        self._deactivate(save=False)  # another process may lead already: its state wins
        self.leader.release()
        if not self._closing.is_set():
            self._stand_by()

    def stop(self) -> None:
        self._closing.set()
        if self._standby is not None:
            self._standby.join(LEADER_CHECK_S + 1)
        self._deactivate(save=True)
        self.leader.release()
