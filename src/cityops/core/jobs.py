"""Background jobs: one in-process scheduler that domains register periodic work with.

With PostgreSQL a singleton job holds a session-level advisory lock while it runs, so
two processes (e.g. two `--role worker`) never run the same job at once; the loser
skips that turn. On SQLite there is one process by design.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from cityops.core.db import Database
from cityops.core.metrics import JOB_RUNS, JOB_SECONDS
from cityops.core.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    interval_s: float
    func: Callable[[Database], object]
    singleton: bool = True
    initial_delay_s: float = 0.0
    local: bool = False  # runs in every process, API-only ones included (per-process state)
    next_run: float = 0.0
    not_before: float = 0.0  # monotonic; set by `postpone`
    last_run: object = None
    last_outcome: str = "never"
    last_error: str = ""
    runs: int = 0


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg advisory locks."""
    return int.from_bytes(hashlib.sha256(f"cityops:{name}".encode()).digest()[:8], "big", signed=True)


@dataclass
class Scheduler:
    db: Database
    settings: Any = None  # the process's Settings, for jobs that need more than the database
    jobs: dict[str, Job] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)
    _active: list[Job] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def register(self, name: str, interval_s: float, func: Callable[[Database], object], *,
                 singleton: bool = True, initial_delay_s: float = 0.0, local: bool = False) -> Job:
        if name in self.jobs:
            raise ValueError(f"job {name!r} registered twice")
        if local and singleton:
            raise ValueError(f"job {name!r}: a per-process job cannot be a singleton")
        job = Job(name, interval_s, func, singleton, initial_delay_s, local)
        self.jobs[name] = job
        return job

    def run_once(self, name: str) -> str:
        """Run a job now in this thread; returns 'ok', 'error' or 'skipped' (lock held elsewhere)."""
        job = self.jobs[name]
        started = time.perf_counter()
        outcome = "ok"
        lock_conn = None
        try:
            if job.singleton and self.db.is_postgres:
                lock_conn = self.db.engine.connect()
                got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(name)}).scalar()
                if not got:
                    outcome = "skipped"
                    return outcome
            job.func(self.db)
            job.last_error = ""
        except Exception as exc:  # a job failure must not kill the scheduler
            outcome = "error"
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job failed", extra={"job": name})
        finally:
            if lock_conn is not None:
                if outcome != "skipped":
                    lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(name)})
                lock_conn.close()
            job.last_outcome = outcome
            job.last_run = utcnow()
            job.runs += 1
            JOB_RUNS.labels(name, outcome).inc()
            JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
        return outcome

    def start(self, *, local_only: bool = False) -> None:
        """Run the registered jobs; `local_only` (API-only processes) runs just the per-process ones."""
        if self._thread:
            return
        self._active = [j for j in self.jobs.values() if j.local or not local_only]
        now = time.monotonic()
        for job in self._active:
            job.next_run = now + job.initial_delay_s
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cityops-scheduler", daemon=True)
        self._thread.start()

    def wake(self, name: str) -> None:
        """Make a job due now (e.g. work was just queued for it); a no-op for a job this
        process does not run. Latency-sensitive work (the dispatch outbox) uses it instead
        of a short interval."""
        job = self.jobs.get(name)
        if job is not None and self._thread is not None and job in self._active:
            job.next_run = 0.0
            self._wake.set()

    def postpone(self, name: str, delay_s: float) -> None:
        """Hold job `name` back until at least `delay_s` from now, whether or not the scheduler
        has started (the demo: no online-rate sample before its simulated fleet has reported)."""
        job = self.jobs.get(name)
        if job is not None:
            job.not_before = max(job.not_before, time.monotonic() + delay_s)

    def wake_on(self, topic: str, name: str) -> None:
        """Wake job `name` whenever `topic` is published on the in-process bus."""
        from cityops.core.bus import bus

        self._unsubscribe.append(bus.subscribe(topic, lambda _topic, _payload: self.wake(name)))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            due = [j for j in self._active if max(j.next_run, j.not_before) <= now]
            for job in due:
                self.run_once(job.name)
                job.next_run = time.monotonic() + job.interval_s
            upcoming = min((max(j.next_run, j.not_before) for j in self._active), default=now + 1.0)
            self._wake.wait(max(0.05, min(1.0, upcoming - time.monotonic())))
            self._wake.clear()
