"""What a call decision reads of MariaDB: a tenant's and an account's view (limits, caller-ID rules, rating
context), the routing view, and a tenant's money; and the per-process cache of them (DecisionCache, over
state/decision_cache.py's versioned machinery)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from controlplane.core.authorization import csv_list
from controlplane.core.credit import budget
from controlplane.core.numbers import DialPlan
from controlplane.core.rating import RatingContext
from controlplane.models import BillingType, LedgerEntry, LedgerKind, SipAccount, Status, Tenant
from controlplane.models.base import utcnow
from controlplane.services.pricing import RoutingView, dial_plan, load_routing, rating_context, trunk_group_of
from controlplane.services.tenants import ancestors
from controlplane.state.decision_cache import MoneyCache, Reading, VersionedCache
from controlplane.state.deck_cache import DECKS, DeckCache, DeckReader


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


def load_tenant(session: Session, tenant_id: int, decks: DeckReader) -> tuple[TenantView, RatingContext] | None:
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
    return view, rating_context(session, tenant, None, decks, utcnow())


def load_account(session: Session, account_id: int, cache: DecisionCache, reading: Reading) -> AccountView | None:
    account = session.get(SipAccount, account_id)
    if account is None:
        return None
    loaded = cache.tenant(session, account.tenant_id, reading)
    if loaded is None:
        return None
    tenant_view, tenant_ctx = loaded
    ctx = tenant_ctx
    if account.rate_deck_id:
        ctx = rating_context(session, account.tenant, account, cache.decks_for(reading), utcnow())
    group = trunk_group_of(session, account.trunk_group_id)
    return AccountView(
        account.id, tenant_view, account.status == Status.ACTIVE, account.max_concurrent_calls,
        account.caller_id_number, account.caller_id_name, csv_list(account.restricted_prefixes),
        csv_list(account.callerid_allow), csv_list(account.callerid_deny), account.strip_prefix or "",
        account.add_prefix or "", group, account.trunk_id, ctx,
    )


class DecisionCache(VersionedCache):
    """The views a decision reads (tenants, accounts, routing) and the tenants' money, kept per process."""

    def __init__(self, ttl: float | None = None, decks: DeckCache = DECKS, clock=time.monotonic,  # noqa: ANN001
                 background: Callable[[Callable[[], None]], object] | None = None) -> None:
        super().__init__(MoneyCache(money_of, clock=clock), ttl, decks, clock, background)

    def tenant(self, session: Session, tenant_id: int,
               reading: Reading | None = None) -> tuple[TenantView, RatingContext] | None:
        return self._get(session, ("tenant", tenant_id), lambda s, r: load_tenant(s, tenant_id, self.decks_for(r)),
                         reading)

    def account(self, session: Session, account_id: int, reading: Reading | None = None) -> AccountView | None:
        return self._get(session, ("account", account_id), lambda s, r: load_account(s, account_id, self, r),
                         reading)

    def routing(self, session: Session, reading: Reading | None = None) -> RoutingView:
        return self._get(session, ("routing",), lambda s, r: load_routing(s, self.decks_for(r)), reading)
