"""Backup and verified restore of the call data (CALL-2): `cityops callout backup|restore` on the
configured database, SQLite → PostgreSQL and back, refusal of non-empty tables without
--replace, tamper detection and the post-restore verification (rolled back on a mismatch)."""

import json
import os
import shutil
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from cityops.callout import backup as bk
from cityops.callout import stats
from cityops.callout.campaign_models import CallRecord, CallStep, CallTask, Campaign
from cityops.callout.list_models import (
    CallLedger,
    CallList,
    CallListEntry,
    DoNotCall,
    GateLog,
)
from cityops.callout.stats_models import CallStatDaily
from cityops.cli.main import cli
from cityops.core.db import Database
from cityops.core.settings import get_settings
from tests.conftest import TEST_AUDIT_KEY, _counter, _pg_admin, _pg_url

AT = datetime(2026, 3, 1, 1, 2, 3, 456789, tzinfo=UTC)


def seed(db: Database, tag: str = "") -> None:
    """A little of everything: Unicode, NULLs, JSON, booleans, floats, microsecond instants."""
    with db.session() as s:
        cl = CallList(name=f"回访名单{tag}", scenario="hotline_callback", source="12345", consent_basis="来电同意",
                      valid_until=AT + timedelta(days=30), total=2, ok_count=1, invalid_count=1)
        s.add(cl)
        s.flush()
        e1 = CallListEntry(list_id=cl.id, row=2, name="张三", number_e164="+8613912345678", kind="mobile",
                           raw_number="139 1234 5678", extra={"地址": "长宁路1号", "n": [1, 2.5, None]})
        e2 = CallListEntry(list_id=cl.id, row=3, name="李四", number_e164=None, raw_number="4008123123",
                           status="invalid", reason="服务号码")
        s.add_all([e1, e2, DoNotCall(number_e164="+8613800000000", scenario=None, reason="本人要求", source="opt_out")])
        camp = Campaign(name=f"3月回访{tag}", scenario="hotline_callback", list_id=cl.id, state="done",
                        script={"steps": [{"id": "q1", "prompt": "您对处理结果满意吗？"}]}, retry_policy={"busy": 10},
                        counters={"answered": 1}, started_at=AT, finished_at=AT + timedelta(minutes=5))
        s.add(camp)
        s.flush()
        task = CallTask(campaign_id=camp.id, entry_id=e1.id, number_e164="+8613912345678", attempts=1, state="done",
                        last_result="answered", note="")
        s.add(task)
        s.flush()
        for i, (res, sat) in enumerate((("answered", "满意"), ("no_answer", None))):
            rec = CallRecord(task_id=task.id, campaign_id=camp.id, scenario="hotline_callback",
                             number_e164="+8613912345678", started_at=AT + timedelta(minutes=i),
                             answered_at=AT if res == "answered" else None, result=res, sip_code=200 if sat else 480,
                             duration_s=12.345 * (i + 1), satisfaction=sat, outcome="hangup", adapter="sim")
            s.add(rec)
            s.flush()
            s.add(CallStep(record_id=rec.id, seq=0, step="q1", prompt="您对处理结果满意吗？", answer_dtmf="1",
                           matched="满意" if sat else None, at=AT))
            stats.record_call(s, rec)
        s.add_all([CallLedger(number_e164="+8613912345678", scenario="hotline_callback", at=AT, outcome="answered"),
                   GateLog(number="+8613912345678", scenario="hotline_callback", at=AT, allowed=False,
                           rules=["window"], reasons=["不在呼叫时段"])])


def dump(db: Database) -> dict:
    """Every callout table in canonical form (what the checksums cover)."""
    with db.engine.connect() as conn:
        return {t.name: b"".join(bk._rows(conn, t, [c.name for c in t.columns])).decode() for t in bk.tables()}


def counts(db: Database) -> dict:
    with db.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in bk.tables()}


@pytest.fixture
def make_db(request, tmp_path):
    """make_db(kind) → a migrated, empty (callout-wise) Database of that kind."""
    made = []

    def make(kind: str) -> Database:
        if kind == "sqlite":
            path = tmp_path / f"db{next(_counter)}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            db = Database(f"sqlite:///{path}")
        else:
            template = request.getfixturevalue("pg_template")
            name = f"cityops_bk_{os.getpid()}_{next(_counter)}"
            with _pg_admin().connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            db = Database(_pg_url(name))
            db.pg_name = name
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()
        if getattr(db, "pg_name", None):
            with _pg_admin().connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db.pg_name}" WITH (FORCE)'))


@pytest.fixture
def run(monkeypatch, tmp_path):
    """run(db, *args) → (exit code, the JSON printed on stdout or None, stderr) of `cityops callout …`."""
    monkeypatch.setenv("CITYOPS_AUDIT_KEY", TEST_AUDIT_KEY)
    monkeypatch.setenv("CITYOPS_VAR_DIR", str(tmp_path / "var"))

    def invoke(db: Database, *args):
        monkeypatch.setenv("CITYOPS_DATABASE_URL", db.url)
        get_settings.cache_clear()
        out = CliRunner().invoke(cli, ["callout", *args], catch_exceptions=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        return out.exit_code, json.loads(lines[-1]) if lines else None, out.stderr

    yield invoke
    get_settings.cache_clear()


@pytest.mark.parametrize("source,target", [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_backup_restores_across_databases(make_db, run, tmp_path, source, target):
    src, dst = make_db(source), make_db(target)
    seed(src)
    file = tmp_path / "callout.zip"
    code, out, _ = run(src, "backup", "--out", str(file))
    assert code == 0 and out["rows"] == sum(counts(src).values()) and out["tables"] == len(bk.tables())
    with zipfile.ZipFile(file) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert set(manifest["tables"]) == {t.name for t in bk.tables()}  # every callout_* table, discovered
        assert manifest["tables"]["callout_records"]["rows"] == 2 and manifest["database"] == source
    code, out, err = run(dst, "restore", str(file))
    assert code == 0, err
    assert out["verified"] is True and out["mismatches"] == [] and out["rows"] == sum(counts(src).values())
    assert dump(dst) == dump(src)
    # ids continue after the restored ones (PostgreSQL sequences are reset)
    with dst.session() as s:
        rec = CallRecord(scenario="notice", number_e164="+8613900000009", result="busy", adapter="sim")
        s.add(rec)
        s.flush()
        assert rec.id == 3
        assert s.scalar(select(func.sum(CallStatDaily.calls))) == 2


def test_restore_refuses_non_empty_tables_unless_replace(make_db, run, tmp_path):
    src, dst = make_db("sqlite"), make_db("postgresql")
    seed(src)
    seed(dst, tag="（旧）")
    seed(dst, tag="（旧2）")
    file = tmp_path / "b.zip"
    assert run(src, "backup", "--out", str(file))[0] == 0
    before = dump(dst)
    code, out, err = run(dst, "restore", str(file))
    assert code == 2 and "不为空" in err and "--replace" in err
    assert dump(dst) == before
    code, out, err = run(dst, "restore", str(file), "--replace")
    assert code == 0 and out["verified"] is True and out["replaced"] is True
    assert dump(dst) == dump(src)


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, change(item.filename, zin.read(item.filename)))


@pytest.mark.parametrize("damage", ["table", "manifest", "missing", "garbage"])
def test_damaged_or_tampered_files_are_refused(make_db, run, tmp_path, damage):
    src, dst = make_db("sqlite"), make_db("sqlite")
    seed(src)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    assert run(src, "backup", "--out", str(good))[0] == 0
    if damage == "table":  # a satisfaction changed in the records file
        _rewrite(good, bad, lambda n, b: b.replace("满意".encode(), "不满意".encode(), 1)
                 if n == "tables/callout_records.jsonl" else b)
    elif damage == "manifest":  # a row count edited in the manifest
        _rewrite(good, bad, lambda n, b: b.replace(b'"rows": 2', b'"rows": 3') if n == "manifest.json" else b)
    elif damage == "missing":
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.infolist():
                if item.filename != "tables/callout_steps.jsonl":
                    zout.writestr(item.filename, zin.read(item.filename))
    else:
        bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    code, out, err = run(dst, "restore", str(bad))
    assert code == 1 and out["verified"] is False and out["error"]
    expected = {"table": "篡改", "manifest": "篡改", "missing": "缺少", "garbage": "无法读取"}[damage]
    assert expected in out["error"] and expected in err
    assert sum(counts(dst).values()) == 0


def test_verification_mismatch_rolls_back(make_db, run, tmp_path, monkeypatch):
    """If what the database holds after the inserts differs from the manifest, nothing is kept."""
    src, dst = make_db("sqlite"), make_db("postgresql")
    seed(src)
    file = tmp_path / "b.zip"
    assert run(src, "backup", "--out", str(file))[0] == 0
    real = bk._decoder

    def lossy(table, columns):  # a restore that silently drops a value
        decode = real(table, columns)
        return (lambda line: {**decode(line), "reason": ""}) if table.name == "callout_dnc" else decode

    monkeypatch.setattr(bk, "_decoder", lossy)
    code, out, err = run(dst, "restore", str(file))
    assert code == 1 and out["verified"] is False
    assert out["mismatches"] == [{"table": "callout_dnc", "rows": 1, "expected_rows": 1, "checksum_ok": False}]
    assert "回滚" in err and sum(counts(dst).values()) == 0


def test_snapshot_does_not_see_later_commits(db):
    """The backup reads every table from one snapshot (REPEATABLE READ / one SQLite read
    transaction): rows committed while it runs are not half-included."""
    seed(db)
    conn = bk._snapshot(db)
    try:
        n = conn.execute(select(func.count()).select_from(CallRecord)).scalar()
        with db.session() as s:
            s.add(CallRecord(scenario="notice", number_e164="+8613900000009", result="busy", adapter="sim"))
        assert conn.execute(select(func.count()).select_from(CallRecord)).scalar() == n == 2
    finally:
        conn.rollback()
        conn.close()


def test_backup_is_audited_and_written_whole(make_db, run, tmp_path):
    from cityops.audit.models import AuditEntry

    db = make_db("postgresql")
    seed(db)
    code, out, _ = run(db, "backup", "--out", str(tmp_path / "x.zip"))
    assert code == 0 and not (tmp_path / "x.zip.part").exists()
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "backup")).one()
        assert entry.entity == "callout" and entry.after["rows"] == out["rows"]


def test_backup_without_rollups_gets_them_rebuilt(make_db, run, tmp_path):
    """A backup taken before the statistics tables existed: restore recomputes them (CALL-5)."""
    src, dst = make_db("sqlite"), make_db("postgresql")
    seed(src)
    good, old = tmp_path / "good.zip", tmp_path / "old.zip"
    assert run(src, "backup", "--out", str(good))[0] == 0
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(old, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if "callout_stats_" in item.filename:
                continue
            if item.filename == "manifest.json":
                m = json.loads(data)
                m["tables"] = {k: v for k, v in m["tables"].items() if not k.startswith("callout_stats_")}
                data = json.dumps(m).encode()
            zout.writestr(item.filename, data)
    code, out, err = run(dst, "restore", str(old))
    assert code == 0, err
    assert out["verified"] is True and out["rollups_rebuilt"] is True
    def rollups(db, table):  # ids differ: the rebuild inserts in its own order
        return sorted(json.dumps({k: v for k, v in json.loads(ln).items() if k != "id"}, sort_keys=True)
                      for ln in dump(db)[table].splitlines())

    for table in ("callout_stats_daily", "callout_stats_monthly"):
        assert rollups(dst, table) == rollups(src, table) and rollups(src, table)


def test_rebuild_stats_command(db, monkeypatch):
    from cityops.callout.backup_cli import rebuild_stats

    seed(db)
    with db.session() as s:
        s.query(CallStatDaily).delete()
    monkeypatch.setenv("CITYOPS_DATABASE_URL", db.url)
    monkeypatch.setenv("CITYOPS_AUDIT_KEY", TEST_AUDIT_KEY)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(rebuild_stats, [])
        bad = CliRunner().invoke(rebuild_stats, ["--since", "yesterday"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"since": "2026-03-01", "rows": 2, "calls": 2}
    assert bad.exit_code == 2 and "2026-01-01" in bad.output
    with db.session() as s:
        assert s.scalar(select(func.sum(CallStatDaily.calls))) == 2
