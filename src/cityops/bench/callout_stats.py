"""`cityops bench callout-stats`: year / month / day call statistics over N seeded call records
(CALL-5; target p95 < 100 ms at 10 million records).

A scratch database (a file, or a new PostgreSQL database) is migrated, then N call records
spread over 2024-2026 (Beijing time) and the seven scenarios, with realistic result shares, are
bulk-loaded: SQLite by executemany in large transactions with the scratch file's journal and
sync switched off, PostgreSQL by COPY. The record indexes are dropped for the load and built
again after (counted in the seed time). `stats.rebuild` then fills the rollups, and `queries`
random year, month and day queries are timed each. The queries read only the rollups.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, text

from cityops.bench.common import database as scratch_database
from cityops.bench.common import machine, pct, timed_ms

TARGET_P95_MS = 100.0
YEARS = (2024, 2025, 2026)
CHUNK = 200_000
SCENARIOS = (("hotline_callback", 0.35), ("notice", 0.20), ("workorder_reminder", 0.15), ("street_app", 0.10),
             ("duty_check", 0.08), ("iot_alert", 0.07), ("emergency", 0.05))
RESULTS = (("answered", 0.68), ("no_answer", 0.12), ("busy", 0.06), ("unreachable", 0.04), ("power_off", 0.03),
           ("invalid_number", 0.03), ("rejected", 0.02), ("suspended", 0.01), ("failed", 0.01))
RECORD_INDEXES = ("ix_callout_records_scenario_started", "ix_callout_records_number_e164",
                  "ix_callout_records_campaign_id")
COLUMNS = ("scenario", "number_e164", "started_at", "result", "duration_s", "dtmf", "satisfaction", "outcome",
           "business_ref", "caller_id", "adapter")


def _chunk(rng: np.random.Generator, n: int, t0: float, t1: float) -> list[list]:
    """n records as column lists (started_at as UTC 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    sc = np.array([s for s, _ in SCENARIOS])[rng.choice(len(SCENARIOS), n, p=[p for _, p in SCENARIOS])]
    res = np.array([r for r, _ in RESULTS])[rng.choice(len(RESULTS), n, p=[p for _, p in RESULTS])]
    secs = np.sort(rng.uniform(t0, t1, n))
    started = np.char.replace(np.datetime_as_string((secs * 1e6).astype("datetime64[us]"), unit="us"), "T", " ")
    answered = res == "answered"
    dur = np.where(answered, rng.uniform(20, 180, n), rng.uniform(0, 40, n)).round(1)
    u = rng.random(n)
    callback = answered & (sc == "hotline_callback")
    sat = np.where(callback & (u < 0.85), "满意", np.where(callback & (u < 0.95), "不满意", ""))
    opt = np.where(answered & (rng.random(n) < 0.01), "opt_out", np.where(answered, "hangup", ""))
    numbers = np.char.add("+86139", np.char.zfill(rng.integers(0, 200_000, n).astype(str), 8))
    return [sc.tolist(), numbers.tolist(), started.tolist(), res.tolist(), dur.tolist(), sat.tolist(), opt.tolist()]


def _rows(cols: list[list]):
    sc, num, started, res, dur, sat, opt = cols
    for i in range(len(sc)):
        yield (sc[i], num[i], started[i], res[i], dur[i], "", sat[i] or None, opt[i], "", "", "sim")


def _span() -> tuple[float, float]:
    from cityops.core.timeutil import SHANGHAI

    first = datetime(YEARS[0], 1, 1, tzinfo=SHANGHAI).timestamp()
    last = datetime(YEARS[-1] + 1, 1, 1, tzinfo=SHANGHAI).timestamp()
    return first, last


def _seed_sqlite(path: Path, n: int, rng: np.random.Generator) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    # The scratch file is thrown away: no journal, no fsync.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY",
                   "locking_mode=EXCLUSIVE"):
        con.execute(f"PRAGMA {pragma}")
    for ix in RECORD_INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {ix}")
    sql = f"INSERT INTO callout_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    t0, t1 = _span()
    step = (t1 - t0) / max(1, -(-n // CHUNK))
    done = 0
    while done < n:
        k = min(CHUNK, n - done)
        a = t0 + step * (done // CHUNK)
        con.execute("BEGIN")
        con.executemany(sql, _rows(_chunk(rng, k, a, a + step)))
        con.execute("COMMIT")
        done += k
    con.execute("CREATE INDEX ix_callout_records_scenario_started ON callout_records (scenario, started_at)")
    con.execute("CREATE INDEX ix_callout_records_number_e164 ON callout_records (number_e164)")
    con.execute("CREATE INDEX ix_callout_records_campaign_id ON callout_records (campaign_id)")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


def _copy_text(v) -> str:
    if v is None:
        return "\\N"
    return str(v)


def copy_records(con, n: int, rng: np.random.Generator, t0: float, t1: float) -> None:
    """COPY n generated call records spread over [t0, t1) (epoch seconds) into PostgreSQL,
    without the record indexes during the load (built again after); `con` is autocommit."""
    step = (t1 - t0) / max(1, -(-n // CHUNK))
    for ix in RECORD_INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {ix}")
    done = 0
    with con.cursor() as cur:
        while done < n:
            k = min(CHUNK, n - done)
            a = t0 + step * (done // CHUNK)
            lines = "".join("\t".join(map(_copy_text, r)) + "\n" for r in _rows(_chunk(rng, k, a, a + step)))
            # started_at is UTC digits without an offset: the session time zone makes them UTC.
            with con.transaction():
                cur.execute("SET LOCAL TIME ZONE 'UTC'")
                with cur.copy(f"COPY callout_records ({', '.join(COLUMNS)}) FROM STDIN") as cp:
                    cp.write(lines.encode())
            done += k
    con.execute("CREATE INDEX ix_callout_records_scenario_started ON callout_records (scenario, started_at)")
    con.execute("CREATE INDEX ix_callout_records_number_e164 ON callout_records (number_e164)")
    con.execute("CREATE INDEX ix_callout_records_campaign_id ON callout_records (campaign_id)")


def _seed_postgres(url: str, n: int, rng: np.random.Generator) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t0, t1 = _span()
    with psycopg.connect(dsn, autocommit=True) as con:
        copy_records(con, n, rng, t0, t1)
        con.execute("VACUUM ANALYZE callout_records")


def run(database: str = "sqlite", records: int = 10_000_000, queries: int = 200) -> dict:
    from cityops.callout import stats
    from cityops.callout.campaign_models import CallRecord
    from cityops.callout.stats_models import CallStatDaily
    from cityops.core import migrate
    from cityops.core.db import Database

    rng = np.random.default_rng(20261206)
    pick = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = scratch_database(database, Path(tmp))
        db = Database(url)
        try:
            migrate.upgrade(db)
            db.dispose()
            t = time.perf_counter()
            if database == "sqlite":
                _seed_sqlite(Path(tmp) / "bench.db", records, rng)
            else:
                _seed_postgres(url, records, rng)
            seed_s = time.perf_counter() - t
            db = Database(url)
            t = time.perf_counter()
            with db.session() as s:
                built = stats.rebuild(s)
            if database == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("VACUUM ANALYZE callout_stats_daily"))
                    c.execute(text("VACUUM ANALYZE callout_stats_monthly"))
            rebuild_s = time.perf_counter() - t
            with db.session() as s:
                counted = s.scalar(select(func.count()).select_from(CallRecord))
                rolled = int(s.scalar(select(func.coalesce(func.sum(CallStatDaily.calls), 0))))
                rollup_rows = s.scalar(select(func.count()).select_from(CallStatDaily))
                year_ms = timed_ms(lambda: stats.year(s, year=pick.choice(YEARS)), queries)
                month_ms = timed_ms(lambda: stats.months(s, year=pick.choice(YEARS)), queries)
                day_ms = timed_ms(lambda: stats.days(s, year=pick.choice(YEARS), month=pick.randint(1, 12)), queries)
                sample = stats.year(s, year=YEARS[0])["total"]
        finally:
            db.dispose()
            drop()
    p95 = {k: round(pct(v, 0.95), 2) for k, v in (("year", year_ms), ("month", month_ms), ("day", day_ms))}
    return {
        "bench": "callout-stats", "database": database, "records": records, "records_counted": counted,
        "rollup_rows": rollup_rows, "rollup_calls": rolled, "rebuild": built, "queries": queries,
        "seed_s": round(seed_s, 1), "records_per_s": round(records / seed_s) if seed_s > 0 else None,
        "rebuild_s": round(rebuild_s, 1),
        "year_query_p50_ms": round(statistics.median(year_ms), 2), "year_query_p95_ms": p95["year"],
        "month_query_p50_ms": round(statistics.median(month_ms), 2), "month_query_p95_ms": p95["month"],
        "day_query_p50_ms": round(statistics.median(day_ms), 2), "day_query_p95_ms": p95["day"],
        "sample_year": {"year": YEARS[0], "calls": sample["calls"], "answered_rate": sample["answered_rate"],
                        "satisfaction_rate": sample["satisfaction_rate"], "opt_outs": sample["opt_outs"]},
        "target_p95_ms": TARGET_P95_MS,
        "ok": counted == records == rolled and max(p95.values()) < TARGET_P95_MS,
        "at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"), "machine": machine(),
    }
