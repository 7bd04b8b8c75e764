"""`cityops maintenance compile-log|seed-plans|generate` (SVC-2, OPS-2), run as a real process
through the group's own entry point (the lead wires the group into `cityops`)."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from cityops.maintenance.log import add_entry
from tests.conftest import TEST_AUDIT_KEY, TEST_SECRET


def run(settings, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATABASE_URL=settings.database_url, CITYOPS_VAR_DIR=str(settings.var_dir),
               CITYOPS_AUDIT_KEY=TEST_AUDIT_KEY, CITYOPS_SECRET_KEY=TEST_SECRET, CITYOPS_LOG_JSON="false")
    return subprocess.run([sys.executable, "-m", "cityops.maintenance.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_compile_log_writes_pdf_and_docx(settings, db, tmp_path):
    with db.session() as s:
        add_entry(s, kind="free", summary="核对城区之眼存储容量", author="wang",
                  at=datetime(2026, 8, 3, 2, 0, tzinfo=UTC), system_code="SYS-EYE")
    pdf = tmp_path / "log.pdf"
    p = run(settings, "compile-log", "--year", "2026", "--half", "2", "--format", "pdf", "-o", str(pdf))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["format"] == "pdf" and out["bytes"] == pdf.stat().st_size and pdf.read_bytes()[:5] == b"%PDF-"
    docx = tmp_path / "log.docx"
    p = run(settings, "compile-log", "--year", "2026", "--half", "1", "--period", "service", "--format", "docx",
            "-o", str(docx))
    assert p.returncode == 0, p.stderr
    assert docx.read_bytes()[:2] == b"PK"
    bad = run(settings, "compile-log", "--year", "1900", "--half", "1", "-o", str(tmp_path / "x.pdf"))
    assert bad.returncode == 2 and "年份" in bad.stderr
    assert run(settings, "compile-log", "--year", "2026", "--half", "3", "-o", "x").returncode == 2


def test_seed_plans_and_generate(settings, db):
    p = run(settings, "seed-plans")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"added": 7}
    assert json.loads(run(settings, "seed-plans").stdout.strip().splitlines()[-1]) == {"added": 0}
    g = run(settings, "generate")
    assert g.returncode == 0 and "created" in json.loads(g.stdout.strip().splitlines()[-1])
