"""Shared by the `postgres` and `mysql` probes: run one query, compare the first value."""

from __future__ import annotations

from typing import Any

from cityops.inspections.probes import Opt, ProbeResult


def options(default_user: str) -> tuple[Opt, ...]:
    return (Opt("database", "数据库名", default=""), Opt("user", "用户名", default=default_user),
            Opt("password", "密码", default="", secret=True),
            Opt("query", "查询语句", default="select 1"), Opt("expect", "第一行第一列的期望值", default=""))


def judge(first: Any, opts: dict[str, Any], latency: float, name: str) -> ProbeResult:
    value = None if first is None else str(first)
    data = {"value": value}
    if opts["expect"] and value != opts["expect"]:
        return ProbeResult(False, latency, f"{name} 查询结果 {value!r}，期望 {opts['expect']!r}", data)
    return ProbeResult(True, latency, f"{name} 查询正常（{value}），{latency:.0f} ms", data)
