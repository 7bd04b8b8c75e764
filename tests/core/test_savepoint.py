"""`core.db.savepoint` on SQLite: the savepoint stays inside the unit of work, and the unit of
work holds the write lock from its start, so a read-then-write never fails because another
writer committed in between (what concurrent ingest does in the demo)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from cityops.core.db import Database, savepoint


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'sp.db'}")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        c.execute(text("INSERT INTO t (v) VALUES ('seed')"))
    yield db, tmp_path / "sp.db"
    db.dispose()


def test_read_then_write_survives_another_writer(sqlite_db):
    db, path = sqlite_db
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    with db.session() as s:
        with savepoint(s):
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 1
            # another writer cannot slip in between our read and our write: it waits, then gives up
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t (v) VALUES ('other')")
            s.execute(text("INSERT INTO t (v) VALUES ('ours')"))
    other.execute("INSERT INTO t (v) VALUES ('other')")  # free again after our commit
    rows = [r[0] for r in other.execute("SELECT v FROM t ORDER BY id")]
    other.close()
    assert rows == ["seed", "ours", "other"]


def test_release_does_not_commit_the_rest_of_the_unit_of_work(sqlite_db):
    db, path = sqlite_db
    with pytest.raises(RuntimeError), db.session() as s:
        with savepoint(s):
            s.execute(text("INSERT INTO t (v) VALUES ('inside')"))
        raise RuntimeError("the unit of work fails after the savepoint")
    with db.engine.connect() as c:
        assert c.execute(text("SELECT v FROM t")).scalars().all() == ["seed"]
