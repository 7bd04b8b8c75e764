"""Leadership: at most one process at a time does a piece of work that must not run twice
(the monitoring runtime, IOT-5).

PostgreSQL: a session-level advisory lock held on a dedicated connection for as long as the
process leads; if that connection dies the lock is gone and `held()` says so, and another
process can take over. SQLite: an exclusive file lock next to the database file (one
machine; the lock goes with the process, SIGKILL included).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import text

from cityops.core.db import Database
from cityops.core.jobs import lock_key

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self._conn = None
        self._fd: int | None = None

    @property
    def leading(self) -> bool:
        return self._conn is not None or self._fd is not None

    def try_acquire(self) -> bool:
        if self.leading:
            return True
        if self.db.is_postgres:
            conn = self.db.engine.connect()
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}).scalar()
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        path = self._lock_path()
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _lock_path(self) -> Path:
        db_path = self.db.engine.url.database
        if not db_path or db_path == ":memory:":
            raise RuntimeError("leadership on SQLite needs a database file")
        return Path(f"{db_path}.{self.name}.lock")

    def held(self) -> bool:
        """Still leading? On PostgreSQL this asks the server over the lock's own connection."""
        if self._fd is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception as exc:
            log.error("leadership connection lost", extra={"lock": self.name, "error": str(exc)})
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # the connection is already broken
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                self._conn.commit()
                self._conn.close()
            except Exception:
                self._drop()
            self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
