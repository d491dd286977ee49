"""Which reading of a tenant's balance is current, so a controller may keep balances in memory.

Every committed ledger change bumps the tenant's counter in Redis (`tenant:<id>:money`), after the
commit: a reader that sees the new number and then reads MariaDB reads the new balance. Readers
keep a balance under the number they saw before reading it (call_decisions.MoneyCache) and read
again when the number moves. If Redis cannot be reached for a bump, cached balances are still
re-read after MoneyCache's ttl.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from controlplane.settings import get_settings

log = logging.getLogger(__name__)

TOUCHED = "cp_money_touched"


def touched(session: Session, tenant_ids: Iterable[int]) -> None:
    """The session has changed these tenants' balances: bump them once it commits."""
    session.info.setdefault(TOUCHED, set()).update(tenant_ids)


@lru_cache(maxsize=1)
def _target() -> tuple[redis.Redis, str]:
    """The Redis client and key prefix, looked up once: a bump follows every ledger commit."""
    settings = get_settings()
    return redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2), settings.redis_prefix


def key(prefix: str, tenant_id: int) -> str:
    return f"{prefix}tenant:{tenant_id}:money"


def bump(tenant_ids: Iterable[int]) -> None:
    client, prefix = _target()
    try:
        pipe = client.pipeline(transaction=False)
        for tenant_id in sorted(set(tenant_ids)):
            pipe.incr(key(prefix, tenant_id))
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not bump money version of tenants %s: %s", sorted(tenant_ids), exc)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(TOUCHED, None)
    if ids:
        bump(ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(TOUCHED, None)
