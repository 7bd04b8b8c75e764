"""`cityops probe KIND TARGET [-o k=v …] [--timeout S]` (OPS-1): run one probe now and print one
JSON object {"ok", "latency_ms", "detail", "data"}. Exit 0 when ok, 1 when the target failed,
2 with a message on stderr for an unknown kind or a bad option. `push` reads the database
(the target is the probe's push token); the other kinds need none."""

from __future__ import annotations

import json
import sys

import click

from cityops.core.errors import Problem


def _parse(options: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"选项应写成 k=v，收到 {item!r}")
        out[key.strip()] = value
    return out


def _push(token: str):
    from cityops.cli.main import _context
    from cityops.core.timeutil import utcnow
    from cityops.inspections import probe_service as svc

    ctx = _context()
    with ctx.db.session() as s:
        return svc.record(s, svc.by_push_token(s, token).id,
                          svc.execute(svc.snapshot(svc.by_push_token(s, token)), utcnow()), now=utcnow())


def main(kind: str, target: str, options: tuple[str, ...], timeout: float) -> None:
    from cityops.inspections import probes

    try:
        opts = _parse(options)
        if kind == "push":
            if opts:
                raise click.UsageError("push 探针的选项保存在数据库中，命令行不接受 -o")
            result = _push(target)
        else:
            result = probes.run(kind, target, opts, timeout_s=timeout)
    except (Problem, click.UsageError) as exc:
        message = exc.detail if isinstance(exc, Problem) else exc.message
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    click.echo(json.dumps({"ok": result.ok, "latency_ms": result.latency_ms, "detail": result.detail,
                           "data": result.data}, ensure_ascii=False, default=str))
    sys.exit(0 if result.ok else 1)
