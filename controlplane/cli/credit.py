"""`controlplane credit`: balance changes, each one a ledger row."""

from __future__ import annotations

from decimal import Decimal

import click

from controlplane.cli.common import _decimal, _session, handles_errors
from controlplane.services.scope import Scope


@click.group("credit")
def credit() -> None:
    """Balance changes (each one a ledger row)."""


@credit.command("add")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--amount", required=True, callback=_decimal, help="Negative to debit.")
@click.option("--note", required=True, help="Reference note kept in the ledger.")
@handles_errors
def credit_add(tenant_name: str, amount: Decimal, note: str) -> None:
    from controlplane.services.ledger import add_credit
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        entry = add_credit(s, Scope.operator(), t, amount, note)
        click.echo(f"{t.name}: {entry.amount:+} {t.currency}, balance {entry.balance_after} {t.currency}")
