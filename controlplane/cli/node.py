"""`controlplane node`: media nodes (Kamailio's dispatcher set, the controller's ESL addresses)."""

from __future__ import annotations

import json
from typing import Any

import click

from controlplane.cli.common import _session, _sync_edge, handles_errors
from controlplane.services.scope import Scope


@click.group("node")
def node() -> None:
    """Media nodes: Kamailio's dispatcher set and the controller's ESL addresses."""


def _node_dict(n: Any) -> dict[str, Any]:  # noqa: ANN401 - a MediaNode, imported lazily
    from controlplane.services.nodes import address_of

    esl = address_of(n)
    return {"name": n.name, "status": n.status.value, "sip": f"{n.host}:{n.port}", "transport": n.transport,
            "weight": n.weight, "esl": f"{esl.host}:{esl.port}", "esl_password_set": n.esl_password is not None}


@node.command("add")
@click.option("--name", required=True, help="The node's switchname (`freeswitch render --node-name`).")
@click.option("--sip", required=True, help="HOST[:PORT] Kamailio sends calls to (port 5060 by default).")
@click.option("--transport", type=click.Choice(["udp", "tcp"]), default="udp", show_default=True)
@click.option("--esl", help="HOST[:PORT] of its inbound event socket (default: the SIP host, port 8021).")
@click.option("--esl-password", help="Event socket password (default: FreeSWITCH's ClueCon).")
@click.option("--weight", type=int, default=50, show_default=True, help="Dispatcher weight, 1 to 100.")
@handles_errors
def node_add(name: str, sip: str, transport: str, esl: str | None, esl_password: str | None, weight: int) -> None:
    """Register a FreeSWITCH node and put it in Kamailio's dispatcher set."""
    from controlplane.services.nodes import add_node

    with _session() as s:
        n = add_node(s, Scope.operator(), name=name, sip=sip, transport=transport, esl=esl, esl_password=esl_password,
                     weight=weight)
        shown = _node_dict(n)
    click.echo(f"added media node {name!r} (id {n.id}): sip {shown['sip']}/{transport}, esl {shown['esl']}, "
               f"weight {weight}")
    _sync_edge()


@node.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@handles_errors
def node_list(as_json: bool) -> None:
    """Registered media nodes (ESL passwords are never shown)."""
    from controlplane.services.nodes import list_nodes

    with _session() as s:
        rows = [_node_dict(n) for n in list_nodes(s)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("NAME", "STATUS", "SIP", "TRANSPORT", "WEIGHT", "ESL")
    table = [header] + [(r["name"], r["status"], r["sip"], r["transport"], str(r["weight"]), r["esl"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"{len(rows)} media node(s)" + ("" if rows else "; CP_FS_NODES gives the ESL addresses"))


def _set_node_status(name: str, active: bool) -> None:
    from controlplane.models import Status
    from controlplane.services.nodes import set_status

    with _session() as s:
        _, changed = set_status(s, Scope.operator(), name, Status.ACTIVE if active else Status.DISABLED)
    word = "enabled" if active else "disabled"
    click.echo(f"media node {name!r} {word}" if changed else f"media node {name!r} was {word} already")
    _sync_edge()


@node.command("disable")
@click.argument("name")
@handles_errors
def node_disable(name: str) -> None:
    """Take NAME out of the dispatcher: no new calls; calls on it run to their end."""
    _set_node_status(name, active=False)


@node.command("enable")
@click.argument("name")
@handles_errors
def node_enable(name: str) -> None:
    """Put NAME back in the dispatcher set."""
    _set_node_status(name, active=True)
