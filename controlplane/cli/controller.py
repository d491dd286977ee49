"""`controlplane controller`: the outbound-ESL call controller."""

from __future__ import annotations

import sys

import click


@click.command("controller")
def controller() -> None:
    """Run the outbound-ESL call controller (FreeSWITCH's `socket` target)."""
    import os

    os.execvp(sys.executable, [sys.executable, "-m", "controlplane.esl"])
