"""Shared fixtures. Every test that takes `db_url` (directly or through `app`/`client`)
runs twice: on SQLite and on PostgreSQL. Each test gets a database in the state of a
migrated, seeded template, so tests never see each other's rows: on SQLite a copy of the
template file, on PostgreSQL the test process's database reset to the template's state
(PgDatabases). Each test gets a new app; the routes FastAPI resolves per app are shared
between the tests' apps (_share_routes).

PostgreSQL is required in CI (CI=true): there a missing server fails the run; elsewhere
the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import shutil
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from cityops.app import create_app
from cityops.audit import service as audit
from cityops.bootstrap import prepare_database
from cityops.core.db import Database
from cityops.core.settings import Settings
from cityops.sim.serve import serve_app

PG_URL = os.environ.get("CITYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_SECRET = "test-signing-key-0123456789abcdef0123456789abcdef"
TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789abcdef"
PASSWORD = "Passw0rd!-test"
_counter = itertools.count()

audit.configure(TEST_AUDIT_KEY)


def _pg_url(dbname: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + dbname


def _pg_admin():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    prepare_database(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template():
    try:
        engine = _pg_admin()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (outside CI): {exc}")
    name = f"cityops_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_pg_url(name))
    prepare_database(db)
    db.dispose()
    yield name
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


# Everything in a database but the rows of its tables and the state of its sequences: when this
# differs from the template's, a test changed the schema and its database is dropped, not reused.
_PG_FINGERPRINT = r"""
WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_toast%'
    AND nspname NOT LIKE 'pg\_temp%')
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'n ' || nspname FROM user_ns
  UNION ALL SELECT 'c ' || c.oid::regclass::text || ' ' || c.relkind::text || c.relpersistence::text || c.relnatts
    || c.relrowsecurity || coalesce(array_to_string(c.reloptions, ','), '')
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
  UNION ALL SELECT 'q ' || seqrelid::regclass::text || ' ' || concat_ws(',', seqtypid, seqstart, seqincrement,
    seqmax, seqmin, seqcache, seqcycle) FROM pg_sequence
  UNION ALL SELECT 'v ' || polrelid::regclass::text || '.' || polname FROM pg_policy
  UNION ALL SELECT 'a ' || a.attrelid::regclass::text || '.' || a.attname || ' '
    || format_type(a.atttypid, a.atttypmod) || a.attnotnull || a.attgenerated::text || a.attidentity::text
    || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_ns n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'k ' || conrelid::regclass::text || '.' || conname || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN user_ns n ON n.oid = k.connamespace
  UNION ALL SELECT 'i ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN user_ns n ON n.oid = c.relnamespace
  UNION ALL SELECT 't ' || tgrelid::regclass::text || '.' || tgname || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'r ' || ev_class::regclass::text || '.' || rulename || ev_enabled::text FROM pg_rewrite r
    JOIN pg_class c ON c.oid = r.ev_class JOIN user_ns n ON n.oid = c.relnamespace
  UNION ALL SELECT 'p ' || p.oid::regprocedure::text || md5(coalesce(p.prosrc, ''))
    FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
  UNION ALL SELECT 'y ' || t.oid::regtype::text || t.typtype::text FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
  UNION ALL SELECT 'e ' || enumtypid::regtype::text || enumlabel || enumsortorder FROM pg_enum
  UNION ALL SELECT 'x ' || extname || extversion FROM pg_extension
  UNION ALL SELECT 'o ' || setrole || ' ' || c FROM pg_db_role_setting, unnest(setconfig) c
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND NOT (setrole = 0 AND c = 'synchronous_commit=off')
  UNION ALL SELECT 'l ' || count(*) FROM pg_largeobject_metadata
  UNION ALL SELECT 'g ' || count(*) FROM pg_prepared_xacts WHERE database = current_database()
) s(x)
"""


def _libpq(dbname: str) -> str:
    return make_url(_pg_url(dbname)).set(drivername="postgresql").render_as_string(hide_password=False)


class PgDatabases:
    """Hands each PostgreSQL test a database in the template's state, under a name of its own.

    Cloning the template (CREATE DATABASE … TEMPLATE, then DROP) cost 0.1–1 s of server time
    per test (WAL-logging or, with STRATEGY FILE_COPY, checkpointing the whole 15 MB database).
    Instead each test process reuses one database: after a test it closes every connection
    to it, renames it to a private name (a connection the test left behind cannot reconnect),
    deletes every table's rows, reloads the template's reference rows and resets every
    sequence to the template's value (~20 ms). A test that changed anything besides rows and
    sequences (DDL, extensions, settings: see _PG_FINGERPRINT) gets its database dropped and
    the next test a fresh clone, as before."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.parked = f"cityops_w_{os.getpid()}"
        self.ready = False  # the parked database exists and is in the template's state
        self._conn: psycopg.Connection | None = None  # to the server's maintenance database
        with psycopg.connect(_libpq(template), autocommit=True) as conn:
            self.fingerprint = conn.execute(_PG_FINGERPRINT).fetchone()[0]
            tables = conn.execute(
                "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
                " ORDER BY 2").fetchall()
            self.tables = [name for _, name in tables]
            self.rows: dict[str, tuple[str, bytes]] = {}  # table → (column list, binary COPY data)
            for oid, name in tables:
                if not conn.execute(f"SELECT EXISTS (SELECT FROM ONLY {name})").fetchone()[0]:
                    continue
                cols = ", ".join(r[0] for r in conn.execute(
                    "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = %s AND attnum > 0"
                    " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", (oid,)))
                with conn.cursor().copy(f"COPY (SELECT {cols} FROM ONLY {name}) TO STDOUT (FORMAT BINARY)") as cp:
                    self.rows[name] = (cols, b"".join(bytes(chunk) for chunk in cp))
            self.sequences = conn.execute(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename),"
                " coalesce(last_value, start_value), last_value IS NOT NULL FROM pg_sequences").fetchall()

    def _admin(self, sql: str, *params) -> list:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(_libpq(PG_URL.rsplit("/", 1)[1]), autocommit=True)
            self._conn.execute("SET synchronous_commit = off")
        cur = self._conn.execute(sql, params or None)
        return cur.fetchall() if cur.description else []

    def acquire(self) -> str:
        name = f"cityops_t_{os.getpid()}_{next(_counter)}"
        if self.ready:
            self.ready = False
            try:
                self._admin(f'ALTER DATABASE "{self.parked}" RENAME TO "{name}"')
                return name
            except psycopg.Error:
                self._admin(f'DROP DATABASE IF EXISTS "{self.parked}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        # Tests do not need their commits to survive a crash of the server: not waiting for
        # the WAL to reach the disk at each commit saves an fsync per commit (the setting belongs
        # to the database, so it stays across renames; _PG_FINGERPRINT ignores it).
        self._admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return name

    def release(self, name: str) -> None:
        try:
            self._close_connections(name)
            self._admin(f'ALTER DATABASE "{name}" RENAME TO "{self.parked}"')
            name = self.parked
            self._reset(name)
            self._close_connections(name)  # the reset's own session ends asynchronously
            self.ready = True
        except Exception:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _close_connections(self, name: str) -> None:
        """What DROP DATABASE … WITH (FORCE) does: end the other sessions and wait for them to go."""
        self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()", name)
        for _ in range(500):
            if not self._admin("SELECT 1 FROM pg_stat_activity WHERE datname = %s", name):
                return
            time.sleep(0.01)
        raise RuntimeError(f"sessions on {name} did not end")

    def _reset(self, name: str) -> None:
        with psycopg.connect(_libpq(name)) as conn:
            if conn.execute(_PG_FINGERPRINT).fetchone()[0] != self.fingerprint:
                raise RuntimeError(f"the test changed the schema of {name}")
            # replica: no foreign-key checks, triggers or rules while emptying and reloading
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("; ".join(f"DELETE FROM ONLY {t}" for t in self.tables))
            for table, (cols, data) in self.rows.items():
                with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.write(data)
            if self.sequences:
                conn.execute("SELECT " + ", ".join("setval(%s, %s, %s)" for _ in self.sequences),
                             [v for seq in self.sequences for v in seq])
            conn.commit()

    def close(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.parked}" WITH (FORCE)')
        self._conn.close()


@pytest.fixture(scope="session")
def pg_databases(pg_template):
    pool = PgDatabases(pg_template)
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cityops.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    pool = request.getfixturevalue("pg_databases")
    name = pool.acquire()
    yield _pg_url(name)
    pool.release(name)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=TEST_SECRET,
                    audit_key=TEST_AUDIT_KEY, jobs_enabled=False, log_json=False)


class _TestAppOverrides:
    """Stands in for the app as `dependency_overrides_provider` of the shared routes: it hands
    FastAPI the overrides of the app the running test built (one test at a time per process)."""

    app = None

    @property
    def dependency_overrides(self) -> dict:
        return self.app.dependency_overrides if self.app is not None else {}


_OVERRIDES = _TestAppOverrides()
_shared_routes: dict[int, tuple] = {}


def _share_routes(app) -> None:
    """FastAPI resolves an included router's routes (dependencies, body and response models)
    lazily per app, on the first request that walks past them: ~0.5 s of CPU for ~90 routers,
    paid again by every test's new app. The resolved routes depend only on the router and how
    it is included, so tests reuse them across apps; the app itself is still new per test."""
    try:
        from fastapi.routing import _IncludedRouter  # FastAPI ≥ 0.16x's lazily resolved includes
    except ImportError:  # another FastAPI: nothing resolved lazily to share, each app as built
        return
    routes = app.router.routes
    for i, route in enumerate(routes):
        if not isinstance(route, _IncludedRouter):
            continue
        context = dataclasses.replace(route.include_context, dependency_overrides_provider=_OVERRIDES)
        cached = _shared_routes.get(id(route.original_router))
        if cached is None or cached[0] is not route.original_router or cached[1].include_context != context:
            cached = (route.original_router, _IncludedRouter(original_router=route.original_router,
                                                              include_context=context))
            _shared_routes[id(route.original_router)] = cached
        routes[i] = cached[1]
    _OVERRIDES.app = app


def build_app(settings):
    """A new app on the test's database (already migrated and seeded: prepare_database ran on
    the template; doing it again per test costs ~0.1 s × thousands of tests)."""
    app = create_app(settings, start_jobs=False, migrate=False)
    _share_routes(app)
    return app


@pytest.fixture
def app(settings):
    app = build_app(settings)
    yield app
    _OVERRIDES.app = None
    # Close the pool's connections now: left to the garbage collector, a worker running a
    # thousand tests holds over 1,024 descriptors and select()-based clients (paho) fail.
    app.state.ctx.db.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(app) -> Database:
    return app.state.ctx.db


@pytest.fixture
def make_user(db):
    """make_user(role, street_code=None, username=None) → the created user's name."""
    from cityops.auth import service

    def make(role: str, street_code: str | None = None, username: str | None = None, **extra) -> str:
        username = username or f"{role}{next(_counter)}"
        with db.session() as s:
            service.create_user(s, username=username, role=role, password=PASSWORD, street_code=street_code, **extra)
        return username

    return make


@pytest.fixture
def auth_headers(client, make_user):
    """auth_headers(role, street_code=None) → {'Authorization': 'Bearer …'} for a new user of that role."""

    def headers(role: str, street_code: str | None = None, **extra) -> dict[str, str]:
        username = make_user(role, street_code, **extra)
        r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return headers


@pytest.fixture
def live_server(app):
    """The test app served by a real uvicorn on a free loopback port."""
    with serve_app(app, name="test-server") as url:
        yield url


# -- headless Chromium (Playwright) for the console tests, one instance per test process --
CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI and is missing at {CHROMIUM}")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (outside CI)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    p = ctx.new_page()
    p.console_errors = []
    p.external_requests = []
    p.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
         else p.external_requests.append(r.url))
    p.on("console", lambda m: p.console_errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: p.console_errors.append(str(e)))
    yield p
    ctx.close()


@pytest.fixture(autouse=True)
def _hide_playwright_loop(request):
    """Playwright's sync API keeps its event loop marked as running in the main thread for the
    rest of the worker's session; tests that run their own loop (`asyncio.run`: the SIP agent,
    the gateway simulator) would fail after any browser test. Hide it from non-browser tests."""
    if "page" in request.fixturenames or "browser" in request.fixturenames:
        yield
        return
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Argon2id at its production cost takes ~0.2 s per hash and per login; a thousand tests log
    in. Tests use the same algorithm at minimal cost (processes started by tests keep the real one)."""
    from argon2 import PasswordHasher

    from cityops.auth import passwords

    real = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = real


def pytest_collection_modifyitems(config, items):
    """Browser tests drive the console on SQLite only: what a page shows from PostgreSQL is
    covered by the HTTP-level page and API tests, which run on both databases, and a browser
    test costs seconds."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("db_url") == "postgresql"
        (drop if on_pg and "page" in getattr(item, "fixturenames", ()) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
