"""`controlplane worker`: background work in a loop (a later issue makes it rq jobs)."""

from __future__ import annotations

import sys

import click

from controlplane.cli.common import EXIT_FAILURE


@click.command("worker")
@click.option("--once", is_flag=True, help="Drain once and exit (for cron or tests).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between passes.")
def worker(once: bool, interval: float) -> None:
    """Background work: write CDRs spooled while MariaDB was unreachable."""
    import time

    from controlplane.cdr_delivery import drain
    from controlplane.state.spool import Spool

    spool = Spool.default()
    while True:
        try:
            counts = drain(spool)
        except Exception as exc:  # noqa: BLE001 - Redis down: try again next pass
            click.echo(f"spool: not drained ({exc})", err=True)
            if once:
                sys.exit(EXIT_FAILURE)
            time.sleep(interval)
            continue
        if any(counts.values()) or once:
            click.echo(f"spool: {counts['written']} written, {counts['duplicate']} already there, "
                       f"{spool.size()} waiting")
        if once:
            return
        time.sleep(interval)
