"""Shared fixtures. Every test that takes `db_url` (directly or through `app`/`client`)
runs twice: on SQLite and on PostgreSQL. Each test gets its own database cloned from a
migrated, seeded template, so tests never see each other's rows.

PostgreSQL is required in CI (CI=true): there a missing server fails the run; elsewhere
the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cityops.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cityops_t_{os.getpid()}_{next(_counter)}"
    engine = _pg_admin()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=TEST_SECRET,
                    audit_key=TEST_AUDIT_KEY, jobs_enabled=False, log_json=False)


@pytest.fixture
def app(settings):
    # The database is a copy of a template that prepare_database already migrated and seeded;
    # doing it again per test costs ~0.1 s × thousands of tests (the bootstrap has its own tests).
    app = create_app(settings, start_jobs=False, migrate=False)
    yield app
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
