"""`controlplane plan`: decks in priority order plus a markup."""

from __future__ import annotations

import click

from controlplane.cli.common import _session, handles_errors
from controlplane.services.scope import Scope


@click.group("plan")
def plan() -> None:
    """Plans: decks in priority order plus a markup."""


@plan.command("create")
@click.option("--name", required=True)
@click.option("--deck", "decks", multiple=True, required=True, help="Repeat for more decks, in priority order.")
@click.option("--markup", default="0", show_default=True, help="Markup %% on rate and connect charge.")
@handles_errors
def plan_create(name: str, decks: tuple[str, ...], markup: str) -> None:
    from controlplane.services.plans import create_plan

    with _session() as s:
        p = create_plan(s, Scope.operator(), name=name, decks=list(decks), markup_pct=markup)
        click.echo(f"created plan {p.name!r} (id {p.id}) with decks {', '.join(decks)}")
