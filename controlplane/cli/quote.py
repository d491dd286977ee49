"""`controlplane quote`: a dry run of rating and routing."""

from __future__ import annotations

import json

import click

from controlplane.cli.common import _session, handles_errors
from controlplane.services.scope import Scope


@click.command("quote")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--number", required=True)
@click.option("--billsec", type=click.IntRange(min=0), required=True)
@click.option("--account", help="SIP account username (its deck and trunk overrides apply).")
@handles_errors
def quote(tenant_name: str, number: str, billsec: int, account: str | None) -> None:
    """Dry run of rating and routing for a call: one JSON object on stdout."""
    from controlplane.services import accounts
    from controlplane.services.pricing import quote as make_quote
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        acct = accounts.by_username(s, Scope.operator(), t, account) if account else None
        q = make_quote(s, t, number, billsec, acct)
        click.echo(json.dumps(q.as_dict(), indent=2))
