"""`controlplane freeswitch`: a media node's configuration."""

from __future__ import annotations

import click


@click.group("freeswitch")
def freeswitch() -> None:
    """FreeSWITCH media-node configuration."""


@freeswitch.command("render")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory to write (created).")
@click.option("--node-name", help="Switch name (default: CP_NODE_NAME).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="CDR error spool parent (default: OUT/var).")
def freeswitch_render(out: str, node_name: str | None, state_dir: str | None) -> None:
    """Write a node's config (freeswitch.xml, autoload_configs/, dialplan/) from settings."""
    from controlplane.freeswitch.render import render
    from controlplane.settings import get_settings

    files = render(get_settings(), out, node_name=node_name, state_dir=state_dir)
    click.echo(f"wrote {len(files)} files to {out} (start with: freeswitch -nonat -nf -nc -conf {out} ...)")
