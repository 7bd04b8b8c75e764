"""`mysql` probe: connect with PyMySQL and run one query (OPS-1)."""

from __future__ import annotations

import time
from typing import Any

from cityops.inspections.probes import ProbeResult, elapsed_ms, sql, split_host_port

LABEL = "MySQL/MariaDB 数据库"
OPTIONS = sql.options("root")


def validate_target(target: str, opts: dict[str, Any]) -> None:
    split_host_port(target, 3306)


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    import pymysql

    host, port = split_host_port(target, 3306)
    start = time.monotonic()
    try:
        conn = pymysql.connect(host=host, port=port, user=opts["user"], password=opts["password"],
                               database=opts["database"] or None, connect_timeout=timeout_s,
                               read_timeout=timeout_s, write_timeout=timeout_s)
        try:
            with conn.cursor() as cur:
                cur.execute(opts["query"])
                row = cur.fetchone()
        finally:
            conn.close()
    except (pymysql.Error, OSError) as exc:
        args = getattr(exc, "args", ())
        reason = args[1] if len(args) > 1 else str(exc)
        return ProbeResult(False, elapsed_ms(start), f"MySQL {host}:{port} 失败（{str(reason)[:200]}）")
    return sql.judge(row[0] if row else None, opts, elapsed_ms(start), "MySQL")
