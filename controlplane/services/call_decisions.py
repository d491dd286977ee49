"""Gather what a call decision needs from MariaDB and Redis, then let the pure core decide.

The ESL controller calls `decide` once per call; everything it returns is plain data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.authorization import AuthorizationInput, Caller, Refusal, authorize, csv_list, refuse
from controlplane.credit import available_for_new_call, budget, first_block_cost
from controlplane.models import (
    BillingType,
    BlockedPrefix,
    Carrier,
    Did,
    DidDestination,
    LedgerEntry,
    LedgerKind,
    SipAccount,
    Status,
    Tenant,
)
from controlplane.numbers import InvalidNumber, clean, to_e164
from controlplane.rating import RateMatch, RatingContext, find_rate
from controlplane.routing import Route, lcr_order
from controlplane.services.deck_cache import DECKS, DeckCache
from controlplane.services.live_calls import LiveCalls
from controlplane.services.pricing import dial_plan, rating_context, route_request, trunk_map
from controlplane.services.tenants import ancestors


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
    ctx: RatingContext | None = None
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


def month_spend(session: Session, tenant_id: int, now: dt.datetime) -> Decimal:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.tenant_id == tenant_id, LedgerEntry.kind == LedgerKind.CALL, LedgerEntry.at >= start
        )
    )
    return -Decimal(total)


def tenant_money(session: Session, tenant: Tenant, now: dt.datetime) -> Decimal:
    return budget(tenant.balance, tenant.credit_limit, tenant.billing_type == BillingType.POSTPAID,
                  tenant.monthly_spend_cap, month_spend(session, tenant.id, now) if tenant.monthly_spend_cap else 0)


def _chain_active(session: Session, tenant: Tenant) -> bool:
    return all(t.status == Status.ACTIVE for t in [*ancestors(session, tenant), tenant])


def decide(session: Session, live: LiveCalls, caller: Caller, dialed: str, caller_id_number: str,
           caller_id_name: str, now_epoch: float, cache: DeckCache = DECKS) -> Decision:
    if caller.auth == "carrier":
        return _inbound(session, live, caller, dialed, caller_id_number, caller_id_name, now_epoch, cache)
    account = session.get(SipAccount, caller.account_id)
    if account is None or account.tenant_id != caller.tenant_id:
        return Decision("outbound", dialed, refuse(403, "unknown account for this tenant"))
    tenant = account.tenant
    cid_number = account.caller_id_number or caller_id_number
    cid_name = account.caller_id_name or caller_id_name
    target = _local_account(session, tenant.id, dialed)
    decision = Decision(
        "internal" if target else "outbound", dialed, tenant_id=tenant.id, tenant_name=tenant.name,
        account_id=account.id, account_limit=account.max_concurrent_calls, tenant_limit=tenant.max_concurrent_calls,
        caller_id_number=cid_number, caller_id_name=cid_name,
    )
    base = AuthorizationInput(
        tenant_active=_chain_active(session, tenant), account_active=account.status == Status.ACTIVE,
        number=dialed, caller_id=cid_number or "", available=Decimal(0), first_block_cost=Decimal(0),
        account_calls=len(live.uuids("account", account.id)), account_limit=account.max_concurrent_calls,
        tenant_calls=len(live.uuids("tenant", tenant.id)), tenant_limit=tenant.max_concurrent_calls,
        callerid_allow=csv_list(account.callerid_allow), callerid_deny=csv_list(account.callerid_deny),
    )
    if target is not None:
        decision.local_user, decision.local_realm, decision.number = target.username, tenant.realm, target.username
        decision.refusal = authorize(_replace(base, free=True))
        return decision
    return _rate_and_route(session, live, decision, tenant, account, base, now_epoch, cache)


def _rate_and_route(session: Session, live: LiveCalls, decision: Decision, tenant: Tenant,
                    account: SipAccount | None, base: AuthorizationInput, now_epoch: float,
                    cache: DeckCache) -> Decision:
    try:
        number = to_e164(decision.dialed, dial_plan(tenant))
    except InvalidNumber:
        decision.refusal = refuse(404, "not a dialable number")
        return decision
    decision.number = number
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ctx = rating_context(session, tenant, account, cache, now)
    match = find_rate(number, ctx, now)
    if match is None:
        decision.refusal = refuse(404, "no rate for this destination")
        return decision
    decision.match, decision.ctx = match, ctx
    running = live.running(tenant.id)
    money = tenant_money(session, tenant, now)
    blocked = list(session.scalars(select(BlockedPrefix.prefix)))
    check = _replace(
        base, number=number, available=available_for_new_call(money, running, now_epoch),
        first_block_cost=first_block_cost(match, ctx), free=match.free, blocked_prefixes=blocked,
        restricted_prefixes=csv_list(account.restricted_prefixes) if account else (),
        allowed_countries=csv_list(tenant.allowed_country_codes),
        denied_countries=csv_list(tenant.denied_country_codes),
        spent_this_month=month_spend(session, tenant.id, now) if tenant.monthly_spend_cap else Decimal(0),
        monthly_cap=tenant.monthly_spend_cap,
    )
    decision.refusal = authorize(check)
    if decision.refusal is None:
        decision.routes = lcr_order(route_request(session, number, match, account, None), trunk_map(session, cache))
        if not decision.routes:
            decision.refusal = refuse(404, "no route for this destination")
    return decision


def _inbound(session: Session, live: LiveCalls, caller: Caller, dialed: str, caller_id_number: str,
             caller_id_name: str, now_epoch: float, cache: DeckCache) -> Decision:
    decision = Decision("inbound", dialed, carrier_id=caller.carrier_id, caller_id_number=caller_id_number,
                        caller_id_name=caller_id_name)
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
    tenant = session.get(Tenant, did.tenant_id)
    decision.tenant_id, decision.tenant_name, decision.number = tenant.id, tenant.name, number
    decision.tenant_limit = tenant.max_concurrent_calls
    if not _chain_active(session, tenant):
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
            available=Decimal(0), first_block_cost=Decimal(0), tenant_calls=len(live.uuids("tenant", tenant.id)),
            tenant_limit=tenant.max_concurrent_calls,
        )
        decision.dialed = did.destination_value
        return _rate_and_route(session, live, decision, tenant, None, base, now_epoch, cache)
    decision.refusal = refuse(480, "number has no destination")
    return decision


def _local_account(session: Session, tenant_id: int, dialed: str) -> SipAccount | None:
    return session.scalar(select(SipAccount).where(
        SipAccount.tenant_id == tenant_id, SipAccount.username == dialed, SipAccount.status == Status.ACTIVE
    ))


def _replace(base: AuthorizationInput, **changes: object) -> AuthorizationInput:
    return dataclasses.replace(base, **changes)
