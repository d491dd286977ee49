"""The `controlplane` command: thin adapters from arguments to services, one transaction each.

One module per command group: each command parses its arguments, calls one service in one
transaction (with the operator's scope where the service takes one) and prints. What they share
(error answers and exit codes, the session, decimal options, the SIP edge sync) is in `common`.
"""

from __future__ import annotations

import click

from controlplane.cli import (
    calls,
    carrier,
    controller,
    credit,
    db,
    deck,
    did,
    freeswitch,
    jobs,
    kamailio,
    node,
    plan,
    quote,
    sip_account,
    tenant,
    user,
    web,
    worker,
)


@click.group()
def main() -> None:
    """controlplane: multi-tenant VoIP softswitch control plane."""


main.add_command(db.db)
main.add_command(user.user)
main.add_command(deck.deck)
main.add_command(tenant.tenant)
main.add_command(plan.plan)
main.add_command(credit.credit)
main.add_command(carrier.carrier)
main.add_command(sip_account.sip_account)
main.add_command(did.did)
main.add_command(quote.quote)
main.add_command(kamailio.kamailio)
main.add_command(freeswitch.freeswitch)
main.add_command(node.node)
main.add_command(web.web)
main.add_command(calls.calls)
main.add_command(worker.worker)
main.add_command(jobs.jobs)
main.add_command(controller.controller)
