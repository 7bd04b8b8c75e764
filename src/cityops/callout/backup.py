"""Backup and verified restore of the outbound-call data (CALL-2).

A backup is one zip file: `manifest.json` plus `tables/<table>.jsonl` for every `callout_*`
table of `Base.metadata` (discovered by prefix at run time, so new tables are included). Each
line is one row in a canonical form — a JSON object with sorted keys, rows ordered by primary
key, instants as UTC ISO 8601 with offset, dates ISO — so the same data gives the same bytes on
SQLite and PostgreSQL. The manifest holds each table's columns, row count and the SHA-256 of its
file. The snapshot is read in one transaction (REPEATABLE READ on PostgreSQL).

Restore checks every table file against the manifest before it writes anything (a damaged or
tampered file is refused), refuses non-empty callout tables unless `replace`, inserts in
foreign-key order in one transaction, moves PostgreSQL sequences past the restored ids, then
re-reads every table from the database, recomputes counts and checksums and compares them with
the manifest; on a mismatch the transaction is rolled back."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, text

import cityops.core.models  # noqa: F401  (every model on Base.metadata)
from cityops.core.db import Base, Database, UTCDateTime
from cityops.core.errors import Conflict, Invalid

PREFIX = "callout_"
FORMAT = "cityops-callout-backup"
VERSION = 1
INSERT_CHUNK = 1000


class DamagedBackup(Invalid):
    """The file is not a readable backup, or a table does not match its manifest."""


def tables() -> list[Table]:
    """The callout tables in foreign-key order (parents first)."""
    return [t for t in Base.metadata.sorted_tables if t.name.startswith(PREFIX)]


def _canon(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _line(row: dict[str, Any]) -> bytes:
    return (json.dumps({k: _canon(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False,
                       separators=(",", ":")) + "\n").encode("utf-8")


def _rows(conn: Connection, table: Table, columns: list[str]) -> Iterator[bytes]:
    q = select(*(table.c[c] for c in columns)).order_by(*table.primary_key.columns)
    for row in conn.execution_options(yield_per=2000).execute(q).mappings():
        yield _line(dict(row))


def _digest(lines) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    for line in lines:
        h.update(line)
        n += 1
    return n, h.hexdigest()


def _snapshot(db: Database) -> Connection:
    """A connection in one read transaction: REPEATABLE READ on PostgreSQL; on SQLite an explicit
    BEGIN (pysqlite would not begin before a SELECT, and each SELECT would see its own state)."""
    if db.is_postgres:
        conn = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
        return conn
    conn = db.engine.connect()
    conn.exec_driver_sql("BEGIN")
    return conn


def backup(db: Database, out: Path | str) -> dict[str, Any]:
    """Write every callout table into the zip file `out`; returns the manifest."""
    out = Path(out)
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "database": db.engine.dialect.name,
                                "created_at": datetime.now(UTC).isoformat(), "tables": {}}
    tmp = out.with_name(out.name + ".part")
    conn = _snapshot(db)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for table in tables():
                columns = [c.name for c in table.columns]
                h, n = hashlib.sha256(), 0
                with zf.open(f"tables/{table.name}.jsonl", "w", force_zip64=True) as f:
                    for line in _rows(conn, table, columns):
                        f.write(line)
                        h.update(line)
                        n += 1
                manifest["tables"][table.name] = {"columns": columns, "rows": n, "sha256": h.hexdigest()}
            zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    finally:
        conn.rollback()
        conn.close()
    tmp.replace(out)  # a half-written file never carries the final name
    return manifest


# -- restore ----------------------------------------------------------------------------------
def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError:
        raise DamagedBackup("备份文件缺少 manifest.json") from None
    except ValueError:
        raise DamagedBackup("manifest.json 不是有效的 JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DamagedBackup("不是本系统的外呼数据备份（格式或版本不符）")
    if not isinstance(manifest.get("tables"), dict):
        raise DamagedBackup("manifest.json 缺少表清单")
    return manifest


def check_file(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every table file is present and matches the manifest's row count and SHA-256."""
    known = {t.name: t for t in tables()}
    for name, meta in manifest["tables"].items():
        if name not in known:
            raise DamagedBackup(f"备份中的表 {name} 在当前数据库结构中不存在")
        missing = set(meta.get("columns", [])) - set(known[name].columns.keys())
        if missing:
            raise DamagedBackup(f"表 {name} 的列 {', '.join(sorted(missing))} 在当前数据库结构中不存在")
        try:
            with zf.open(f"tables/{name}.jsonl") as f:
                n, digest = _digest(f)
        except KeyError:
            raise DamagedBackup(f"备份文件缺少表 {name} 的数据") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise DamagedBackup(f"表 {name} 的数据已损坏：{exc}") from None
        if n != meta.get("rows") or digest != meta.get("sha256"):
            raise DamagedBackup(f"表 {name} 的数据与清单不符（行数 {n}/{meta.get('rows')}，校验和不一致）"
                                "：备份文件已损坏或被篡改")


def _decoder(table: Table, columns: list[str]):
    kinds = {}
    for c in columns:
        t = table.c[c].type
        if isinstance(t, UTCDateTime):
            kinds[c] = datetime.fromisoformat
        elif type(t).__name__ == "Date":
            kinds[c] = date.fromisoformat

    def decode(line: bytes) -> dict[str, Any]:
        row = json.loads(line)
        for c, fn in kinds.items():
            if row.get(c) is not None:
                row[c] = fn(row[c])
        return row

    return decode


def _count(conn: Connection, table: Table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _reset_sequences(conn: Connection, restored: list[Table]) -> None:
    for table in restored:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].type.python_type is not int:
            continue
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}).scalar()
        if seq:
            conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 1), "
                              f"(SELECT MAX({pk[0].name}) FROM {table.name}) IS NOT NULL)"), {"s": seq})


def _rebuild_missing_rollups(conn: Connection, manifest: dict[str, Any]) -> bool:
    """A backup without the statistics rollups (older than them) gets them recomputed from the
    restored records, in the restore's transaction."""
    from sqlalchemy.orm import Session

    from cityops.callout import stats

    if {"callout_stats_daily", "callout_stats_monthly"} <= set(manifest["tables"]):
        return False
    with Session(bind=conn) as session:  # joins the restore's transaction; never commits it
        stats.rebuild(session)
        session.flush()
    return True


def verify(conn: Connection, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Recompute each table's row count and checksum from the database; the differences."""
    known = {t.name: t for t in tables()}
    out = []
    for name, meta in manifest["tables"].items():
        n, digest = _digest(_rows(conn, known[name], meta["columns"]))
        if n != meta["rows"] or digest != meta["sha256"]:
            out.append({"table": name, "rows": n, "expected_rows": meta["rows"], "checksum_ok": digest == meta["sha256"]})
    return out


def restore(db: Database, path: Path | str, *, replace: bool = False) -> dict[str, Any]:
    """Restore a backup into the callout tables and verify it (CALL-2). Raises DamagedBackup for a
    damaged file and Conflict for non-empty tables without `replace`; returns
    {tables, rows, verified, mismatches} — on a mismatch nothing stays written."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DamagedBackup(f"无法读取备份文件：{exc}") from None
    with zf:
        manifest = read_manifest(zf)
        check_file(zf, manifest)
        order = [t for t in tables() if t.name in manifest["tables"]]
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock for the whole restore
            trans = conn.get_transaction() or conn.begin()
            try:
                full = [t.name for t in tables() if _count(conn, t)]
                if full and not replace:
                    raise Conflict(f"外呼数据表不为空（{', '.join(full)}）；如需覆盖请使用 --replace")
                for table in reversed(tables()):
                    conn.execute(delete(table))
                rows = 0
                for table in order:
                    meta = manifest["tables"][table.name]
                    decode = _decoder(table, meta["columns"])
                    with zf.open(f"tables/{table.name}.jsonl") as f:
                        batch = []
                        for line in f:
                            batch.append(decode(line))
                            if len(batch) >= INSERT_CHUNK:
                                conn.execute(insert(table), batch)
                                rows += len(batch)
                                batch = []
                        if batch:
                            conn.execute(insert(table), batch)
                            rows += len(batch)
                if conn.dialect.name == "postgresql":
                    _reset_sequences(conn, order)
                rebuilt = _rebuild_missing_rollups(conn, manifest)
                mismatches = verify(conn, manifest)
                if mismatches:
                    trans.rollback()
                else:
                    trans.commit()
            except BaseException:
                if trans.is_active:
                    trans.rollback()
                raise
    return {"file": str(path), "tables": len(order), "rows": rows, "verified": not mismatches,
            "mismatches": mismatches, "replaced": bool(full), "rollups_rebuilt": rebuilt,
            "source_database": manifest.get("database"),
            "created_at": manifest.get("created_at")}


def summary(manifest: dict[str, Any], out: Path | str) -> dict[str, Any]:
    """The backup command's JSON line."""
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"file": str(out), "bytes": Path(out).stat().st_size, "sha256": h.hexdigest(),
            "tables": len(manifest["tables"]), "rows": sum(m["rows"] for m in manifest["tables"].values()),
            "created_at": manifest["created_at"], "per_table": {k: m["rows"] for k, m in manifest["tables"].items()}}

