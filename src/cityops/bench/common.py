"""What every benchmark shares: the machine it ran on, a throwaway database, percentiles."""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

DEFAULT_PG = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def database(kind: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    """A fresh empty database (a file under `tmp`, or a new PostgreSQL database) and its dropper."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(DEFAULT_PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return DEFAULT_PG.rsplit("/", 1)[0] + "/" + name, drop


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of xs; None when empty."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def timed_ms(fn: Callable[[], object], n: int) -> list[float]:
    """Wall time of n calls of fn, in milliseconds each."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out
