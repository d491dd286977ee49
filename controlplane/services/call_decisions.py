"""Gather what a call decision needs from MariaDB and Redis, then let the pure core decide.

The ESL controller calls `decide` once per call; everything it returns is plain data.

What a decision reads of the configuration is kept in memory (call_views.DecisionCache), under the config
version (config_version.py) that was current when it was read. Each decision reads the version
with the rest of its Redis snapshot, before it reads anything else, and uses only what was kept
under that version: a change committed through the services applies to the next call. Direct
database edits bump nothing; they apply once `ttl` has passed (CP_DECISION_CACHE_TTL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.authorization import AuthorizationInput, Caller, Refusal, authorize, refuse
from controlplane.core.credit import available_for_new_call, first_block_cost
from controlplane.core.numbers import InvalidNumber, clean, strip_then_add, to_e164
from controlplane.core.rating import RateMatch, RatingContext, find_rate
from controlplane.core.routing import Route, lcr_order
from controlplane.models import Carrier, Did, DidDestination, SipAccount, Status
from controlplane.models.base import utcnow
from controlplane.services.call_views import AccountView, DecisionCache, TenantView
from controlplane.services.pricing import route_request
from controlplane.state.decision_cache import Reading
from controlplane.state.live_calls import LiveCalls, TenantLoad
from controlplane.state.rating_codec import dump_match


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
    origin: str | None = None  # click_to_call.ORIGIN: the phone was rung first; the call bills from the bridge

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @cached_property
    def rating_blob(self) -> str:
        """The call's price function as JSON (Redis live state and the `cp_rating` variable)."""
        return dump_match(self.match, self.rating) if self.match is not None else ""


def decide(session: Session, live: LiveCalls, caller: Caller, dialed: str, caller_id_number: str,
           caller_id_name: str, now_epoch: float, cache: DecisionCache) -> Decision:
    """The decision for one call; `cache` is the process's (the controller builds one and keeps it)."""
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
    now = utcnow()
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
