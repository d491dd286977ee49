"""Gather a caller's rating inputs from the database, then ask the pure core.

This is the bridge between stored tenants/decks/trunks and `rating` / `routing`: the
controller and the `quote` dry run both call it, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.money import plain, round_money
from controlplane.core.numbers import DialPlan, InvalidNumber, to_e164
from controlplane.core.rating import (
    CallPrice,
    Margin,
    OfferWindow,
    RateMatch,
    RatingContext,
    charged_seconds,
    find_rate,
    price_call,
    unrounded_cost,
)
from controlplane.core.routing import Route, RouteRequest, TrunkInfo, lcr_order
from controlplane.errors import Invalid, NotFound
from controlplane.models import (
    BlockedPrefix,
    Carrier,
    CarrierTrunk,
    Offer,
    RateDeck,
    Role,
    SipAccount,
    Status,
    Tenant,
    TrunkGroupMember,
)
from controlplane.services.scope import Scope
from controlplane.services.tenants import ancestors, plan_for
from controlplane.settings import get_settings
from controlplane.state.deck_cache import DECKS, DeckCache


def dial_plan(tenant: Tenant) -> DialPlan:
    return DialPlan(
        country_code=tenant.country_code or get_settings().default_country_code,
        international_prefix=tenant.international_prefix or "00",
        national_prefix=tenant.national_prefix or "0",
    )


def rating_context(
    session: Session, tenant: Tenant, account: SipAccount | None = None,
    cache: DeckCache = DECKS, now: dt.datetime | None = None,
) -> RatingContext:
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    offers = [
        OfferWindow(o.name, o.prefix, o.starts_at, o.expires_at)
        for o in session.scalars(select(Offer).where(Offer.tenant_id == tenant.id, Offer.expires_at > now))
    ]
    plan = plan_for(tenant)
    default_id = session.scalar(select(RateDeck.id).where(RateDeck.is_default.is_(True)).order_by(RateDeck.id))
    margins = [Margin(t.name, t.margin_pct or Decimal(0)) for t in ancestors(session, tenant)
               if t.kind.value == "reseller"]
    return RatingContext(
        currency=tenant.currency,
        offers=offers,
        custom=cache.index(session, tenant.custom_deck_id) if tenant.custom_deck_id else None,
        account_deck=cache.index(session, account.rate_deck_id) if account and account.rate_deck_id else None,
        plan_decks=[cache.index(session, pd.deck_id) for pd in plan.decks] if plan else [],
        plan_markup_pct=plan.markup_pct if plan else Decimal(0),
        default_deck=cache.index(session, default_id) if default_id else None,
        margins=margins,
    )


def trunk_map(session: Session, cache: DeckCache = DECKS) -> dict[int, TrunkInfo]:
    rows = session.execute(select(CarrierTrunk, Carrier).join(Carrier)).all()
    return {
        t.id: TrunkInfo(
            id=t.id, name=t.name, carrier=c.name, priority=t.priority,
            active=t.status == Status.ACTIVE and c.status == Status.ACTIVE,
            buy_deck=cache.index(session, t.buy_deck_id) if t.buy_deck_id else None,
            strip_prefix=t.strip_prefix, add_prefix=t.add_prefix, max_channels=t.max_channels,
            host=t.host, port=t.port,
        )
        for t, c in rows
    }


@dataclass(frozen=True)
class RoutingView:
    """Everything LCR needs that is not about the caller: trunks, the default one, blocked prefixes."""

    trunks: dict[int, TrunkInfo]
    default_trunk: int | None
    blocked: tuple[str, ...]


def load_routing(session: Session, cache: DeckCache = DECKS) -> RoutingView:
    default = session.scalar(select(CarrierTrunk.id).where(CarrierTrunk.is_default.is_(True)).order_by(CarrierTrunk.id))
    return RoutingView(trunk_map(session, cache), default, tuple(session.scalars(select(BlockedPrefix.prefix))))


def trunk_group_of(session: Session, group_id: int | None) -> tuple[int, ...]:
    if not group_id:
        return ()
    return tuple(session.scalars(
        select(TrunkGroupMember.trunk_id)
        .where(TrunkGroupMember.group_id == group_id)
        .order_by(TrunkGroupMember.position)
    ))


def route_request(number: str, match: RateMatch, routing: RoutingView, trunk_group: tuple[int, ...] = (),
                  account_trunk: int | None = None) -> RouteRequest:
    """The LCR question for a rated number; the sell rate compared with buy rates is the wholesale one."""
    return RouteRequest(
        number=number, trunk_group=trunk_group, account_trunk=account_trunk, rate_trunk=match.row.trunk_id,
        default_trunk=routing.default_trunk, sell_rate=match.row.rate * (1 + match.markup_pct / 100),
        skip_unprofitable=get_settings().lcr_skip_unprofitable,
    )


@dataclass(frozen=True)
class Quote:
    tenant: Tenant
    dialed: str
    number: str
    price: CallPrice
    ctx: RatingContext
    routes: list[Route]

    def as_dict(self) -> dict:
        p, row = self.price, self.price.match.row
        wholesale = p.chain[0].cost
        return {
            "tenant": self.tenant.name,
            "dialed": self.dialed,
            "number": self.number,
            "prefix": row.prefix,
            "destination": row.destination,
            "source": p.match.source,
            "rate": plain(p.rate),
            "billsec": p.billsec,
            "charged_seconds": p.charged_seconds,
            "billing_blocks": p.billing_blocks,
            "cost": str(p.cost),
            "currency": self.ctx.currency,
            "chain": [
                {"level": lv.level, "margin_pct": plain(lv.margin_pct), "rate": plain(lv.rate), "cost": str(lv.cost)}
                for lv in p.chain
            ],
            "routes": [self._route(r, wholesale) for r in self.routes],
        }

    def _route(self, route: Route, wholesale: Decimal) -> dict:
        buy_cost = None
        if route.buy is not None:
            buy_cost = round_money(unrounded_cost(charged_seconds(self.price.billsec, route.buy), route.buy),
                                   self.ctx.currency)
        return {
            "trunk": route.trunk.name,
            "carrier": route.trunk.carrier,
            "source": route.source,
            "buy_rate": None if route.buy_rate is None else plain(route.buy_rate),
            "buy_cost": None if buy_cost is None else str(buy_cost),
            # The operator's margin on this call: its wholesale revenue minus what the carrier charges.
            "margin": None if buy_cost is None else str(wholesale - buy_cost),
        }


def quote(session: Session, tenant: Tenant, dialed: str, billsec: int, account: SipAccount | None = None,
          cache: DeckCache = DECKS, now: dt.datetime | None = None) -> Quote:
    """A dry run of rating and routing: which row, what it costs at each level, which trunks.

    A number that cannot be dialed is Invalid (field `number`); one no deck rates is NotFound."""
    try:
        number = to_e164(dialed, dial_plan(tenant))
    except InvalidNumber as exc:
        raise Invalid({"number": str(exc)}) from None
    ctx = rating_context(session, tenant, account, cache, now)
    match = find_rate(number, ctx, now)
    if match is None:
        raise NotFound(f"no rate for {number}: the call would be refused (404)")
    price = price_call(billsec, match, ctx, answered=True)  # a dry run prices an answered call
    request = route_request(number, match, load_routing(session, cache),
                            trunk_group_of(session, account.trunk_group_id) if account else (),
                            account.trunk_id if account else None)
    routes = lcr_order(request, trunk_map(session, cache))
    return Quote(tenant, dialed, number, price, ctx, routes)


def scoped_quote(session: Session, scope: Scope, tenant_id: int, number: str, billsec: int,
                 account_id: int | None = None) -> dict:
    """`quote` for a caller: the tenant (and account) must be in its scope; the carrier side (routes, buy costs)
    is shown to operators only and the reseller chain to operators and resellers."""
    from controlplane.services import accounts, tenants

    tenant = tenants.get_tenant(session, scope, tenant_id)
    account = accounts.get_account(session, scope, account_id) if account_id is not None else None
    if account is not None and account.tenant_id != tenant.id:
        raise NotFound(f"SIP account {account_id} not found")  # as for one that does not exist
    body = quote(session, tenant, number, billsec, account).as_dict()
    if not scope.everything:
        body.pop("routes")
        if scope.role == Role.CLIENT:
            body.pop("chain")
    return body
