"""`cityops bench liveness`: the IOT-5 liveness engine at district scale.

Four figures, all in one process with the real monotonic clock:

* bytes_per_device – tracemalloc over tracking N devices and one message each (so every
  device has its record, heap entry and first history entry); target well under 2 KB.
* observe_per_s – `observe()` throughput, telemetry with some keep-alives mixed in.
* poll cost – an idle `poll()` (nothing due) and the loop's polls during the lag phase.
* offline detection lag – a subset of devices (realistic intervals, 30 s … 1 h) stops
  reporting: their last message is back-dated so their exact deadlines fall 0.5–4 s
  ahead. A `LivenessLoop` (tick 0.2 s) runs while a feeder thread keeps the other devices
  reporting; lag = monotonic time the offline transition reached the handler − the exact
  deadline (last_activity + timeout). Target: max lag < 2 s.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import threading
import time
import tracemalloc

from cityops.monitoring.clock import MonotonicClock
from cityops.monitoring.liveness import OFFLINE, LivenessEngine, LivenessLoop, Transition

INTERVALS = (30.0, 60.0, 300.0, 900.0, 3600.0)  # s: sensors, meters, NB-IoT smoke/manhole, daily-ish
WEIGHTS = (5, 15, 40, 25, 15)
LAG_TARGET_S = 2.0
BYTES_TARGET = 2048


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def run(devices: int = 100_000, going_silent: int | None = None, tick_s: float = 0.2, seed: int = 42,
        silent_window_s: tuple[float, float] = (0.5, 4.0)) -> dict:
    rng = random.Random(seed)
    intervals = rng.choices(INTERVALS, WEIGHTS, k=devices)
    clock = MonotonicClock()

    # -- memory ------------------------------------------------------------------------------
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = LivenessEngine(clock)
    for i in range(devices):
        engine.track(i, intervals[i])
    for i in range(devices):
        engine.observe(i, "telemetry")
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    bytes_per_device = used / devices

    # -- observe throughput ------------------------------------------------------------------
    kinds = ["telemetry"] * 8 + ["status", "command_response"]
    n_obs = devices * 3
    ids = [rng.randrange(devices) for _ in range(n_obs)]
    ks = [kinds[j % len(kinds)] for j in range(n_obs)]
    observe = engine.observe
    t0 = time.perf_counter()
    for j in range(n_obs):
        observe(ids[j], ks[j], True)
    observe_s = time.perf_counter() - t0

    # -- idle poll cost ----------------------------------------------------------------------
    t0 = time.perf_counter()
    for _ in range(10_000):
        engine.poll()
    idle_poll_us = (time.perf_counter() - t0) / 10_000 * 1e6
    del engine
    gc.collect()

    # -- detection lag -----------------------------------------------------------------------
    n_silent = going_silent if going_silent is not None else max(1, devices // 20)
    detected: dict[int, float] = {}
    counts = {"offline": 0, "other": 0}

    def on_transition(tr: Transition) -> None:
        if tr.new == OFFLINE:
            detected[tr.device_id] = time.monotonic()
            counts["offline"] += 1
        else:
            counts["other"] += 1

    engine = LivenessEngine(clock, on_transition)
    silent_ids = rng.sample(range(devices), n_silent)
    silent_set = set(silent_ids)
    for i in range(devices):
        engine.track(i, intervals[i])
        if i not in silent_set:
            engine.observe(i, "telemetry", at=clock.now() - rng.uniform(0, intervals[i]))
    lo, hi = silent_window_s
    for i in silent_ids:  # last report back-dated: exact deadline 0.5–4 s (silent_window_s) from now
        engine.observe(i, "telemetry", at=clock.now() - engine.timeout(intervals[i]) + rng.uniform(lo, hi))
    deadlines = {i: engine.deadline(i) for i in silent_ids}
    counts["offline"] = counts["other"] = 0
    healthy = [i for i in range(devices) if i not in silent_set]
    stop = threading.Event()
    fed = [0]

    def feeder() -> None:  # the rest of the district keeps reporting meanwhile
        k = 0
        while not stop.is_set():
            for _ in range(1000):
                engine.observe(healthy[k % len(healthy)], "telemetry")
                k += 1
            fed[0] = k
            time.sleep(0.001)

    feed = threading.Thread(target=feeder, daemon=True)
    loop = LivenessLoop(engine, tick_s=tick_s)
    wall0 = time.monotonic()
    feed.start()
    loop.start()
    give_up = max(deadlines.values()) + 10
    while len(detected) < n_silent and time.monotonic() < give_up:
        time.sleep(0.05)
    loop.stop()
    stop.set()
    feed.join()
    wall = time.monotonic() - wall0
    lags = sorted(detected[i] - deadlines[i] for i in silent_ids if i in detected)
    early = sum(1 for x in lags if x < 0)
    max_lag = lags[-1] if lags else float("inf")
    ok = (len(lags) == n_silent and early == 0 and max_lag < LAG_TARGET_S and bytes_per_device < BYTES_TARGET
          and counts["offline"] == n_silent)
    return {
        "bench": "liveness", "devices": devices, "went_silent": n_silent, "detected": len(lags),
        "early": early, "false_offline": counts["offline"] - len(lags), "tick_s": tick_s,
        "lag_p50_ms": round(statistics.median(lags) * 1e3, 1) if lags else None,
        "lag_p99_ms": round(_pct(lags, 0.99) * 1e3, 1) if lags else None,
        "lag_max_ms": round(max_lag * 1e3, 1), "lag_target_ms": LAG_TARGET_S * 1e3,
        "bytes_per_device": round(bytes_per_device), "bytes_target": BYTES_TARGET,
        "observe_per_s": round(n_obs / observe_s),
        "idle_poll_us": round(idle_poll_us, 2),
        "loop_polls": loop.polls, "loop_poll_ms_mean": round(loop.poll_s_total / max(1, loop.polls) * 1e3, 3),
        "loop_poll_ms_max": round(loop.poll_s_max * 1e3, 3),
        "feeder_observations": fed[0], "lag_phase_s": round(wall, 2), "heap_entries": engine.heap_size,
        "ok": ok, "machine": machine(),
    }
