"""Gather what a call decision needs from MariaDB and Redis, then let the pure core decide.

The ESL controller calls `decide` once per call; everything it returns is plain data.

What a decision reads of the configuration is kept in memory (DecisionCache), under the config
version (config_version.py) that was current when it was read. Each decision reads the version
with the rest of its Redis snapshot, before it reads anything else, and uses only what was kept
under that version: a change committed through the services applies to the next call. Direct
database edits bump nothing; they apply once `ttl` has passed (CP_DECISION_CACHE_TTL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from controlplane.core.authorization import AuthorizationInput, Caller, Refusal, authorize, csv_list, refuse
from controlplane.core.credit import available_for_new_call, budget, first_block_cost
from controlplane.core.numbers import DialPlan, InvalidNumber, clean, strip_then_add, to_e164
from controlplane.core.rating import RateMatch, RatingContext, find_rate
from controlplane.core.routing import Route, lcr_order
from controlplane.db import session_scope
from controlplane.models import (
    BillingType,
    Carrier,
    Did,
    DidDestination,
    LedgerEntry,
    LedgerKind,
    SipAccount,
    Status,
    Tenant,
)
from controlplane.services.pricing import (
    RoutingView,
    dial_plan,
    load_routing,
    rating_context,
    route_request,
    trunk_group_of,
)
from controlplane.services.tenants import ancestors
from controlplane.settings import get_settings
from controlplane.state.deck_cache import DECKS, DeckCache, DeckReader
from controlplane.state.live_calls import LiveCalls, TenantLoad
from controlplane.state.rating_codec import dump_match

log = logging.getLogger(__name__)


@dataclass
class Decision:
    direction: str  # outbound | internal | inbound
    dialed: str
    refusal: Refusal | None = None
    tenant_id: int | None = None
    tenant_name: str | None = None
    account_id: int | None = None
    account_limit: int | None = None
    tenant_limit: int | None = None
    number: str | None = None
    match: RateMatch | None = None
    rating: RatingContext | None = None
    routes: list[Route] = field(default_factory=list)
    # Internal and inbound-to-account calls ring a registered user through Kamailio's location.
    local_user: str | None = None
    local_realm: str | None = None
    caller_id_number: str | None = None
    caller_id_name: str | None = None
    carrier_id: int | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @cached_property
    def rating_blob(self) -> str:
        """The call's price function as JSON (Redis live state and the `cp_rating` variable)."""
        return dump_match(self.match, self.rating) if self.match is not None else ""


def month_spend(session: Session, tenant_id: int, now: dt.datetime) -> Decimal:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.tenant_id == tenant_id, LedgerEntry.kind == LedgerKind.CALL, LedgerEntry.at >= start
        )
    )
    return -Decimal(total)


MONEY_QUERY = select(Tenant.balance, Tenant.credit_limit, Tenant.billing_type, Tenant.monthly_spend_cap).where(
    Tenant.id == bindparam("tenant_id")
)


@dataclass(frozen=True)
class Money:
    """A tenant's money: what it may still spend, and this month's spend against its cap."""

    balance: Decimal
    credit_limit: Decimal
    postpaid: bool
    spent_this_month: Decimal
    monthly_cap: Decimal | None

    @property
    def budget(self) -> Decimal:
        return budget(self.balance, self.credit_limit, self.postpaid, self.monthly_cap, self.spent_this_month)

    def after(self, change: Decimal, calls: Decimal) -> Money:
        """The same money once `change` was posted, `calls` of it for calls (negative: debits)."""
        return dataclasses.replace(self, balance=self.balance + change, spent_this_month=self.spent_this_month - calls)


def money_of(session: Session, tenant_id: int, now: dt.datetime) -> Money:
    row = session.connection().execute(MONEY_QUERY, {"tenant_id": tenant_id}).one()  # Core: no ORM overhead
    spent = month_spend(session, tenant_id, now) if row.monthly_spend_cap is not None else Decimal(0)
    return Money(row.balance, row.credit_limit, row.billing_type == BillingType.POSTPAID, spent,
                 row.monthly_spend_cap)


@dataclass(frozen=True)
class Reading:
    """Under which config version a decision reads the cache."""

    version: str  # what its snapshot read: only what was kept under this version is used
    # What a load in its session is kept under: a version known before the session's first read
    # (its reads see every commit bumped up to it). Usually `version`; older when the session read
    # the database before the snapshot (carrier calls), and then nothing it loads is kept.
    loaded_under: str


class MoneyCache:
    """Tenants' money, kept while their money version (Redis, see money_version.py) stays the
    same: a decision or a deadline costs MariaDB nothing unless the balance moved. A balance is
    kept under the version seen before it was read, so a change committed in between is read
    again next time; `ttl` bounds the life of a reading whose bump never reached Redis. The credit
    limit, billing type and cap are configuration: a reading is kept under its config version too
    (`reading`), and a decision under another one reads again (None: any, as the deadlines do)."""

    def __init__(self, ttl: float | None = None, clock=time.monotonic) -> None:  # noqa: ANN001
        self.ttl = get_settings().money_cache_ttl if ttl is None else ttl
        self.clock = clock
        self._items: dict[int, tuple[str, str | None, float, dt.date, Money]] = {}

    def posted(self, tenant_id: int, version: int, change: Decimal, calls: Decimal) -> None:
        """This process committed `change` and its bump made the version `version`. If the kept
        reading is of the version just before, no one else changed the balance since it was read
        (they would have bumped too): the new money follows without asking MariaDB."""
        hit = self._items.get(tenant_id)
        if hit is not None and int(hit[0] or 0) == version - 1:
            self._items[tenant_id] = (str(version), hit[1], hit[2], hit[3], hit[4].after(change, calls))

    def peek(self, tenant_id: int, version: str, now: dt.datetime, reading: Reading | None = None) -> Money | None:
        """The kept reading if it still holds, else None (no database touched)."""
        hit = self._items.get(tenant_id)
        month = now.date().replace(day=1)  # this month's spend starts again at 0 on the 1st
        if (hit is not None and hit[0] == version and self.clock() - hit[2] < self.ttl and hit[3] == month
                and (reading is None or hit[1] == reading.version)):
            return hit[4]
        return None

    def get(self, session: Session, tenant_id: int, version: str, now: dt.datetime,
            reading: Reading | None = None) -> Money:
        money = self.peek(tenant_id, version, now, reading)
        if money is None:
            money = money_of(session, tenant_id, now)
            config = reading.loaded_under if reading is not None else None
            self._items[tenant_id] = (version, config, self.clock(), now.date().replace(day=1), money)
        return money

    def clear(self) -> None:
        self._items.clear()


@dataclass(frozen=True)
class TenantView:
    id: int
    name: str
    realm: str | None
    active: bool  # the tenant and every reseller above it
    limit: int | None
    plan: DialPlan
    allowed_countries: tuple[str, ...]
    denied_countries: tuple[str, ...]
    local_users: frozenset[str]  # active SIP usernames: dialling one is an internal call


@dataclass(frozen=True)
class AccountView:
    id: int
    tenant: TenantView
    active: bool
    limit: int | None
    cid_number: str | None
    cid_name: str | None
    restricted: tuple[str, ...]
    callerid_allow: tuple[str, ...]
    callerid_deny: tuple[str, ...]
    strip_prefix: str
    add_prefix: str
    trunk_group: tuple[int, ...]
    trunk_id: int | None
    ctx: RatingContext


class _Flight:
    """A load under way: calls that need the same entry under the same version wait for it."""

    __slots__ = ("done", "ok", "value", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self.done = threading.Event()  # a gevent Event once gevent patched threading (the controller)
        self.ok = False
        self.value: object = None


Load = Callable[[Session, Reading], object]


class DecisionCache:
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

    def __init__(self, ttl: float | None = None, decks: DeckCache = DECKS, clock=time.monotonic,  # noqa: ANN001
                 background: Callable[[Callable[[], None]], object] | None = None) -> None:
        self.ttl = get_settings().decision_cache_ttl if ttl is None else ttl
        self.decks = decks
        self.clock = clock
        self.background = background
        self.version = ""  # the config version last synced: what entries are kept under
        self._items: dict[tuple, tuple[str, float, object]] = {}  # key -> (version, loaded at, value)
        self._flights: dict[tuple, _Flight] = {}
        self._refreshing: set[tuple] = set()
        self.money = MoneyCache(clock=clock)

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
            with session_scope() as session:  # its reads begin now: they see every commit up to `version`
                value = load(session, Reading(version, version))
            if version == self.version:
                self._items[key] = (version, loaded_at, value)
        except Exception:  # noqa: BLE001 - the stale entry serves on; the next call retries
            log.exception("could not refresh %s", key)
        finally:
            self._refreshing.discard(key)

    def decks_for(self, reading: Reading) -> DeckReader:
        return self.decks.under(reading.loaded_under)

    def tenant(self, session: Session, tenant_id: int,
               reading: Reading | None = None) -> tuple[TenantView, RatingContext] | None:
        return self._get(session, ("tenant", tenant_id), lambda s, r: _load_tenant(s, tenant_id, self.decks_for(r)),
                         reading)

    def account(self, session: Session, account_id: int, reading: Reading | None = None) -> AccountView | None:
        return self._get(session, ("account", account_id), lambda s, r: _load_account(s, account_id, self, r),
                         reading)

    def routing(self, session: Session, reading: Reading | None = None) -> RoutingView:
        return self._get(session, ("routing",), lambda s, r: load_routing(s, self.decks_for(r)), reading)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _load_tenant(session: Session, tenant_id: int, decks: DeckReader) -> tuple[TenantView, RatingContext] | None:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    users = frozenset(session.scalars(select(SipAccount.username).where(
        SipAccount.tenant_id == tenant.id, SipAccount.status == Status.ACTIVE)))
    view = TenantView(
        tenant.id, tenant.name, tenant.realm,
        all(t.status == Status.ACTIVE for t in [*ancestors(session, tenant), tenant]),
        tenant.max_concurrent_calls, dial_plan(tenant), csv_list(tenant.allowed_country_codes),
        csv_list(tenant.denied_country_codes), users,
    )
    return view, rating_context(session, tenant, None, decks, _now())


def _load_account(session: Session, account_id: int, cache: DecisionCache, reading: Reading) -> AccountView | None:
    account = session.get(SipAccount, account_id)
    if account is None:
        return None
    loaded = cache.tenant(session, account.tenant_id, reading)
    if loaded is None:
        return None
    tenant_view, tenant_ctx = loaded
    ctx = tenant_ctx
    if account.rate_deck_id:
        ctx = rating_context(session, account.tenant, account, cache.decks_for(reading), _now())
    group = trunk_group_of(session, account.trunk_group_id)
    return AccountView(
        account.id, tenant_view, account.status == Status.ACTIVE, account.max_concurrent_calls,
        account.caller_id_number, account.caller_id_name, csv_list(account.restricted_prefixes),
        csv_list(account.callerid_allow), csv_list(account.callerid_deny), account.strip_prefix or "",
        account.add_prefix or "", group, account.trunk_id, ctx,
    )


CACHE = DecisionCache()


def decide(session: Session, live: LiveCalls, caller: Caller, dialed: str, caller_id_number: str,
           caller_id_name: str, now_epoch: float, cache: DecisionCache | None = None) -> Decision:
    cache = cache or CACHE
    if caller.auth == "carrier":
        return _inbound(session, live, caller, dialed, caller_id_number, caller_id_name, now_epoch, cache)
    # The snapshot first (the headers name the tenant and account): it says which config version is
    # current, and nothing kept under another is used. Its counts are the view's when it is not refused.
    snap = live.snapshot(caller.tenant_id, caller.account_id)
    reading = cache.sync(snap.config_version)
    view = cache.account(session, caller.account_id, reading)
    if view is None or view.tenant.id != caller.tenant_id:
        return Decision("outbound", dialed, refuse(403, "unknown account for this tenant"))
    tenant = view.tenant
    cid_number = view.cid_number or caller_id_number
    internal = dialed in tenant.local_users
    decision = Decision(
        "internal" if internal else "outbound", dialed, tenant_id=tenant.id, tenant_name=tenant.name,
        account_id=view.id, account_limit=view.limit, tenant_limit=tenant.limit,
        caller_id_number=cid_number, caller_id_name=view.cid_name or caller_id_name,
    )
    base = AuthorizationInput(
        tenant_active=tenant.active, account_active=view.active, number=dialed, caller_id=cid_number or "",
        available=Decimal(0), first_block_cost=Decimal(0),
        account_calls=snap.account_calls, account_limit=view.limit,
        tenant_calls=snap.tenant_calls, tenant_limit=tenant.limit,
        callerid_allow=view.callerid_allow, callerid_deny=view.callerid_deny,
    )
    if internal:
        decision.local_user, decision.local_realm, decision.number = dialed, tenant.realm, dialed
        decision.refusal = authorize(_replace(base, free=True))
        return decision
    decision.dialed = strip_then_add(dialed, view.strip_prefix, view.add_prefix)
    return _rate_and_route(session, live, snap, decision, tenant, view.ctx, view, base, now_epoch, cache, reading)


def _rate_and_route(session: Session, live: LiveCalls, snap: TenantLoad, decision: Decision, tenant: TenantView,
                    ctx: RatingContext, account: AccountView | None, base: AuthorizationInput, now_epoch: float,
                    cache: DecisionCache, reading: Reading) -> Decision:
    try:
        number = to_e164(decision.dialed, tenant.plan)
    except InvalidNumber:
        decision.refusal = refuse(404, "not a dialable number")
        return decision
    decision.number = number
    now = _now()
    match = find_rate(number, ctx, now)
    if match is None:
        decision.refusal = refuse(404, "no rate for this destination")
        return decision
    decision.match, decision.rating = match, ctx
    routing = cache.routing(session, reading)
    money = cache.money.get(session, tenant.id, snap.money_version, now, reading)
    # What the calls in flight will have cost, bounded from above (read with the snapshot); only
    # when that bound leaves no room for this call's first block is every call walked exactly.
    available = money.budget - snap.burn_bound(now_epoch)
    if available < first_block_cost(match, ctx):
        available = available_for_new_call(money.budget, live.running(tenant.id), now_epoch)
    check = _replace(
        base, number=number, available=available,
        first_block_cost=first_block_cost(match, ctx), free=match.free, blocked_prefixes=routing.blocked,
        restricted_prefixes=account.restricted if account else (),
        allowed_countries=tenant.allowed_countries, denied_countries=tenant.denied_countries,
        spent_this_month=money.spent_this_month, monthly_cap=money.monthly_cap,
    )
    decision.refusal = authorize(check)
    if decision.refusal is None:
        request = route_request(number, match, routing, account.trunk_group if account else (),
                                account.trunk_id if account else None)
        decision.routes = lcr_order(request, routing.trunks)
        if not decision.routes:
            decision.refusal = refuse(404, "no route for this destination")
    return decision


def _inbound(session: Session, live: LiveCalls, caller: Caller, dialed: str, caller_id_number: str,
             caller_id_name: str, now_epoch: float, cache: DecisionCache) -> Decision:
    decision = Decision("inbound", dialed, carrier_id=caller.carrier_id, caller_id_number=caller_id_number,
                        caller_id_name=caller_id_name)
    # The carrier and the number are read before the snapshot (it needs the number's tenant): what
    # this session loads is kept under the version known before those reads.
    loaded_under = cache.version
    carrier = session.get(Carrier, caller.carrier_id)
    if carrier is None or carrier.status != Status.ACTIVE:
        decision.refusal = refuse(403, "unknown or disabled carrier")
        return decision
    try:
        number = clean(dialed).lstrip("+")
    except InvalidNumber:
        decision.refusal = refuse(404, "not a number")
        return decision
    did = session.scalar(select(Did).where(Did.number == number))
    if did is None or did.status != Status.ACTIVE:
        decision.refusal = refuse(404, "unknown number")
        return decision
    snap = live.snapshot(did.tenant_id)
    reading = cache.sync(snap.config_version, loaded_under)
    tenant, tenant_ctx = cache.tenant(session, did.tenant_id, reading)
    decision.tenant_id, decision.tenant_name, decision.number = tenant.id, tenant.name, number
    decision.tenant_limit = tenant.limit
    if not tenant.active:
        decision.refusal = refuse(403, "tenant disabled")
        return decision
    if did.destination_type == DidDestination.ACCOUNT and did.sip_account_id:
        account = session.get(SipAccount, did.sip_account_id)
        if account.status != Status.ACTIVE:
            decision.refusal = refuse(480, "destination account disabled")
            return decision
        decision.account_id, decision.account_limit = account.id, account.max_concurrent_calls
        decision.local_user, decision.local_realm = account.username, tenant.realm
        return decision
    if did.destination_type == DidDestination.EXTERNAL and did.destination_value:
        base = AuthorizationInput(
            tenant_active=True, account_active=True, number=did.destination_value, caller_id=caller_id_number,
            available=Decimal(0), first_block_cost=Decimal(0), tenant_calls=snap.tenant_calls,
            tenant_limit=tenant.limit,
        )
        decision.dialed = did.destination_value
        return _rate_and_route(session, live, snap, decision, tenant, tenant_ctx, None, base, now_epoch, cache,
                               reading)
    decision.refusal = refuse(480, "number has no destination")
    return decision


def _replace(base: AuthorizationInput, **changes: object) -> AuthorizationInput:
    return dataclasses.replace(base, **changes)
