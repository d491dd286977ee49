"""Which reading of the configuration is current, so a controller may keep it in memory.

A controller keeps what decisions read (tenants, accounts, plans, trunks, rate indexes) in memory
(call_views.DecisionCache, deck_cache.DeckCache) so a call costs no query. Left to expire on
a timer, a change would miss every call until then, however long ago it was committed: a carrier
created a minute ago is not routed to, a suspended account still calls. So every session that
changed something decisions read bumps one counter in Redis (`config:version`) after its commit;
each decision reads the counter in the round trip it makes anyway (LiveCalls.snapshot) and does
not use what was kept under another value. The next call after a commit sees the commit.

Changes are found by session events: ORM inserts, updates and deletes of the classes below (at
flush) and ORM-enabled statements on their tables (`session.execute(delete(Rate)...)`). A writer
that goes around the session (Core statements on `session.connection()`, `text()` DML) calls
`changed(session)`. Balances are not configuration: they move through the ledger's Core
statements and have their own version (money_version.py); a flush that changes nothing of a
tenant but its balance bumps nothing either. Direct database edits bump nothing, nor does a bump
that cannot reach Redis (logged): those wait for the caches' ttl.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import redis
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from controlplane.models import (
    BlockedPrefix,
    Carrier,
    CarrierTrunk,
    Did,
    IpListEntry,
    MediaNode,
    Offer,
    Plan,
    PlanDeck,
    Rate,
    RateDeck,
    SipAccount,
    Tenant,
    TrunkAddress,
    TrunkGroup,
    TrunkGroupMember,
)
from controlplane.settings import get_settings

log = logging.getLogger(__name__)

CHANGED = "cp_config_changed"
# What call decisions read (and the SIP edge's tables, which change as rarely).
MODELS: tuple[type, ...] = (
    Tenant, SipAccount, Carrier, CarrierTrunk, TrunkAddress, TrunkGroup, TrunkGroupMember, RateDeck, Rate, Plan,
    PlanDeck, Offer, BlockedPrefix, Did, MediaNode, IpListEntry,
)
TABLES = frozenset(model.__table__.name for model in MODELS)
# Attributes whose change alone is not a configuration change.
NOT_CONFIG: dict[type, frozenset[str]] = {Tenant: frozenset({"balance"})}


def key(prefix: str) -> str:
    return f"{prefix}config:version"


def changed(session: Session) -> None:
    """The session changed configuration behind the ORM's back: bump once it commits."""
    session.info[CHANGED] = True


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def bump() -> int | None:
    """Move the version on; the new one, or None if Redis could not be reached."""
    settings = get_settings()  # read per bump: the key must follow the prefix the controller reads
    try:
        return int(_client(settings.redis_url).incr(key(settings.redis_prefix)))
    except redis.RedisError as exc:
        log.warning("could not bump the config version (cached call decisions wait for their ttl): %s", exc)
        return None


def _modified(session: Session, obj: object) -> bool:
    ignored = NOT_CONFIG.get(type(obj))
    if ignored is None:
        return session.is_modified(obj)
    return any(attr.key not in ignored and attr.history.has_changes() for attr in inspect(obj).attrs)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: object, instances: object) -> None:
    if session.info.get(CHANGED):
        return
    if any(isinstance(obj, MODELS) for obj in (*session.new, *session.deleted)) or any(
        isinstance(obj, MODELS) and _modified(session, obj) for obj in session.dirty
    ):
        changed(session)


@event.listens_for(Session, "do_orm_execute")
def _do_orm_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in TABLES:
            changed(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Also called when a SAVEPOINT is released: nothing is visible to others before the outer commit.
    if not session.in_nested_transaction() and session.info.pop(CHANGED, False):
        bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    # A SAVEPOINT rolled back leaves what the transaction changed before it: keep the flag.
    if not session.in_nested_transaction():
        session.info.pop(CHANGED, None)
