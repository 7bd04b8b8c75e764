"""The big screen's cache (SYS-SCREEN): TTL per panel, single-flight recomputes, alarms on the
bus expiring the alarm panels at once, the warm job."""

import threading
import time

import pytest

from cityops.core.bus import bus
from cityops.screen import panels
from cityops.screen.cache import ScreenCache, cache_of


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _counting(monkeypatch, name, delay=0.0):
    """Replace one panel's compute with a counting (and optionally slow) one."""
    calls = []
    lock = threading.Lock()

    def compute(session, *, street, now):
        with lock:
            calls.append(street)
            n = len(calls)
        time.sleep(delay)
        return {"n": n, "street": street}

    monkeypatch.setitem(panels.COMPUTE, name, compute)
    return calls


def _eventually(read, wanted, timeout=5.0):
    """A stale panel is recomputed in the background: poll until the new snapshot is served."""
    deadline = time.monotonic() + timeout
    while True:
        snap = read()
        if snap["data"]["n"] == wanted or time.monotonic() > deadline:
            return snap
        time.sleep(0.01)


def test_ttl_per_panel_and_street(db, monkeypatch):
    clock = Clock()
    cache = ScreenCache(db, clock=clock, subscribe=False)
    duty = _counting(monkeypatch, "duty")
    alarms = _counting(monkeypatch, "alarms")
    first = cache.snapshot("duty")
    assert cache.snapshot("duty") is first and cache.snapshot("alarms")["data"] == {"n": 1, "street": None}
    clock.t += 2  # alarms (1 s) is stale, duty (30 s) is not
    assert cache.snapshot("alarms")["data"]["n"] == 1  # served stale at once, recomputed behind
    assert _eventually(lambda: cache.snapshot("alarms"), 2)["data"]["n"] == 2
    assert cache.snapshot("duty") is first
    cache.snapshot("duty", "310105001")  # another street is another entry
    assert duty == [None, "310105001"]
    clock.t += 31
    assert cache.snapshot("duty") is first
    again = _eventually(lambda: cache.snapshot("duty"), 3)
    assert again["data"]["n"] == 3 and again["version"] != first["version"]
    assert len(alarms) == 2 and cache.computes == 5
    with pytest.raises(KeyError):
        cache.snapshot("nope")


def test_single_flight_with_threads(db, monkeypatch):
    clock = Clock()
    cache = ScreenCache(db, clock=clock, subscribe=False)
    calls = _counting(monkeypatch, "events", delay=0.3)
    results, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        results.append(cache.snapshot("events"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({id(r) for r in results}) == 1  # everyone waited for the one compute

    clock.t += 11  # stale: everyone gets the previous snapshot at once, one background recompute
    results.clear()
    threads = [threading.Thread(target=ask) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [r["data"]["n"] for r in results] == [1] * 8  # nobody waited for the 0.3 s compute
    assert _eventually(lambda: cache.snapshot("events"), 2)["data"]["n"] == 2
    assert len(calls) == 2


def test_a_failing_compute_keeps_the_previous_snapshot(db, monkeypatch):
    clock = Clock()
    cache = ScreenCache(db, clock=clock, subscribe=False)
    _counting(monkeypatch, "callout")
    good = cache.snapshot("callout")

    def broken(session, *, street, now):
        raise RuntimeError("database went away")

    monkeypatch.setitem(panels.COMPUTE, "callout", broken)
    clock.t += 11
    assert cache.snapshot("callout") is good
    with pytest.raises(RuntimeError):
        cache.snapshot("callout", "310105001")  # nothing to fall back on


def test_alarm_on_the_bus_expires_alarm_panels_at_once(app, db, monkeypatch):
    """SYS-SCREEN: a new or cleared alarm shows at once, whatever the TTL."""
    cache = cache_of(app)
    assert cache_of(app) is cache and app.state.screen_cache is cache
    clock = Clock()
    cache.clock = clock
    cache.ttl = {name: 1000.0 for name in panels.PANELS}
    counts = {name: _counting(monkeypatch, name) for name in ("alarms", "map", "devices")}
    for name in counts:
        cache.snapshot(name)
        cache.snapshot(name, "310105001")
    bus.publish("alarm.raise", {"alarm_id": 1, "device_id": 1})
    for name in counts:
        cache.snapshot(name)
        cache.snapshot(name, "310105001")
    assert {n: len(c) for n, c in counts.items()} == {"alarms": 4, "map": 4, "devices": 2}
    bus.publish("device.liveness.online", {})
    cache.snapshot("alarms")
    assert len(counts["alarms"]) == 4


def test_warm_job_keeps_the_district_and_watched_streets_warm(app, db):
    cache = cache_of(app)
    cache.snapshot("duty", "310105001")  # a street screen asked
    before = cache.computes
    assert app.state.ctx.scheduler.run_once("screen.warm") == "ok"
    # district: all panels; the watched street: all but the one just computed
    assert cache.computes - before == 2 * len(panels.PANELS) - 1
    assert cache.recent_streets() == [None, "310105001"]  # warming does not count as watching
    cache.clock = lambda: time.monotonic() + 601
    assert cache.recent_streets() == [None]  # nobody watched the street for 10 minutes
    job = app.state.ctx.scheduler.jobs["screen.warm"]
    assert job.local and not job.singleton and job.interval_s <= 10
