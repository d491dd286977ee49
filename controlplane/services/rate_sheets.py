"""Rate sheets: what a tenant pays per destination (its plan's rows with the plan's markup and every reseller
margin above it applied), and the plans side by side for the public comparison page."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.money import round_money
from controlplane.core.rating import RateMatch, RateRow, level_factors
from controlplane.models import Plan, Tenant
from controlplane.services.pricing import rating_context
from controlplane.services.scope import Scope
from controlplane.state.deck_cache import DECKS

SHEET_ROWS = 200


@dataclass(frozen=True)
class SheetRow:
    prefix: str
    destination: str
    rate: Decimal  # per minute, as the tenant pays it
    connect_charge: Decimal
    init_block: int
    billing_block: int


def _matches(row: RateRow, search: str) -> bool:
    if not search:
        return True
    if search.isdigit():
        return row.prefix.startswith(search) or search.startswith(row.prefix)
    return search.lower() in row.destination.lower()


def _priced(row: RateRow, factor: Decimal, currency: str) -> SheetRow:
    return SheetRow(row.prefix, row.destination, round_money(row.rate * factor, currency),
                    round_money(row.connect_charge * factor, currency), row.init, row.block)


def tenant_sheet(session: Session, scope: Scope, tenant: Tenant, search: str = "") -> list[SheetRow]:
    """The tenant's plan as it pays it (first deck of the plan wins a prefix, as rating does), searched by
    prefix (or a number it would dial) or by destination name; at most SHEET_ROWS rows, by destination."""
    scope.require(tenant, tenant.id, f"tenant {tenant.id}")
    ctx = rating_context(session, tenant)
    search = (search or "").strip().lstrip("+")
    seen: set[str] = set()
    out: list[SheetRow] = []
    for deck in ctx.plan_decks:
        for row in deck.rows():
            if row.prefix in seen or not _matches(row, search):
                continue
            seen.add(row.prefix)
            factor = level_factors(RateMatch("plan", row, ctx.plan_markup_pct), ctx.margins)[-1][2]
            out.append(_priced(row, factor, ctx.currency))
    out.sort(key=lambda r: (r.destination, r.prefix))
    return out[:SHEET_ROWS]


@dataclass(frozen=True)
class Comparison:
    plans: list[str]
    rows: list[tuple[str, str, list[SheetRow | None]]]  # (prefix, destination, each plan's row or None)


def compare_plans(session: Session, search: str = "", limit: int = 50) -> Comparison:
    """Every plan's price per destination side by side (the operator's list prices: plan markup applied, no
    reseller margins). Public: plan names and prices are what the operator sells."""
    plans = list(session.scalars(select(Plan).order_by(Plan.name)))
    search = (search or "").strip().lstrip("+")
    per_plan: list[dict[str, SheetRow]] = []
    names: dict[str, str] = {}
    for plan in plans:
        rows: dict[str, SheetRow] = {}
        for link in plan.decks:
            for row in DECKS.index(session, link.deck_id).rows():
                if row.prefix in rows or not _matches(row, search):
                    continue
                factor = level_factors(RateMatch("plan", row, plan.markup_pct), ())[-1][2]
                rows[row.prefix] = _priced(row, factor, None)
                names.setdefault(row.prefix, row.destination)
        per_plan.append(rows)
    prefixes = sorted(names, key=lambda p: (names[p], p))[:limit]
    return Comparison([p.name for p in plans],
                      [(p, names[p], [rows.get(p) for rows in per_plan]) for p in prefixes])
