"""`controlplane sip-account`: customer SIP accounts and IP-authenticated trunks."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, _sync_edge, handles_errors
from controlplane.services.scope import Scope


@click.group("sip-account")
def sip_account() -> None:
    """Customer SIP accounts."""


@sip_account.command("create")
@click.option("--tenant", "tenant_name", required=True)
@click.option("--username", required=True)
@click.option("--password", help="Omit to have one generated (printed once).")
@click.option("--trunk-ip", help="Make it an IP-authenticated customer trunk from this address.")
@click.option("--caller-id", help="Caller ID number presented on outbound calls.")
@handles_errors
def sip_account_create(tenant_name: str, username: str, password: str | None, trunk_ip: str | None,
                       caller_id: str | None) -> None:
    from controlplane.models import SipAccountKind
    from controlplane.services.accounts import create_sip_account
    from controlplane.services.tenants import by_name

    with _session() as s:
        t = by_name(s, Scope.operator(), tenant_name)
        created = create_sip_account(
            s, Scope.operator(), t, username, password,
            kind=SipAccountKind.TRUNK if trunk_ip else SipAccountKind.ACCOUNT, source_ip=trunk_ip,
            caller_id_number=caller_id,
        )
        click.echo(f"created SIP account {username}@{t.realm} (id {created.account.id})")
        if created.password:
            click.echo(f"password (shown once): {created.password}")
    _sync_edge()  # the subscriber (HA1) or trunk address Kamailio authenticates by
