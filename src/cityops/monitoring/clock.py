"""Time sources for the liveness engine (IOT-5).

The engine only ever asks `now()` for monotonic-like seconds (a float that never goes
backwards); wall-clock time is the caller's business. Tests use `ManualClock` so deadlines
can be hit exactly; production uses `MonotonicClock` (time.monotonic).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic time line (only differences are meaningful)."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic()`."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to (tests). Thread-safe; never goes backwards."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._t += seconds
            return self._t

    def set(self, t: float) -> float:
        with self._lock:
            if t < self._t:
                raise ValueError("a clock does not go backwards")
            self._t = float(t)
            return self._t
