"""`cityops bench geo`: point → street/grid lookup throughput on the shipped reference data (IOT-1)."""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np

from cityops.bench.common import machine


def run(lookups: int = 50_000) -> dict:
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database
    from cityops.geo import lookup, reference

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        prepare_database(db)
        with db.session() as s:
            idx = lookup.build(s)
        db.dispose()
    minx, miny, maxx, maxy = reference.district_outline().bounds
    rng = np.random.default_rng(42)
    lons = rng.uniform(minx, maxx, lookups)
    lats = rng.uniform(miny, maxy, lookups)
    samples = []
    hits = 0
    started = time.perf_counter()
    for i in range(lookups):
        t = time.perf_counter()
        loc = idx.locate(float(lons[i]), float(lats[i]))
        samples.append(time.perf_counter() - t)
        hits += loc.street_code is not None
    elapsed = time.perf_counter() - started
    t = time.perf_counter()
    bulk = idx.locate_many(lons, lats)
    bulk_s = time.perf_counter() - t
    assert sum(c is not None for c in bulk) == hits, "bulk and single lookups disagree"
    samples.sort()
    return {
        "bench": "geo", "lookups": lookups, "inside_district": hits,
        "lookups_per_s": round(lookups / elapsed), "p50_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
        "bulk_lookups_per_s": round(lookups / bulk_s), "target_per_s": 10_000,
        "ok": lookups / elapsed >= 10_000, "machine": machine(),
    }
