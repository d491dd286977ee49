"""`controlplane did`: inbound numbers."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, handles_errors
from controlplane.services.scope import Scope


@click.group("did")
def did() -> None:
    """Inbound numbers."""


@did.command("add")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--number", required=True, help="E.164, e.g. +493055500001")
@click.option("--to-account", help="SIP account username that rings.")
@handles_errors
def did_add(tenant_name: str, number: str, to_account: str | None) -> None:
    from controlplane.services.dids import add_did
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        d = add_did(s, Scope.operator(), t, number, to_account=to_account)
        click.echo(f"DID {d.number} -> {t.name}{' / ' + to_account if to_account else ''}")
