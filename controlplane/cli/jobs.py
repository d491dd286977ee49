"""`controlplane jobs`: the rq worker that runs background jobs (rate-deck imports)."""

from __future__ import annotations

import click


@click.command("jobs")
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit (for cron or tests).")
def jobs(burst: bool) -> None:
    """Run background jobs from the Redis queues (rq)."""
    from rq import Worker

    from controlplane.jobs import connection, queue
    from controlplane.jobs.decks import QUEUE

    redis = connection()
    Worker([queue(QUEUE, redis)], connection=redis).work(burst=burst, with_scheduler=False)
