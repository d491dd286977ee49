"""`controlplane web`: serve the portal and API."""

from __future__ import annotations

import sys

import click


@click.command("web")
def web() -> None:
    """Serve the portal and API (gunicorn)."""
    import os

    from controlplane.settings import get_settings

    settings = get_settings()
    os.execvp(sys.executable, [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"{settings.web_host}:{settings.web_port}",
        "controlplane.web:create_app()",
    ])
