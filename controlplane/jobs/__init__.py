"""Background jobs on rq: work too long for a request (rate-deck imports), run by `controlplane jobs`.

A job runs the same service a request would, with the caller's Scope (pickled with the job), in its own
transaction, and reports progress in its rq meta for `GET /api/v1/jobs/{id}`.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from controlplane.errors import NotFound
from controlplane.services.scope import Scope
from controlplane.settings import get_settings


def queue_name(name: str) -> str:
    """Queue names carry the Redis prefix, so two deployments (or test runs) on one Redis never share work."""
    return f"{get_settings().redis_prefix}{name}"


def connection() -> Redis:
    return Redis.from_url(get_settings().redis_url)


def queue(name: str, redis: Redis | None = None) -> Queue:
    return Queue(queue_name(name), connection=redis or connection())


def job_state(job_id: str, scope: Scope) -> dict:
    """A job's kind, status, progress and (once finished) result, for the caller that started it or an operator;
    NotFound alike for another caller's job and a missing one."""
    try:
        job = Job.fetch(job_id, connection=connection())
    except (NoSuchJobError, ValueError):  # ValueError: not even a job id
        job = None
    if job is None or not (scope.everything or job.meta.get("owner") == scope.actor):
        raise NotFound(f"job {job_id} not found")
    status = job.get_status(refresh=True)
    return {"id": job.id, "kind": job.meta.get("kind"), "status": getattr(status, "value", status),
            "done": job.meta.get("done"), "total": job.meta.get("total"), "deck": job.meta.get("deck"),
            "result": job.return_value() if status == "finished" else None}
