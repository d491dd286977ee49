"""`controlplane carrier`: upstream trunks."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, _sync_edge, handles_errors
from controlplane.services.scope import Scope


@click.group("carrier")
def carrier() -> None:
    """Carriers (upstream trunks)."""


@carrier.command("create")
@click.option("--name", required=True)
@click.option("--host", required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5060, show_default=True)
@click.option("--transport", type=click.Choice(["udp", "tcp", "tls"]), default="udp", show_default=True)
@click.option("--buy-deck")
@click.option("--priority", type=int, default=10, show_default=True, help="Lower is tried first on equal cost.")
@click.option("--max-channels", type=click.IntRange(min=0))
@click.option("--strip", "strip_prefix", default="", help="Prefix removed before sending.")
@click.option("--add", "add_prefix", default="", help="Prefix added before sending.")
@click.option("--default", "is_default", is_flag=True, help="Trunk of last resort.")
@click.option("--username", help="Our account at the carrier: answers its challenges to our calls.")
@click.option("--password")
@click.option("--register", is_flag=True, help="Also register to the carrier with these credentials.")
@handles_errors
def carrier_create(name: str, host: str, port: int, transport: str, buy_deck: str | None, priority: int,
                   max_channels: int | None, strip_prefix: str, add_prefix: str, is_default: bool,
                   username: str | None, password: str | None, register: bool) -> None:
    from controlplane.services.carriers import create_carrier

    with _session() as s:
        c = create_carrier(s, Scope.operator(), name=name, host=host, port=port, transport=transport, buy_deck=buy_deck,
                           priority=priority, max_channels=max_channels, strip_prefix=strip_prefix,
                           add_prefix=add_prefix, is_default=is_default, username=username, password=password,
                           register=register)
        click.echo(f"created carrier {c.name!r} (id {c.id}) -> {host}:{port}/{transport}")
    _sync_edge()  # Kamailio relays legs only to the trunks and takes calls only from the carriers it knows
