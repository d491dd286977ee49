"""Per-process in-memory rate indexes, rebuilt only when a deck's version changes.

A lookup costs no query: the version is re-read at most once per `check_interval` seconds, and
at once when the caller reads under a config version (config_version.py) other than the one the
last check was made under: a deck imported through the services applies to the next call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.rating import PrefixIndex, RateRow
from controlplane.models import Rate, RateDeck
from controlplane.settings import get_settings


@dataclass
class _Entry:
    version: int
    index: PrefixIndex
    checked_at: float
    checked_under: str | None  # the config version the check was made under (None: not known)


class DeckCache:
    def __init__(self, check_interval: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.check_interval = get_settings().deck_check_interval if check_interval is None else check_interval
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        # One build per deck at a time: a big deck takes seconds, and every call that needs it
        # meanwhile would otherwise build its own (greenlet-friendly once gevent patched threading).
        self._builds: dict[int, threading.Lock] = {}
        self.loads = 0  # how many times a deck was (re)built; tests and metrics read it

    def index(self, session: Session, deck_id: int, config: str | None = None) -> PrefixIndex:
        """The deck's index. `config`: the config version the session's reads are no older than;
        a check made under another one is not trusted (None: the timer alone decides)."""
        now = self._clock()
        entry = self._entries.get(deck_id)
        if (entry is not None and now - entry.checked_at < self.check_interval
                and (config is None or entry.checked_under == config)):
            return entry.index
        version = session.scalar(select(RateDeck.version).where(RateDeck.id == deck_id))
        if version is None:
            self._entries.pop(deck_id, None)
            return PrefixIndex()
        if entry is not None and entry.version >= version:  # newer than this session saw: fine too
            if entry.version == version:
                entry.checked_at, entry.checked_under = now, config
            return entry.index
        with self._lock:
            build = self._builds.setdefault(deck_id, threading.Lock())
        with build:
            entry = self._entries.get(deck_id)
            if entry is not None and entry.version >= version:  # built while this call waited
                return entry.index
            index = load_index(session, deck_id)
            with self._lock:
                self._entries[deck_id] = _Entry(version, index, now, config)
                self.loads += 1
        return index

    def under(self, config: str | None) -> DeckReader:
        """This cache as read by sessions whose reads are no older than config version `config`."""
        return DeckReader(self, config)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True)
class DeckReader:
    """A DeckCache bound to a config version: what the loaders in pricing.py are handed."""

    cache: DeckCache
    config: str | None

    def index(self, session: Session, deck_id: int) -> PrefixIndex:
        return self.cache.index(session, deck_id, self.config)


def load_index(session: Session, deck_id: int) -> PrefixIndex:
    table = Rate.__table__
    result = session.connection().execute(
        select(
            table.c.prefix, table.c.destination, table.c.rate, table.c.init_block, table.c.billing_block,
            table.c.connect_charge, table.c.grace, table.c.free_seconds, table.c.surcharge_pct,
            table.c.rate_first, table.c.trunk_id,
        ).where(table.c.deck_id == deck_id)
    )
    return PrefixIndex(RateRow(*row) for row in result)


DECKS = DeckCache()
