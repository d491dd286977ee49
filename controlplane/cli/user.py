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


@user.command("api-key")
@click.option("--email", required=True, help="the user the key acts as (its role and tenant decide what it sees)")
@click.option("--scope", "scopes", multiple=True, required=True, help="a grant: cdrs:read, tenants:write, * ...")
@click.option("--name", default="", help="what the key is for")
@click.option("--days", type=click.IntRange(min=1), default=None, help="expire after this many days")
@click.option("--from", "allowed_ips", multiple=True, help="an address or network the key may be used from")
@handles_errors
def user_api_key(email: str, scopes: tuple[str, ...], name: str, days: int | None,
                 allowed_ips: tuple[str, ...]) -> None:
    """Issue a REST API key for a user; the key is printed this once (only its hash is kept)."""
    import datetime as dt

    from sqlalchemy import select

    from controlplane.errors import NotFound
    from controlplane.models import User
    from controlplane.models.base import utcnow
    from controlplane.services import api_keys
    from controlplane.services.scope import Scope

    with _session() as s:
        owner = s.scalar(select(User).where(User.email == email))
        if owner is None:
            raise NotFound(f"user {email!r} not found")
        issued = api_keys.issue(s, Scope.operator(), owner, list(scopes), name=name,
                                expires_at=utcnow() + dt.timedelta(days=days) if days else None,
                                allowed_ips=" ".join(allowed_ips))
        click.echo(f"API key {issued.key.id} for {email} ({issued.key.scopes}): {issued.token}")
