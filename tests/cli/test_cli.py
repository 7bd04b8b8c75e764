"""The `cityops` command line, run as a real process (interface contract)."""

import json
import os
import subprocess
import sys

from sqlalchemy import update

from cityops.audit.models import AuditEntry
from tests.conftest import TEST_AUDIT_KEY, TEST_SECRET


def run(settings, *args, stdin: str = "", check: bool = False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATABASE_URL=settings.database_url, CITYOPS_VAR_DIR=str(settings.var_dir),
               CITYOPS_AUDIT_KEY=TEST_AUDIT_KEY, CITYOPS_SECRET_KEY=TEST_SECRET, CITYOPS_LOG_JSON="false")
    p = subprocess.run([sys.executable, "-m", "cityops.cli.main", *args], input=stdin, capture_output=True,
                       text=True, env=env, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_db_upgrade_reports_revision(settings):
    out = json.loads(run(settings, "db", "upgrade", check=True).stdout.strip().splitlines()[-1])
    assert out["revision"] and out["database"] in ("sqlite", "postgresql")


def test_user_create_with_password_stdin_then_login(settings, client):
    p = run(settings, "user", "create", "ops1", "--role", "duty", "--password-stdin", stdin="Duty-pass-2026\n",
            check=True)
    assert json.loads(p.stdout)["role"] == "duty"
    r = client.post("/api/v1/auth/token", data={"username": "ops1", "password": "Duty-pass-2026"})
    assert r.status_code == 200
    again = run(settings, "user", "create", "ops1", "--role", "duty", "--password-stdin", stdin="Duty-pass-2026\n")
    assert again.returncode == 2 and "已存在" in again.stderr
    weak = run(settings, "user", "create", "ops2", "--role", "duty", "--password-stdin", stdin="123\n")
    assert weak.returncode == 2 and "至少" in weak.stderr
    street = run(settings, "user", "create", "st1", "--role", "street", "--street", "310105009", "--password-stdin",
                 stdin="Street-pass-2026\n", check=True)
    assert json.loads(street.stdout)["street_code"] == "310105009"


def test_audit_verify_exit_codes(settings, db):
    run(settings, "user", "create", "ops3", "--role", "auditor", "--password-stdin", stdin="Audit-pass-2026\n",
        check=True)
    ok = run(settings, "audit", "verify")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    with db.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="someone-else"))
    bad = run(settings, "audit", "verify")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_broken_seq"] == 3


def test_geo_locate_and_import_errors(settings, tmp_path):
    loc = json.loads(run(settings, "geo", "locate", "121.352", "31.215", check=True).stdout)
    assert loc["street_code"] == "310105102"
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    p = run(settings, "geo", "import-streets", str(bad))
    assert p.returncode == 2 and "cannot read GeoJSON" in p.stderr


def test_bench_geo_prints_json_last_line(settings):
    p = run(settings, "bench", "geo", "--lookups", "3000", check=True)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["bench"] == "geo" and out["lookups"] == 3000 and out["lookups_per_s"] > 0


def test_bench_ingest_http_prints_json_last_line(settings):
    """IOT-2: the HTTP push benchmark counts only what was durably stored."""
    database = "postgresql" if settings.database_url.startswith("postgresql") else "sqlite"
    p = run(settings, "bench", "ingest-http", "--database", database, "--messages", "300", "--concurrency", "4",
            "--devices", "50", check=True)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["bench"] == "ingest-http" and out["database"] == database
    assert out["accepted"] == 300 and out["stored"] == 300 and out["durable"] is True
    assert out["rate_msgs_per_s"] > 0 and out["p99_ms"] > 0
