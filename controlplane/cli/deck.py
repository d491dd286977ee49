"""`controlplane deck`: rate decks (CSV import and export, the default deck)."""

from __future__ import annotations

import sys

import click

from controlplane.cli.common import _session, handles_errors
from controlplane.services.scope import Scope


@click.group("deck")
def deck() -> None:
    """Rate decks (CSV import and export)."""


@deck.command("import")
@click.option("--name", required=True, help="Deck name; an existing deck is replaced atomically.")
@click.option("--buy", is_flag=True, help="A carrier buy-rate deck.")
@click.option("--currency", default="USD", show_default=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@handles_errors
def deck_import(name: str, buy: bool, currency: str, file: str) -> None:
    """Import FILE: prefix,destination,rate,initblock,billingblock,connectcharge[,extra columns]."""
    from controlplane.models import DeckKind
    from controlplane.services.decks import import_deck

    with click.open_file(file, encoding="utf-8") as handle:
        text = handle.read()
    lines = text.splitlines(keepends=True)
    bar = click.progressbar(length=len(lines), label="importing", file=sys.stderr) if len(lines) > 20000 else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.pos)

    with _session() as s:
        report = import_deck(s, Scope.operator(), name, lines, kind=DeckKind.BUY if buy else DeckKind.SELL,
                             currency=currency.upper(), progress=progress)
    if bar is not None:
        bar.render_finish()
    click.echo(f"imported {report.rows} rates into deck {name!r} (version {report.version})")


@deck.command("export")
@click.option("--name", required=True)
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True)
@handles_errors
def deck_export(name: str, out: str) -> None:
    """Write the deck as CSV (same columns as import)."""
    from controlplane.services.decks import export_deck

    with _session() as s, click.open_file(out, "w", encoding="utf-8") as handle:
        for line in export_deck(s, Scope.operator(), name):
            handle.write(line)


@deck.command("set-default")
@click.option("--name", required=True)
@handles_errors
def deck_set_default(name: str) -> None:
    """Make NAME the deck used when nothing more specific rates a number."""
    from controlplane.services.decks import set_default_deck

    with _session() as s:
        set_default_deck(s, Scope.operator(), name)
    click.echo(f"default deck: {name}")
