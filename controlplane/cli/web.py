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
    # Threaded workers: a sync worker is held by one connection until its request arrives, and browsers open
    # connections ahead of need (preconnect, a page's parallel module loads), so two idle sockets from one browser
    # stalled every request to the portal until gunicorn's timeout. gthread waits for requests in a poller.
    os.execvp(sys.executable, [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", "8",
        "--bind", f"{settings.web_host}:{settings.web_port}", "controlplane.web:create_app()",
    ])
