"""`postgres` probe: connect with psycopg and run one query (OPS-1)."""

from __future__ import annotations

import time
from typing import Any

from cityops.inspections.probes import ProbeResult, elapsed_ms, sql, split_host_port

LABEL = "PostgreSQL 数据库"
OPTIONS = sql.options("postgres")


def validate_target(target: str, opts: dict[str, Any]) -> None:
    split_host_port(target, 5432)


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    import psycopg

    host, port = split_host_port(target, 5432)
    start = time.monotonic()
    try:
        with psycopg.connect(host=host, port=port, dbname=opts["database"] or opts["user"], user=opts["user"],
                             password=opts["password"] or None, connect_timeout=max(1, round(timeout_s)),
                             options=f"-c statement_timeout={int(timeout_s * 1000)}", autocommit=True) as conn:
            row = conn.execute(opts["query"]).fetchone()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return ProbeResult(False, elapsed_ms(start), f"PostgreSQL {host}:{port} 失败（{reason}）")
    return sql.judge(row[0] if row else None, opts, elapsed_ms(start), "PostgreSQL")
