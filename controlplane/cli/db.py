"""`controlplane db`: the database schema."""

from __future__ import annotations

import click

from controlplane.cli.common import handles_errors


@click.group("db")
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Create the database if needed, run migrations, create Kamailio's standard tables."""
    from controlplane.migrate import upgrade
    from controlplane.settings import get_settings

    upgrade()
    click.echo(f"database at head: {get_settings().database_url.rsplit('@', 1)[-1]}")
