"""IOT-5 liveness engine: deadlines, states, carrier status, history, and the real-clock loop."""

from __future__ import annotations

import random
import time

import pytest

from cityops.core.bus import Bus
from cityops.monitoring import (
    NEVER_SEEN,
    OFFLINE,
    ONLINE,
    SILENT,
    LivenessEngine,
    LivenessLoop,
    ManualClock,
    MonotonicClock,
    Transition,
    bus_publisher,
)

INTERVAL = 10.0  # grace 2.5 + slack 2 → timeout 27 s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def seen() -> list[Transition]:
    return []


@pytest.fixture
def engine(clock: ManualClock, seen: list[Transition]) -> LivenessEngine:
    return LivenessEngine(clock, seen.append)


def test_timeout_formula(engine: LivenessEngine) -> None:
    assert engine.timeout(INTERVAL) == pytest.approx(27.0)
    assert engine.data_timeout(INTERVAL) == engine.timeout(INTERVAL)
    with pytest.raises(ValueError):
        LivenessEngine(ManualClock(), grace_factor=0.5)


def test_offline_exactly_at_deadline_not_a_tick_early(engine, clock, seen) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    deadline = clock.now() + engine.timeout(INTERVAL)
    assert engine.deadline(1) == deadline
    seen.clear()
    assert engine.poll(deadline - 1e-6) == []
    clock.set(deadline - 1e-9)
    assert engine.advance() == [] and engine.state(1) == ONLINE
    clock.set(deadline)
    [tr] = engine.advance()
    assert (tr.device_id, tr.old, tr.new, tr.at, tr.reason) == (1, ONLINE, OFFLINE, deadline, "timeout")
    assert seen == [tr]


def test_activity_reschedules_the_deadline(engine, clock) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    for _ in range(10):  # report every 20 s < 27 s timeout: never offline
        clock.advance(20)
        assert engine.advance() == []
        engine.observe(1, "telemetry")
    last = clock.now()
    assert engine.deadline(1) == last + 27.0
    clock.advance(26.5)
    assert engine.advance() == [] and engine.state(1) == ONLINE
    clock.advance(0.5)
    assert [t.new for t in engine.advance()] == [OFFLINE]
    assert engine.heap_size <= 2  # lazy rescheduling: no heap entry per observation


def test_data_only_device_that_stops_goes_straight_offline(engine, clock) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "event")
    clock.advance(100)
    trs = engine.advance()
    assert [(t.old, t.new) for t in trs] == [(ONLINE, OFFLINE)]  # no spurious silent phase


def test_silent_when_only_keepalives_then_online_on_data(engine, clock, seen) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    t_data = clock.now()
    for _ in range(5):  # keep-alives every 10 s, no data
        clock.advance(10)
        engine.observe(1, "status", online=True)
        engine.advance()
    # data overdue at t_data + 27 (passed at +30), activity fresh → silent, decided at the poll after the deadline
    assert engine.state(1) == SILENT
    silent = [t for t in seen if t.new == SILENT]
    assert len(silent) == 1 and silent[0].reason == "keepalive_only" and silent[0].at == t_data + 30
    clock.advance(1)
    engine.observe(1, "command_response")  # activity only: stays silent
    assert engine.state(1) == SILENT
    tr = engine.observe(1, "telemetry")
    assert tr is not None and (tr.old, tr.new, tr.reason) == (SILENT, ONLINE, "data")
    assert engine.state(1) == ONLINE


def test_silent_then_offline_when_keepalives_stop(engine, clock) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    clock.advance(20)
    engine.observe(1, "status", online=True)
    t_act = clock.now()
    clock.set(1027.0)  # data deadline exactly
    assert [t.new for t in engine.advance()] == [SILENT]
    clock.set(t_act + 27.0 - 1e-9)
    assert engine.advance() == []
    clock.set(t_act + 27.0)
    [tr] = engine.advance()
    assert (tr.old, tr.new, tr.reason) == (SILENT, OFFLINE, "timeout")


def test_offline_device_comes_back(engine, clock) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    clock.advance(30)
    engine.advance()
    assert engine.state(1) == OFFLINE
    tr = engine.observe(1, "telemetry")
    assert (tr.old, tr.new, tr.reason) == (OFFLINE, ONLINE, "data")
    clock.advance(5)
    tr = engine.observe(1, "status", online=False)
    assert (tr.old, tr.new, tr.reason) == (ONLINE, OFFLINE, "carrier")
    tr = engine.observe(1, "command_response")
    assert (tr.old, tr.new, tr.reason) == (OFFLINE, ONLINE, "activity")


def test_carrier_status(engine, clock, seen) -> None:
    engine.track(1, INTERVAL)
    tr = engine.observe(1, "status", online=True)
    assert (tr.old, tr.new, tr.reason) == (NEVER_SEEN, ONLINE, "carrier")
    clock.advance(3)
    tr = engine.observe(1, "status", online=False)
    assert (tr.old, tr.new, tr.at, tr.reason) == (ONLINE, OFFLINE, clock.now(), "carrier")
    assert engine.observe(1, "status", online=False) is None  # already offline: reported once
    assert engine.deadline(1) is None
    clock.advance(100)
    assert engine.advance() == []  # its old deadline entry is stale, no second offline
    tr = engine.observe(1, "status", online=True)
    assert (tr.old, tr.new, tr.reason) == (OFFLINE, ONLINE, "carrier")
    # online via carrier without data: silent after data_timeout if keep-alives continue
    for _ in range(3):
        clock.advance(10)
        engine.observe(1, "status", online=True)
        engine.advance()
    assert engine.state(1) == SILENT
    assert [t.reason for t in seen] == ["carrier", "carrier", "carrier", "keepalive_only"]


def test_stale_message_does_not_revive(engine, clock) -> None:
    engine.track(1, INTERVAL, state=OFFLINE)
    assert engine.observe(1, "telemetry", at=clock.now() - 60) is None
    assert engine.state(1) == OFFLINE
    tr = engine.observe(1, "telemetry", at=clock.now() - 5)  # late but within its timeout
    assert tr.new == ONLINE and engine.deadline(1) == clock.now() - 5 + 27
    engine.observe(1, "telemetry", at=clock.now() - 20)  # older than what we have: ignored
    assert engine.deadline(1) == clock.now() - 5 + 27


def test_interval_override(engine, clock) -> None:
    engine.track(1, 3600)
    engine.track(2, 3600)
    engine.observe(1, "telemetry")
    engine.observe(2, "telemetry")
    engine.set_interval(1, INTERVAL)  # earlier deadline: rescheduled at once
    assert engine.deadline(1) == clock.now() + 27
    clock.advance(27)
    assert [(t.device_id, t.new) for t in engine.advance()] == [(1, OFFLINE)]
    engine.set_interval(2, 7200)  # later deadline: old entry pops early, re-evaluates, no transition
    clock.advance(3600 * 2.5 + 2 - 27)
    assert engine.advance() == [] and engine.state(2) == ONLINE
    clock.set(1000 + 7200 * 2.5 + 2)
    assert [(t.device_id, t.new) for t in engine.advance()] == [(2, OFFLINE)]
    with pytest.raises(ValueError):
        engine.set_interval(2, 0)


def test_untrack_and_retrack(engine, clock, seen) -> None:
    engine.track(1, INTERVAL)
    engine.observe(1, "telemetry")
    assert engine.untrack(1) and not engine.untrack(1)
    assert 1 not in engine and engine.counts()[ONLINE] == 0
    assert engine.observe(1, "telemetry") is None and engine.unknown_observations == 1
    clock.advance(10)
    engine.track(1, INTERVAL, state=ONLINE)  # re-tracked: the old entry (due at 1027) must not fire
    clock.set(1027.0)
    assert engine.advance() == [] and engine.state(1) == ONLINE
    clock.set(1037.0)
    assert [t.new for t in engine.advance()] == [OFFLINE]
    tr_before = len(seen)
    engine.track(1, INTERVAL, state=NEVER_SEEN)  # explicit re-track with another state
    assert seen[tr_before:] == [Transition(1, OFFLINE, NEVER_SEEN, 1037.0, "tracked")]


def test_restored_state(engine, clock) -> None:
    engine.track(1, INTERVAL, state=ONLINE, last_activity=clock.now() - 100)  # long gone
    engine.track(2, INTERVAL, state=ONLINE, last_activity=clock.now() - 1, last_data=clock.now() - 1)
    engine.track(3, INTERVAL, state=OFFLINE)
    assert engine.counts() == {ONLINE: 2, SILENT: 0, OFFLINE: 1, NEVER_SEEN: 0}
    assert [(t.device_id, t.new) for t in engine.advance()] == [(1, OFFLINE)]
    assert engine.deadline(2) == clock.now() + 26


def test_never_seen_has_no_deadline(engine, clock, seen) -> None:
    engine.track(1, INTERVAL)
    assert engine.state(1) == NEVER_SEEN and engine.deadline(1) is None
    clock.advance(10_000)
    assert engine.advance() == [] and engine.state(1) == NEVER_SEEN and seen == []
    assert engine.counts()[NEVER_SEEN] == 1
    tr = engine.observe(1, "telemetry")
    assert (tr.old, tr.new, tr.reason) == (NEVER_SEEN, ONLINE, "data")
    engine.track(2, INTERVAL)
    tr = engine.observe(2, "telemetry", at=clock.now() - 1000)  # first sign of life, already too old
    assert (tr.old, tr.new, tr.reason) == (NEVER_SEEN, OFFLINE, "timeout")


def test_many_devices_interleaved_deadlines_in_order_and_once(clock, seen) -> None:
    engine = LivenessEngine(clock, seen.append, grace_factor=2.0, slack_s=0.0)
    rng = random.Random(7)
    expected: dict[int, float] = {}
    for i in range(2000):
        interval = rng.choice([1.0, 3.0, 7.5, 30.0, 60.0])
        engine.track(i, interval)
        engine.observe(i, "telemetry", at=clock.now() - rng.uniform(0, interval))
    for _ in range(3):  # interleaved activity moves some deadlines later
        clock.advance(0.5)
        engine.advance()
        for i in rng.sample(range(2000), 500):
            engine.observe(i, rng.choice(["telemetry", "event"]))
    for i in range(2000):
        expected[i] = engine.deadline(i)  # None: already offline
    before = len(seen)
    end = clock.now() + 130
    while clock.now() < end:
        clock.advance(0.25)
        for tr in engine.advance():
            assert tr.new == OFFLINE and tr.old == ONLINE
            assert expected[tr.device_id] <= tr.at < expected[tr.device_id] + 0.25
    final = seen[before:]
    assert sorted(t.device_id for t in final) == sorted(i for i, d in expected.items() if d is not None)
    assert len(final) > 1500  # each still-online device exactly once
    ats = [t.at for t in final]
    assert ats == sorted(ats)
    for i in range(2000):  # over the whole run: no state reported twice in a row
        states = [t.new for t in seen if t.device_id == i]
        assert all(a != b for a, b in zip(states, states[1:]))
    assert engine.counts()[OFFLINE] == 2000 and engine.poll(end + 1000) == []
    assert engine.heap_size == 0


def test_history_is_kept_and_bounded(clock) -> None:
    engine = LivenessEngine(clock, history_limit=4)
    engine.track(1, INTERVAL)
    for _ in range(5):
        engine.observe(1, "telemetry")
        engine.observe(1, "status", online=False)
    hist = engine.history(1)
    assert len(hist) == 4 and [t.new for t in hist] == [ONLINE, OFFLINE, ONLINE, OFFLINE]


def test_published_on_the_bus_and_failing_handler_is_contained(clock) -> None:
    bus = Bus()
    got: list[tuple[str, dict]] = []
    bus.subscribe("device.liveness.*", lambda topic, payload: got.append((topic, payload)))
    engine = LivenessEngine(clock, bus_publisher(bus))
    engine.track(5, INTERVAL)
    engine.observe(5, "telemetry")
    assert got == [("device.liveness.online",
                    {"device_id": 5, "old": NEVER_SEEN, "new": ONLINE, "at": 1000.0, "reason": "data"})]

    def boom(tr: Transition) -> None:
        raise RuntimeError("handler bug")

    engine2 = LivenessEngine(clock, boom)
    engine2.track(1, INTERVAL)
    assert engine2.observe(1, "telemetry").new == ONLINE  # the engine keeps going


def test_unknown_kind_rejected(engine) -> None:
    engine.track(1, INTERVAL)
    with pytest.raises(ValueError):
        engine.observe(1, "heartbeat")
    with pytest.raises(ValueError):
        engine.track(2, INTERVAL, state="dead")


def test_loop_detection_lag_with_real_clock() -> None:
    """1,000 devices, interval 0.5 s, grace 2, no slack → deadlines ~1 s out; lag < tick + poll."""
    clock = MonotonicClock()
    detected: dict[int, float] = {}
    engine = LivenessEngine(clock, lambda tr: detected.__setitem__(tr.device_id, time.monotonic())
                            if tr.new == OFFLINE else None, grace_factor=2.0, slack_s=0.0)
    now = clock.now()
    for i in range(1000):
        engine.track(i, 0.5)
        engine.observe(i, "telemetry", at=now - (i % 100) / 200)  # deadlines spread over ~0.5 s
    deadlines = {i: engine.deadline(i) for i in range(1000)}
    loop = LivenessLoop(engine, tick_s=0.05)
    with loop:
        end = time.monotonic() + 3
        while len(detected) < 1000 and time.monotonic() < end:
            time.sleep(0.02)
    assert not loop.running and loop.errors == 0
    assert len(detected) == 1000
    lags = [detected[i] - deadlines[i] for i in range(1000)]
    assert min(lags) >= 0  # never early
    assert max(lags) < 0.5, max(lags)


def test_bench_smoke() -> None:
    """`cityops bench liveness` at toy scale: the figures are there and the targets hold."""
    from cityops.bench.liveness import run

    r = run(devices=2000, silent_window_s=(0.2, 0.6))
    assert r["detected"] == r["went_silent"] == 100 and r["early"] == 0 and r["false_offline"] == 0
    assert r["lag_max_ms"] < 2000 and r["bytes_per_device"] < 2048 and r["ok"]
