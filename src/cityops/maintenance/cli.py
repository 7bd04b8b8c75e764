"""`cityops maintenance …` (OPS-2, SVC-2): compile the half-year maintenance log to PDF or DOCX,
seed the default maintenance plans, generate due tasks now."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from cityops.core.errors import Problem


def _db():
    from cityops.core.context import AppContext
    from cityops.core.settings import get_settings

    return AppContext.build(get_settings()).db


@click.group()
def maintenance() -> None:
    """Maintenance plans and the maintenance log (OPS-2, SVC-2)."""


@maintenance.command("compile-log")
@click.option("--year", type=int, required=True, help="calendar year, or the year the service period starts")
@click.option("--half", type=click.IntRange(1, 2), required=True, help="1 = first half, 2 = second half")
@click.option("--period", type=click.Choice(["calendar", "service"]), default="calendar", show_default=True,
              help="calendar: Jan–Jun / Jul–Dec; service: May–Oct / Nov–Apr of the service year")
@click.option("--format", "fmt", type=click.Choice(["pdf", "docx"]), default="pdf", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
def compile_log(year: int, half: int, period: str, fmt: str, output: str) -> None:
    """Write the half-year compiled maintenance log (装订成册) and print one JSON line."""
    from cityops.maintenance import halfyear

    started = time.perf_counter()
    try:
        with _db().session() as s:
            body = halfyear.render(s, year=year, half=half, fmt=fmt, period=period)
    except Problem as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    Path(output).write_bytes(body)
    click.echo(json.dumps({"file": output, "format": fmt, "bytes": len(body),
                           "seconds": round(time.perf_counter() - started, 2)}, ensure_ascii=False))


@maintenance.command("seed-plans")
def seed_plans() -> None:
    """Add the default maintenance plans that are missing (idempotent)."""
    from cityops.maintenance import plans

    with _db().session() as s:
        click.echo(json.dumps({"added": plans.seed_plans(s)}))


@maintenance.command("generate")
def generate() -> None:
    """Create the tasks of due plan slots now (what the job does every 5 minutes)."""
    from cityops.core.timeutil import utcnow
    from cityops.maintenance import tasks

    with _db().session() as s:
        click.echo(json.dumps({"created": tasks.generate(s, now=utcnow())}))


if __name__ == "__main__":
    maintenance()
