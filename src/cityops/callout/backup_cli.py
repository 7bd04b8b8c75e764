"""Placeholder: `cityops callout backup|restore` (CALL-2), replaced by its owner in issue #6."""

import click


@click.command("backup")
def backup() -> None:
    """Not yet available."""
    raise click.ClickException("not yet available")


@click.command("restore")
def restore() -> None:
    """Not yet available."""
    raise click.ClickException("not yet available")
