"""What the portal's dashboards show, read through the caller's Scope: today's traffic and money, the carriers'
answer-seizure ratio (ASR) and average call duration (ACD), low balances; for a tenant its balance, today, its top
destinations, recent calls and the last 30 days. Live counts come from the state the adapter hands in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.models import CarrierTrunk, Cdr, Tenant
from controlplane.services import cdr_reports
from controlplane.services.cdr_reports import CdrFilter, Totals
from controlplane.services.scope import Scope

LOW_BALANCE = Decimal("5")  # a tenant without its own threshold is low below this


@dataclass(frozen=True)
class CarrierToday:
    trunk: str
    calls: int
    answered: int
    asr: float  # answered / attempts, percent
    acd: float  # seconds per answered call


@dataclass
class OperatorView:
    today: Totals
    calls_now: int
    calls_per_second: float
    margin: Decimal | None
    carriers: list[CarrierToday] = field(default_factory=list)
    low_balances: list[Tenant] = field(default_factory=list)
    tenants: int = 0


@dataclass
class TenantView:
    tenant: Tenant
    today: Totals
    days: list[Totals]
    top_destinations: list[Totals]
    recent: list[Cdr]
    calls_now: int


def _day(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=1)


def operator_view(session: Session, scope: Scope, now: dt.datetime, calls_now: int) -> OperatorView:
    """The operator's (or a reseller's, over its subtree) day so far."""
    since, until = _day(now)
    today = cdr_reports.totals(session, scope, CdrFilter(since=since, until=until))
    last_minute = session.scalar(scope.restrict(select(func.count(Cdr.id)), Cdr.tenant_id)
                                 .where(Cdr.start_at >= now - dt.timedelta(seconds=60), Cdr.start_at <= now)) or 0
    view = OperatorView(today, calls_now, last_minute / 60,
                        today.cost - today.buy_cost if today.buy_cost is not None else None)
    if scope.everything:
        names = dict(session.execute(select(CarrierTrunk.id, CarrierTrunk.name)).all())
        for t in cdr_reports.summary(session, scope, CdrFilter(since=since, until=until), "trunk"):
            if t.key is None:
                continue
            view.carriers.append(CarrierToday(names.get(t.key, f"trunk {t.key}"), t.calls, t.answered,
                                              100.0 * t.answered / t.calls if t.calls else 0.0,
                                              t.billsec / t.answered if t.answered else 0.0))
    threshold = func.coalesce(Tenant.low_balance_threshold, LOW_BALANCE)
    stmt = scope.restrict(select(Tenant), Tenant.id).where(Tenant.balance + Tenant.credit_limit < threshold)
    if scope.home is not None:
        stmt = stmt.where(Tenant.id != scope.home)
    view.low_balances = list(session.scalars(stmt.order_by(Tenant.balance).limit(10)))
    view.tenants = session.scalar(scope.restrict(select(func.count(Tenant.id)), Tenant.id)) or 0
    return view


def tenant_view(session: Session, scope: Scope, tenant: Tenant, now: dt.datetime, calls_now: int) -> TenantView:
    """A tenant's own dashboard (a normal user's: its own account's calls)."""
    since, until = _day(now)
    mine = CdrFilter(since=since, until=until, tenant_id=tenant.id)
    month = CdrFilter(since=since - dt.timedelta(days=29), until=until, tenant_id=tenant.id)
    days = {t.key: t for t in cdr_reports.summary(session, scope, month, "day")}
    series = []
    for offset in range(29, -1, -1):
        key = (since - dt.timedelta(days=offset)).date().isoformat()
        series.append(days.get(key) or Totals(0, 0, 0, Decimal(0), None, key))
    top = sorted(cdr_reports.summary(session, scope, month, "destination"), key=lambda t: (-t.cost, -t.calls))[:5]
    recent = cdr_reports.page_cdrs(session, scope, CdrFilter(tenant_id=tenant.id), limit=5).items
    return TenantView(tenant, cdr_reports.totals(session, scope, mine), series, top, recent, calls_now)
