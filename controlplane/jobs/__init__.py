"""Background jobs on rq: work too long for a request (rate-deck imports), run by `controlplane jobs`.

A job runs the same service a request would, with the caller's Scope (pickled with the job), in its own
transaction, and reports progress in its rq meta for `GET /api/v1/jobs/{id}`.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from controlplane.settings import get_settings


def queue_name(name: str) -> str:
    """Queue names carry the Redis prefix, so two deployments (or test runs) on one Redis never share work."""
    return f"{get_settings().redis_prefix}{name}"


def connection() -> Redis:
    return Redis.from_url(get_settings().redis_url)


def queue(name: str, redis: Redis | None = None) -> Queue:
    return Queue(queue_name(name), connection=redis or connection())
