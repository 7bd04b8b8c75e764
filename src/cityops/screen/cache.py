"""The big screen's snapshot cache (SYS-SCREEN).

One `ScreenCache` per process and database, keyed (panel, street). Each panel has a TTL; a
stale entry is recomputed by one thread only (single-flight) however many screens ask: the
others get the previous snapshot meanwhile, or wait for the first one when there is none.
A new or cleared alarm (the in-process bus, `alarm.*`) expires the alarms and map panels at
once, so the wall shows it within a tick of the SSE stream. Each compute opens its own
short session: nothing holds a connection between ticks.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cityops.core.bus import bus
from cityops.core.db import Database
from cityops.core.schemas import iso
from cityops.core.timeutil import utcnow
from cityops.screen import panels

log = logging.getLogger(__name__)

TTL_S = {"alarms": 1.0, "map": 5.0, "events": 10.0, "dispatch": 10.0, "callout": 10.0, "devices": 15.0,
         "systems": 30.0, "duty": 30.0}
ALARM_PANELS = ("alarms", "map")
RECENT_STREET_S = 600.0  # the warm job keeps a street warm this long after a screen last asked


@dataclass
class Entry:
    snapshot: dict[str, Any]
    expires: float


class ScreenCache:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow, ttl: dict[str, float] | None = None,
                 subscribe: bool = True):
        self.db = db
        self.clock = clock
        self.now = now
        self.ttl = {**TTL_S, **(ttl or {})}
        self.computes = 0  # how many panel computes ran (tests, metrics)
        self._entries: dict[tuple[str, str | None], Entry] = {}
        self._locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._guard = threading.Lock()
        self._asked: dict[str | None, float] = {}
        self._unsubscribe: Callable[[], None] | None = None
        if subscribe:
            ref = weakref.ref(self)

            def on_alarm(_topic: str, _payload: dict[str, Any]) -> None:
                cache = ref()
                if cache is None:  # the app is gone: stop listening
                    try:
                        unsubscribe()
                    except ValueError:
                        pass
                    return
                cache.invalidate(*ALARM_PANELS)

            unsubscribe = self._unsubscribe = bus.subscribe("alarm.*", on_alarm)

    def close(self) -> None:
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except ValueError:
                pass
            self._unsubscribe = None

    # -- reading ------------------------------------------------------------------------------
    def snapshot(self, name: str, street: str | None = None, *, watched: bool = True) -> dict[str, Any]:
        """The panel's snapshot {name, version, computed_at, data}, recomputed when stale.
        `watched` (a screen asked, not the warm job) keeps the street warm for a while."""
        if name not in panels.PANELS:
            raise KeyError(name)
        key = (name, street)
        with self._guard:
            if watched:
                self._asked[street] = self.clock()
            entry = self._entries.get(key)
            if entry is not None and entry.expires > self.clock():
                return entry.snapshot
            lock = self._locks.setdefault(key, threading.Lock())
        if entry is not None:
            # Stale: every reader gets the previous snapshot at once and one thread recomputes
            # (single-flight) — a screen's request in the background, the warm job in its own
            # thread. A request never pays a cold compute while a snapshot exists.
            if not lock.acquire(blocking=False):
                return entry.snapshot
            if watched:
                threading.Thread(target=self._refresh, args=(name, street, lock), daemon=True,
                                 name=f"screen-refresh-{name}").start()
                return entry.snapshot
        else:
            lock.acquire()
        try:
            with self._guard:
                current = self._entries.get(key)
            if current is not None and current.expires > self.clock():
                return current.snapshot  # another thread computed it while we waited
            try:
                snap = self._compute(name, street)
            except Exception:
                if current is None:
                    raise
                log.exception("screen panel failed; showing the previous snapshot",
                              extra={"panel": name, "street": street})
                return current.snapshot
            with self._guard:
                self._entries[key] = Entry(snap, self.clock() + self.ttl[name])
            return snap
        finally:
            lock.release()

    def _refresh(self, name: str, street: str | None, lock: threading.Lock) -> None:
        """Recompute a stale panel off the request path; the caller acquired `lock`."""
        try:
            snap = self._compute(name, street)
            with self._guard:
                self._entries[(name, street)] = Entry(snap, self.clock() + self.ttl[name])
        except Exception:
            log.exception("screen panel refresh failed; showing the previous snapshot",
                          extra={"panel": name, "street": street})
        finally:
            lock.release()

    def all(self, street: str | None = None, *, watched: bool = True) -> dict[str, dict[str, Any]]:
        return {name: self.snapshot(name, street, watched=watched) for name in panels.PANELS}

    def _compute(self, name: str, street: str | None) -> dict[str, Any]:
        with self.db.session() as s:
            snap = panels.snapshot(s, name, street=street, now=self.now())
        with self._guard:
            self.computes += 1
        previous = self._entries.get((name, street))
        if previous is not None and previous.snapshot["version"] == snap["version"]:
            return previous.snapshot  # unchanged: keep its computed_at, the stream sends nothing
        return snap

    # -- invalidation and warming ---------------------------------------------------------------
    def invalidate(self, *names: str, street: str | None | type[Ellipsis] = ...) -> None:
        """Expire `names` (all panels when none) for `street` (every street when not given)."""
        names = names or panels.PANELS
        with self._guard:
            for (n, s), entry in self._entries.items():
                if n in names and (street is ... or s == street):
                    entry.expires = 0.0

    def recent_streets(self) -> list[str | None]:
        """The district and every street a screen asked for in the last 10 minutes."""
        cutoff = self.clock() - RECENT_STREET_S
        with self._guard:
            for s in [s for s, at in self._asked.items() if at < cutoff]:
                del self._asked[s]
            return [None] + [s for s in self._asked if s is not None]

    def warm(self) -> int:
        """Recompute what is stale for the district and the recently watched streets."""
        streets = self.recent_streets()
        for street in streets:
            self.all(street, watched=False)
        return len(streets)


# One cache per Database object: the app's requests and the warm job share it.
_by_db: weakref.WeakValueDictionary[int, ScreenCache] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def cache_for(db: Database) -> ScreenCache:
    with _registry_lock:
        cache = _by_db.get(id(db))
        if cache is None or cache.db is not db:
            cache = ScreenCache(db)
            _by_db[id(db)] = cache
        return cache


def cache_of(app) -> ScreenCache:
    """The app's cache, created on first use and kept on `app.state`."""
    cache = getattr(app.state, "screen_cache", None)
    if cache is None:
        cache = cache_for(app.state.ctx.db)  # the same object for every caller of this database
        app.state.screen_cache = cache
    return cache


def payload(cache: ScreenCache, street: str | None, street_name: str) -> dict[str, Any]:
    """What `/api/v1/screen/panels` and `/screen/data` answer: every panel's snapshot."""
    return {"street": street, "street_name": street_name, "generated_at": iso(cache.now()),
            "panels": cache.all(street)}
