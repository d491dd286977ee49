"""The per-process caches a call decision reads through: configuration kept under its config version, and money
kept under its money version (Redis, state/config_version.py and state/money_version.py).

What is kept, and how it is read from MariaDB, is the services' (services/call_views.py): these classes only
keep, expire, share and refresh it. A process builds its own (the controller in esl/server.py) and hands it to
`call_decisions.decide`; nothing is built at import time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from controlplane.db import session_scope
from controlplane.settings import get_settings
from controlplane.state.deck_cache import DECKS, DeckCache, DeckReader

log = logging.getLogger(__name__)


class Postable(Protocol):
    def after(self, change: Decimal, calls: Decimal) -> Postable: ...


M = TypeVar("M", bound=Postable)


@dataclass(frozen=True)
class Reading:
    """Under which config version a decision reads the cache."""

    version: str  # what its snapshot read: only what was kept under this version is used
    # What a load in its session is kept under: a version known before the session's first read
    # (its reads see every commit bumped up to it). Usually `version`; older when the session read
    # the database before the snapshot (carrier calls), and then nothing it loads is kept.
    loaded_under: str


class MoneyCache(Generic[M]):
    """Tenants' money, kept while their money version (Redis, see money_version.py) stays the
    same: a decision or a deadline costs MariaDB nothing unless the balance moved. A balance is
    kept under the version seen before it was read, so a change committed in between is read
    again next time; `ttl` bounds the life of a reading whose bump never reached Redis. The credit
    limit, billing type and cap are configuration: a reading is kept under its config version too
    (`reading`), and a decision under another one reads again (None: any, as the deadlines do)."""

    def __init__(self, load: Callable[[Session, int, dt.datetime], M], ttl: float | None = None,
                 clock=time.monotonic) -> None:  # noqa: ANN001
        self.load = load  # the tenant's money from MariaDB (services.call_views.money_of)
        self.ttl = get_settings().money_cache_ttl if ttl is None else ttl
        self.clock = clock
        self._items: dict[int, tuple[str, str | None, float, dt.date, M]] = {}

    def posted(self, tenant_id: int, version: int, change: Decimal, calls: Decimal) -> None:
        """This process committed `change` and its bump made the version `version`. If the kept
        reading is of the version just before, no one else changed the balance since it was read
        (they would have bumped too): the new money follows without asking MariaDB."""
        hit = self._items.get(tenant_id)
        if hit is not None and int(hit[0] or 0) == version - 1:
            self._items[tenant_id] = (str(version), hit[1], hit[2], hit[3], hit[4].after(change, calls))

    def peek(self, tenant_id: int, version: str, now: dt.datetime, reading: Reading | None = None) -> M | None:
        """The kept reading if it still holds, else None (no database touched)."""
        hit = self._items.get(tenant_id)
        month = now.date().replace(day=1)  # this month's spend starts again at 0 on the 1st
        if (hit is not None and hit[0] == version and self.clock() - hit[2] < self.ttl and hit[3] == month
                and (reading is None or hit[1] == reading.version)):
            return hit[4]
        return None

    def get(self, session: Session, tenant_id: int, version: str, now: dt.datetime,
            reading: Reading | None = None) -> M:
        money = self.peek(tenant_id, version, now, reading)
        if money is None:
            money = self.load(session, tenant_id, now)
            config = reading.loaded_under if reading is not None else None
            self._items[tenant_id] = (version, config, self.clock(), now.date().replace(day=1), money)
        return money

    def clear(self) -> None:
        self._items.clear()


class _Flight:
    """A load under way: calls that need the same entry under the same version wait for it."""

    __slots__ = ("done", "ok", "value", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self.done = threading.Event()  # a gevent Event once gevent patched threading (the controller)
        self.ok = False
        self.value: object = None


Load = Callable[[Session, Reading], object]


Load = Callable[[Session, Reading], object]


class VersionedCache:
    """What a decision reads that changes rarely (accounts, tenants, plans, trunks), kept per
    process so a call costs no query instead of a dozen. Money is kept only while its version
    holds (MoneyCache).

    Every entry is kept under the config version it was loaded under and used only by decisions
    whose snapshot read that version (`sync`, `Reading`): a change committed through the services
    applies to the next call. A change that bumped nothing (a direct database edit) applies
    within `ttl`: with `background` (the controller passes gevent.spawn) an entry older than that
    is still served while one refresh runs beside the calls, otherwise every call arriving during
    a reload would start its own, and at a few hundred calls a second that herd stalls them all.
    For the same reason, after a version change the calls that need an entry meanwhile wait for
    the one load under way. `ttl` 0 caches nothing.
    """

    def __init__(self, money: MoneyCache, ttl: float | None = None, decks: DeckCache = DECKS,
                 clock=time.monotonic,  # noqa: ANN001
                 background: Callable[[Callable[[], None]], object] | None = None,
                 open_session: Callable[[], ContextManager[Session]] = session_scope) -> None:
        self.ttl = get_settings().decision_cache_ttl if ttl is None else ttl
        self.decks = decks
        self.clock = clock
        self.background = background
        self.version = ""  # the config version last synced: what entries are kept under
        self._items: dict[tuple, tuple[str, float, object]] = {}  # key -> (version, loaded at, value)
        self._flights: dict[tuple, _Flight] = {}
        self._refreshing: set[tuple] = set()
        self.money = money
        self.open_session = open_session

    def sync(self, version: str, loaded_under: str | None = None) -> Reading:
        """A decision's snapshot read config version `version`: once it moved, what was kept
        under another one is dropped. `loaded_under`: see Reading (default: `version`)."""
        if version != self.version:
            self.version = version
            self._items.clear()
            self.money.clear()
        return Reading(version, version if loaded_under is None else loaded_under)

    def _get(self, session: Session, key: tuple, load: Load, reading: Reading | None = None) -> object:
        reading = reading or Reading(self.version, self.version)
        while True:
            hit = self._items.get(key)
            if hit is not None and hit[0] == reading.version:
                if self.clock() - hit[1] < self.ttl:
                    return hit[2]
                if self.background is not None and self.ttl > 0:
                    if key not in self._refreshing:
                        self._refreshing.add(key)
                        self.background(lambda version=hit[0]: self._refresh(key, load, version))
                    return hit[2]
            flight = self._flights.get(key)
            if flight is None or flight.version != reading.version:
                break
            flight.done.wait()
            if flight.ok:
                return flight.value
        return self._load(session, key, load, reading)

    def _load(self, session: Session, key: tuple, load: Load, reading: Reading) -> object:
        kept = self.ttl > 0 and reading.loaded_under == reading.version
        flight = _Flight(reading.version) if kept else None
        if flight is not None:
            self._flights[key] = flight
        loaded_at = self.clock()
        try:
            value = load(session, reading)
            if kept and reading.version == self.version:
                self._items[key] = (reading.version, loaded_at, value)
            if flight is not None:
                flight.ok, flight.value = True, value
            return value
        finally:
            if flight is not None:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.done.set()

    def _refresh(self, key: tuple, load: Load, version: str) -> None:
        try:
            loaded_at = self.clock()
            with self.open_session() as session:  # its reads begin now: they see every commit up to `version`
                value = load(session, Reading(version, version))
            if version == self.version:
                self._items[key] = (version, loaded_at, value)
        except Exception:  # noqa: BLE001 - the stale entry serves on; the next call retries
            log.exception("could not refresh %s", key)
        finally:
            self._refreshing.discard(key)

    def decks_for(self, reading: Reading) -> DeckReader:
        return self.decks.under(reading.loaded_under)
