"""`controlplane user`: portal users."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, handles_errors


@click.group("user")
def user() -> None:
    """Portal users."""


@user.command("ensure-admin")
@click.option("--email", default="admin@localhost", show_default=True)
@handles_errors
def user_ensure_admin(email: str) -> None:
    """Create the first SUPERADMIN if there is none (its password is printed once)."""
    from controlplane.services.users import ensure_admin

    with _session() as s:
        admin, password = ensure_admin(s, email)
        if password:
            click.echo(f"created admin {admin.email} with password: {password}")
        else:
            click.echo(f"admin exists: {admin.email}")
