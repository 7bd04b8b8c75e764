"""Database engine, sessions and the declarative base.

SQLite (WAL) is the embedded default; PostgreSQL is production. Both run the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, DateTime, Engine, MetaData, create_engine, event, or_
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from cityops.core.timeutil import aware

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on both backends (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store UTC-aware times")
        # SQLite keeps the wall-clock digits only, so normalise to UTC before storing.
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        return aware(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


def savepoint(session: Session):
    """``session.begin_nested()`` that stays inside the session's transaction on SQLite too:
    the pysqlite driver does not BEGIN before a SAVEPOINT (it begins only before DML), so the
    savepoint's RELEASE would commit on its own and the rest of the unit of work would no longer
    be atomic with it. Use it wherever a savepoint guards an insert that may lose a race.

    The transaction it opens is BEGIN IMMEDIATE: it takes SQLite's write lock at once (waiting
    up to the busy timeout). A deferred BEGIN would read first and then fail at once with
    "database is locked" when another writer committed in between (WAL cannot upgrade a stale
    snapshot), which is what concurrent ingest does all the time."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return session.begin_nested()


def text_search(q: str, *columns) -> ColumnElement[bool]:
    """A search box's filter: some column contains `q`, ignoring case on both databases, with
    `%` and `_` matched as typed (plain LIKE is case-sensitive on PostgreSQL only and treats
    them as wildcards)."""
    q = q.strip()
    return or_(*(c.icontains(q, autoescape=True) for c in columns))
