"""Which reading of a tenant's balance is current, so a controller may keep balances in memory.

Every committed ledger change bumps the tenant's counter in Redis (`tenant:<id>:money`), after the
commit: a reader that sees the new number and then reads MariaDB reads the new balance. Readers
keep a balance under the number they saw before reading it (state/decision_cache.MoneyCache) and read
again when the number moves. If Redis cannot be reached for a bump, cached balances are still
re-read after MoneyCache's ttl.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from controlplane.settings import get_settings

log = logging.getLogger(__name__)

TOUCHED = "cp_money_touched"
# Told of every bump this process makes: (tenant id, new version, balance change, of which calls).
Listener = Callable[[int, int, Decimal, Decimal], None]
listeners: list[Listener] = []


def touched(session: Session, changes: dict[int, tuple[Decimal, Decimal]]) -> None:
    """The session has changed these tenants' balances (change, of which calls): bump them once
    it commits."""
    pending = session.info.setdefault(TOUCHED, {})
    for tenant_id, (change, calls) in changes.items():
        before = pending.get(tenant_id, (Decimal(0), Decimal(0)))
        pending[tenant_id] = (before[0] + change, before[1] + calls)


@lru_cache(maxsize=1)
def _target() -> tuple[redis.Redis, str]:
    """The Redis client and key prefix, looked up once: a bump follows every ledger commit."""
    settings = get_settings()
    return redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2), settings.redis_prefix


def key(prefix: str, tenant_id: int) -> str:
    return f"{prefix}tenant:{tenant_id}:money"


def bump(changes: dict[int, tuple[Decimal, Decimal]]) -> None:
    client, prefix = _target()
    ids = sorted(changes)
    try:
        pipe = client.pipeline(transaction=False)
        for tenant_id in ids:
            pipe.incr(key(prefix, tenant_id))
        versions = pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not bump money version of tenants %s: %s", ids, exc)
        return
    for tenant_id, version in zip(ids, versions, strict=True):
        for listener in listeners:
            listener(tenant_id, int(version), *changes[tenant_id])


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changes = session.info.pop(TOUCHED, None)
    if changes:
        bump(changes)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(TOUCHED, None)
