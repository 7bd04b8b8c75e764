"""Device liveness engine: online / silent / offline / never-seen (IOT-5, first building block).

Pure in memory: no database, no HTTP. The app feeds it every accepted device message
(`observe`), a `LivenessLoop` calls `poll()` a few times a second, and each state change
is handed to `on_transition` (e.g. `bus_publisher()` → the in-process bus) and kept in a
bounded per-device history.

States (IOT-5)
--------------
* ``never_seen`` – tracked, nothing ever heard. A separate KPI state with **no deadline**:
  a device that never reports stays never_seen (it is an installation/commissioning
  problem, not an outage); it leaves the state on its first message.
* ``online`` – activity and data within the timeout.
* ``silent`` – messages keep arriving (keep-alives, status online, command responses)
  but no data (telemetry/event) for ``data_timeout``.
* ``offline`` – no activity at all for ``timeout``, or the carrier said so.

Timeouts
--------
``timeout = interval × grace_factor + slack_s``. The default grace factor 2.5 tolerates one
lost or late report (2 intervals) plus half an interval for carrier jitter: NB-IoT PSM
wake-ups drift, CTWing/OneNET/IoTDA batch and retry their pushes, device clocks drift.
``slack_s`` (default 2 s) covers the push path itself (carrier → HTTP push → ingest), which
matters only for short intervals. ``data_timeout`` uses the same formula, so a device that
simply stops (data and activity stop together) goes online → offline directly without a
spurious silent phase; it is silent only if activity continued after its last data.

A device goes offline exactly when ``now >= last_activity + timeout`` – never a tick early;
the detection lag is the poll period plus the poll's own cost.

Deadlines
---------
One min-heap of ``(deadline, generation, device_id)``. Each device record holds the
generation and deadline of its one live heap entry; every other entry is stale and is
skipped when popped (lazy deletion). Generations come from one engine-wide counter, so
an untracked and re-tracked id can never match an old entry. Activity only ever moves a
deadline *later*; then the existing (earlier) entry is kept, and when it pops the device
is re-evaluated and re-pushed at its real deadline. So `observe` is O(1) in the common
case and O(log n) when a deadline moves earlier (interval shortened, re-track, revival);
the heap holds about one entry per device and is compacted when stale entries pile up.
`poll` costs O(k log n) for k entries due – no scan of all devices.

Threading: all methods are safe to call from several threads (one re-entrant lock).
Transitions are dispatched in order while the lock is held, so per-device order on the
bus is the order of decisions; handlers must be quick (as bus handlers are anyway) and
may call back into the engine.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cityops.monitoring.clock import Clock, MonotonicClock

log = logging.getLogger(__name__)

ONLINE = "online"
SILENT = "silent"
OFFLINE = "offline"
NEVER_SEEN = "never_seen"
STATES: tuple[str, ...] = (ONLINE, SILENT, OFFLINE, NEVER_SEEN)
KINDS: tuple[str, ...] = ("telemetry", "event", "status", "command_response")  # = ingest.message.KINDS
DATA_KINDS = frozenset({"telemetry", "event"})
REASONS: tuple[str, ...] = ("timeout", "carrier", "data", "keepalive_only", "activity", "tracked")

DEFAULT_GRACE_FACTOR = 2.5
DEFAULT_SLACK_S = 2.0
DEFAULT_HISTORY_LIMIT = 32


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one device (IOT-5).

    `at` is the engine's clock time when the change was decided (for a timeout: the poll
    that found the deadline passed, i.e. deadline + detection lag). `reason`:
    ``timeout`` (no activity / no data within the timeout), ``carrier`` (a status message
    from the carrier: online or offline), ``data`` (telemetry/event arrived),
    ``keepalive_only`` (online → silent), ``activity`` (revived by a command response),
    ``tracked`` (a re-`track` of a known device set its state explicitly).
    """

    device_id: int
    old: str
    new: str
    at: float
    reason: str

    def as_payload(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "old": self.old, "new": self.new, "at": self.at, "reason": self.reason}


class _Device:
    """Compact per-device record (IOT-5 memory budget: well under 2 KB per device)."""

    __slots__ = ("interval", "state", "last_activity", "last_data", "data_ref", "gen", "due", "history")

    def __init__(self, interval: float, state: str) -> None:
        self.interval = interval
        self.state = state
        self.last_activity: float | None = None  # any message from the device
        self.last_data: float | None = None  # telemetry/event only
        self.data_ref: float | None = None  # anchor of the silent deadline: last data or (re)online time
        self.gen = 0  # generation of the live heap entry
        self.due: float | None = None  # deadline of the live heap entry; None = no live entry
        self.history: list[Transition] | None = None  # created on the first transition


def _check_interval(interval_s: float) -> float:
    interval = float(interval_s)
    if not interval > 0:
        raise ValueError(f"reporting interval must be > 0 s, got {interval_s!r}")
    return interval


class LivenessEngine:
    """Deadline-driven liveness of tracked devices (IOT-5). See the module docstring."""

    def __init__(self, clock: Clock | None = None, on_transition: Callable[[Transition], None] | None = None,
                 grace_factor: float = DEFAULT_GRACE_FACTOR, slack_s: float = DEFAULT_SLACK_S,
                 history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        if grace_factor < 1:
            raise ValueError("grace_factor below 1 would flag devices offline before they were due to report")
        if slack_s < 0:
            raise ValueError("slack_s must be >= 0")
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.on_transition = on_transition
        self.grace_factor = float(grace_factor)
        self.slack_s = float(slack_s)
        self.history_limit = int(history_limit)
        self._devices: dict[int, _Device] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._gen = itertools.count(1)
        self._counts = dict.fromkeys(STATES, 0)
        self._lock = threading.RLock()
        # statistics (for the bench and metrics)
        self.unknown_observations = 0  # messages for devices not tracked
        self.stale_skipped = 0  # stale heap entries dropped
        self.rescheduled = 0  # live entries popped early and re-pushed (deadline had moved later)

    # -- configuration -------------------------------------------------------------------

    def timeout(self, interval_s: float) -> float:
        """Seconds without any activity before a device is offline."""
        return interval_s * self.grace_factor + self.slack_s

    def data_timeout(self, interval_s: float) -> float:
        """Seconds without data (while still active) before a device is silent; same formula."""
        return interval_s * self.grace_factor + self.slack_s

    def track(self, device_id: int, interval_s: float, state: str = NEVER_SEEN,
              last_activity: float | None = None, last_data: float | None = None) -> None:
        """Start watching a device, or update a tracked one.

        `interval_s` is the product's report interval or the device's override. A new device
        starts in `state` without a transition (restoring a persisted state is not news);
        an online/silent device without `last_activity` gets a full timeout from now, one
        with an old `last_activity` goes offline on the next poll. Re-tracking a known device
        with a different `state` is a transition with reason ``tracked``.
        """
        interval = _check_interval(interval_s)
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._lock:
            now = self.clock.now()
            out: list[Transition] = []
            rec = self._devices.get(device_id)
            if rec is None:
                rec = _Device(interval, state)
                self._devices[device_id] = rec
                self._counts[state] += 1
            else:
                rec.interval = interval
                rec.due = None  # force a fresh entry below; the old one becomes stale
                if state != rec.state:
                    self._set_state(device_id, rec, state, now, "tracked", out)
            if last_activity is not None:
                rec.last_activity = float(last_activity)
            if last_data is not None:
                rec.last_data = float(last_data)
                if rec.last_activity is None or rec.last_activity < rec.last_data:
                    rec.last_activity = rec.last_data
            if rec.state in (ONLINE, SILENT) and rec.last_activity is None:
                rec.last_activity = now
            if rec.data_ref is None or last_data is not None:
                rec.data_ref = rec.last_data if rec.last_data is not None else rec.last_activity
            self._schedule(device_id, rec)
            self._dispatch(out)

    def untrack(self, device_id: int) -> bool:
        """Stop watching; its heap entry becomes stale. Returns whether it was tracked."""
        with self._lock:
            rec = self._devices.pop(device_id, None)
            if rec is None:
                return False
            self._counts[rec.state] -= 1
            rec.due = None
            return True

    def set_interval(self, device_id: int, interval_s: float) -> None:
        """Change a device's expected interval (per-device override); deadlines follow at once."""
        interval = _check_interval(interval_s)
        with self._lock:
            rec = self._devices[device_id]
            rec.interval = interval
            self._schedule(device_id, rec)

    # -- input ---------------------------------------------------------------------------

    def observe(self, device_id: int, kind: str, online: bool | None = None, at: float | None = None) -> Transition | None:
        """A message from/about a device arrived (kinds as in `ingest.message.DeviceMessage`).

        telemetry/event → activity and data; status online=True → activity only; status
        online=False → offline at once (reason ``carrier``; not activity of the device);
        command_response → activity. `at` is the message's time on the engine clock
        (default now); older messages never move times backwards, and one too old to be
        within its timeout does not revive an offline device. Returns the transition, if
        any; untracked devices are counted and ignored.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        with self._lock:
            rec = self._devices.get(device_id)
            if rec is None:
                self.unknown_observations += 1
                return None
            now = self.clock.now()
            t = now if at is None else float(at)
            out: list[Transition] = []
            if kind == "status" and online is False:
                if rec.state != OFFLINE:
                    self._set_state(device_id, rec, OFFLINE, now, "carrier", out)
                    rec.due = None
                self._dispatch(out)
                return out[0] if out else None
            is_data = kind in DATA_KINDS
            if rec.last_activity is None or t > rec.last_activity:
                rec.last_activity = t
            if is_data and (rec.last_data is None or t > rec.last_data):
                rec.last_data = t
            state = rec.state
            if state == ONLINE:
                if is_data and (rec.data_ref is None or t > rec.data_ref):
                    rec.data_ref = t
            elif state == SILENT:
                if is_data and now < t + self.data_timeout(rec.interval):
                    rec.data_ref = rec.last_data
                    self._set_state(device_id, rec, ONLINE, now, "data", out)
            else:  # OFFLINE or NEVER_SEEN
                if now < rec.last_activity + self.timeout(rec.interval):
                    rec.data_ref = rec.last_data if is_data else rec.last_activity
                    reason = "data" if is_data else ("carrier" if kind == "status" else "activity")
                    self._set_state(device_id, rec, ONLINE, now, reason, out)
                elif state == NEVER_SEEN:  # seen at last, but only by a message already past its timeout
                    self._set_state(device_id, rec, OFFLINE, now, "timeout", out)
            self._schedule(device_id, rec)
            self._dispatch(out)
            return out[0] if out else None

    # -- deadlines -----------------------------------------------------------------------

    def poll(self, now: float | None = None) -> list[Transition]:
        """Apply every deadline due at `now` (default: the clock); returns the transitions."""
        with self._lock:
            if now is None:
                now = self.clock.now()
            heap = self._heap
            devices = self._devices
            out: list[Transition] = []
            while heap and heap[0][0] <= now:
                _, gen, device_id = heapq.heappop(heap)
                rec = devices.get(device_id)
                if rec is None or rec.due is None or rec.gen != gen:
                    self.stale_skipped += 1
                    continue
                rec.due = None
                state = rec.state
                if now >= rec.last_activity + self.timeout(rec.interval):  # type: ignore[operator]
                    self._set_state(device_id, rec, OFFLINE, now, "timeout", out)
                    continue
                if state == ONLINE and now >= rec.data_ref + self.data_timeout(rec.interval):  # type: ignore[operator]
                    self._set_state(device_id, rec, SILENT, now, "keepalive_only", out)
                else:
                    self.rescheduled += 1
                self._schedule(device_id, rec)
            if len(heap) > 2 * len(devices) + 1024:
                self._compact()
            self._dispatch(out)
            return out

    advance = poll  # `engine.advance()` after `clock.advance(dt)` reads well in tests

    def _next_deadline(self, rec: _Device) -> float | None:
        if rec.state == ONLINE:
            return min(rec.last_activity + self.timeout(rec.interval),  # type: ignore[operator]
                       rec.data_ref + self.data_timeout(rec.interval))  # type: ignore[operator]
        if rec.state == SILENT:
            return rec.last_activity + self.timeout(rec.interval)  # type: ignore[operator]
        return None  # offline / never_seen: nothing to wait for

    def _schedule(self, device_id: int, rec: _Device) -> None:
        deadline = self._next_deadline(rec)
        if deadline is None:
            rec.due = None
            return
        if rec.due is not None and rec.due <= deadline:
            return  # the earlier entry fires first and re-evaluates (deadline only moved later)
        rec.gen = next(self._gen)
        rec.due = deadline
        heapq.heappush(self._heap, (deadline, rec.gen, device_id))

    def _compact(self) -> None:
        self._heap = [(rec.due, rec.gen, i) for i, rec in self._devices.items() if rec.due is not None]
        heapq.heapify(self._heap)

    def _set_state(self, device_id: int, rec: _Device, new: str, at: float, reason: str,
                   out: list[Transition]) -> None:
        tr = Transition(device_id, rec.state, new, at, reason)
        self._counts[rec.state] -= 1
        self._counts[new] += 1
        rec.state = new
        hist = rec.history
        if hist is None:
            rec.history = [tr]
        else:
            hist.append(tr)
            if len(hist) > self.history_limit:
                del hist[0]
        out.append(tr)

    def _dispatch(self, out: list[Transition]) -> None:
        if self.on_transition is None:
            return
        for tr in out:
            try:
                self.on_transition(tr)
            except Exception:
                log.exception("liveness transition handler failed", extra={"device_id": tr.device_id})

    # -- queries -------------------------------------------------------------------------

    def state(self, device_id: int) -> str:
        return self._devices[device_id].state

    def counts(self) -> dict[str, int]:
        """Devices per state (all four keys always present). O(1)."""
        with self._lock:
            return dict(self._counts)

    def history(self, device_id: int) -> list[Transition]:
        """The device's last `history_limit` transitions, oldest first."""
        with self._lock:
            return list(self._devices[device_id].history or ())

    def deadline(self, device_id: int) -> float | None:
        """When the device goes offline if nothing more arrives (None when offline/never_seen)."""
        with self._lock:
            rec = self._devices[device_id]
            if rec.state in (ONLINE, SILENT):
                return rec.last_activity + self.timeout(rec.interval)  # type: ignore[operator]
            return None

    def info(self, device_id: int) -> dict[str, Any]:
        with self._lock:
            rec = self._devices[device_id]
            return {"device_id": device_id, "state": rec.state, "interval_s": rec.interval,
                    "last_activity": rec.last_activity, "last_data": rec.last_data,
                    "deadline": self.deadline(device_id), "next_check": self._next_deadline(rec)}

    def __len__(self) -> int:
        return len(self._devices)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    @property
    def heap_size(self) -> int:
        return len(self._heap)


def bus_publisher(bus: Any = None, prefix: str = "device.liveness") -> Callable[[Transition], None]:
    """An `on_transition` that publishes each transition on the in-process bus as
    ``{prefix}.{new_state}`` (e.g. ``device.liveness.offline``) with `Transition.as_payload()`."""
    if bus is None:
        from cityops.core.bus import bus as default_bus

        bus = default_bus

    def publish(tr: Transition) -> None:
        bus.publish(f"{prefix}.{tr.new}", tr.as_payload())

    return publish


class LivenessLoop:
    """Runs `engine.poll()` every `tick_s` seconds in a daemon thread (IOT-5).

    Ticks are scheduled on `time.monotonic()` at fixed phase (a slow poll does not push
    later ticks back), so the offline detection lag is at most `tick_s` + one poll's cost.
    The engine should use a real clock (`MonotonicClock`, its default) with this loop.
    """

    def __init__(self, engine: LivenessEngine, tick_s: float = 0.2) -> None:
        if tick_s <= 0:
            raise ValueError("tick_s must be > 0")
        self.engine = engine
        self.tick_s = float(tick_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.transitions = 0
        self.poll_s_total = 0.0
        self.poll_s_max = 0.0
        self.errors = 0

    def start(self) -> LivenessLoop:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="liveness-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> LivenessLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                n = len(self.engine.poll())
            except Exception:
                self.errors += 1
                log.exception("liveness poll failed")
                n = 0
            took = time.monotonic() - t0
            self.polls += 1
            self.transitions += n
            self.poll_s_total += took
            if took > self.poll_s_max:
                self.poll_s_max = took
            next_tick += self.tick_s
            now = time.monotonic()
            if next_tick < now:  # fell behind: skip missed ticks rather than busy-loop
                next_tick = now
            self._stop.wait(next_tick - now)
