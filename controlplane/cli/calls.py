"""`controlplane calls`: calls in flight, whichever controller runs them."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, handles_errors
from controlplane.services.scope import Scope


@click.group("calls")
def calls() -> None:
    """Calls in flight (from Redis), whichever controller runs them."""


@calls.command("list")
@click.option("--tenant", "tenant_name", help="Only this tenant's calls.")
@handles_errors
def calls_list(tenant_name: str | None) -> None:
    from controlplane.services.call_control import list_calls
    from controlplane.state.live_calls import LiveCalls

    tenant_ids = None
    if tenant_name:
        from controlplane.services.tenants import by_name

        with _session() as s:
            tenant_ids = {by_name(s, Scope.operator(), tenant_name).id}
    rows = list_calls(LiveCalls.connect(), Scope.operator(), tenant_ids)
    for c in rows:
        click.echo(f"{c.uuid}  {c.state:9}  tenant {c.tenant_id}  {c.caller} -> {c.destination}  "
                   f"trunk {c.trunk or '-'}  node {c.node}")
    click.echo(f"{len(rows)} call(s) in flight")


@calls.command("hangup")
@click.argument("uuid")
@click.option("--cause", default="NORMAL_CLEARING", show_default=True)
@handles_errors
def calls_hangup(uuid: str, cause: str) -> None:
    """Hang a call up on its media node (uuid_kill over its event socket)."""
    from controlplane.freeswitch.esl_client import api
    from controlplane.services.call_control import hangup_call
    from controlplane.state.live_calls import LiveCalls

    click.echo(hangup_call(LiveCalls.connect(), Scope.operator(), uuid, api, cause))
