"""`cityops callout backup|restore` (CALL-2) and `rebuild-stats` (CALL-5) on the configured
database (CITYOPS_DATABASE_URL).

Both print one JSON object. restore exits 1 when the file is damaged or the verification finds
a mismatch (nothing is kept then), 2 when the callout tables are not empty and --replace is
not given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _echo(obj: dict) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (zip of JSON Lines per table + manifest.json).")
def backup(out: Path) -> None:
    """Back up every callout_* table into one file, from one consistent snapshot."""
    from cityops.audit import service as audit
    from cityops.audit.context import acting_as
    from cityops.callout import backup as bk
    from cityops.cli.main import _actor, _context

    ctx = _context()
    try:
        manifest = bk.backup(ctx.db, out)
        result = bk.summary(manifest, out)
        with acting_as(_actor()), ctx.db.session() as s:
            audit.record(s, "backup", "callout", str(out), after={"file": str(out), "sha256": result["sha256"],
                                                                  "rows": result["rows"]})
    finally:
        ctx.db.dispose()
    _echo(result)


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the data of non-empty callout tables.")
def restore(file: Path, replace: bool) -> None:
    """Restore a backup into the callout tables and verify counts and checksums."""
    from cityops.audit import service as audit
    from cityops.audit.context import acting_as
    from cityops.callout import backup as bk
    from cityops.cli.main import _actor, _context
    from cityops.core import migrate
    from cityops.core.errors import Conflict

    ctx = _context()
    try:
        migrate.upgrade(ctx.db)
        try:
            result = bk.restore(ctx.db, file, replace=replace)
        except bk.DamagedBackup as exc:
            _echo({"file": str(file), "verified": False, "error": exc.detail})
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)
        except Conflict as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(2)
        if result["verified"]:
            with acting_as(_actor()), ctx.db.session() as s:
                audit.record(s, "restore", "callout", str(file),
                             after={"file": str(file), "rows": result["rows"], "replaced": result["replaced"]})
    finally:
        ctx.db.dispose()
    _echo(result)
    if not result["verified"]:
        click.echo("error: 恢复后校验不一致，已回滚", err=True)
        sys.exit(1)


@click.command("rebuild-stats")
@click.option("--since", default=None, help="First Beijing date to recompute (YYYY-MM-DD); default: the oldest record's.")
def rebuild_stats(since: str | None) -> None:
    """Recompute the call-statistics rollups from the call records (repair)."""
    from datetime import date

    from cityops.callout import stats
    from cityops.cli.main import _context

    try:
        first = date.fromisoformat(since) if since else None
    except ValueError:
        raise click.BadParameter("since is a date such as 2026-01-01") from None
    ctx = _context()
    try:
        with ctx.db.session() as s:
            result = stats.rebuild(s, since=first)
    finally:
        ctx.db.dispose()
    _echo(result)
