"""`controlplane tenant`: resellers and clients."""

from __future__ import annotations

from decimal import Decimal

import click

from controlplane.cli.common import _decimal, _session, _sync_edge, handles_errors
from controlplane.services.scope import Scope


@click.group("tenant")
def tenant() -> None:
    """Tenants: resellers and clients."""


@tenant.command("create")
@click.option("--name", required=True)
@click.option("--realm", help="SIP realm (domain); required for a client.")
@click.option("--parent", help="Parent reseller (default: the operator).")
@click.option("--plan")
@click.option("--currency", default="USD", show_default=True)
@click.option("--reseller", is_flag=True, help="Create a reseller instead of a client.")
@click.option("--margin", callback=_decimal, help="Reseller margin %% on what its tenants pay.")
@click.option("--postpaid", is_flag=True)
@click.option("--credit-limit", callback=_decimal)
@click.option("--country-code", help="Country code for number normalization, e.g. 49.")
@handles_errors
def tenant_create(name: str, realm: str | None, parent: str | None, plan: str | None, currency: str,
                  reseller: bool, margin: Decimal | None, postpaid: bool, credit_limit: Decimal | None,
                  country_code: str | None) -> None:
    from controlplane.models import TenantKind
    from controlplane.services.tenants import create_tenant, ensure_operator

    with _session() as s:
        ensure_operator(s)
        t = create_tenant(
            s, Scope.operator(), name=name, realm=realm, parent=parent, plan=plan, currency=currency,
            kind=TenantKind.RESELLER if reseller else TenantKind.CLIENT, postpaid=postpaid,
            credit_limit=credit_limit, margin_pct=margin, country_code=country_code,
        )
        click.echo(f"created {t.kind.value} {t.name!r} (id {t.id}{', realm ' + t.realm if t.realm else ''})")
    _sync_edge()  # its realm (Kamailio's domain table)
