"""Plans: rate decks in priority order plus a markup."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.money import to_decimal
from controlplane.errors import refuse
from controlplane.models import Plan, PlanDeck, RateDeck
from controlplane.services import audit
from controlplane.services.scope import Scope


def create_plan(
    session: Session, scope: Scope, *, name: str, decks: list[str], markup_pct: Decimal | str = "0"
) -> Plan:
    scope.require_operator("plans")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "required"
    elif session.scalar(select(Plan.id).where(Plan.name == name)):
        conflicts["name"] = f"{name!r} exists already"
    if not decks:
        errors["deck"] = "at least one rate deck"
    if len(set(decks)) != len(decks):
        errors["deck"] = "a deck may appear once"
    found = {d.name: d for d in session.scalars(select(RateDeck).where(RateDeck.name.in_(decks)))}
    missing = [d for d in decks if d not in found]
    if missing:
        errors["deck"] = f"rate deck(s) not found: {', '.join(missing)}"
    try:
        markup = to_decimal(markup_pct, "markup")
        if markup < 0:
            errors["markup"] = "must not be negative"
    except ValueError as exc:
        errors["markup"] = str(exc)
    refuse(errors, conflicts)
    plan = Plan(name=name, markup_pct=markup)
    plan.decks = [PlanDeck(deck_id=found[d].id, position=i) for i, d in enumerate(decks)]
    session.add(plan)
    session.flush()
    audit.record(session, scope.actor, "plan.create", "plan", plan.id, details={"decks": decks, "markup": str(markup)})
    return plan


def list_plans(session: Session, scope: Scope) -> list[Plan]:
    scope.require_operator("plans")
    return list(session.scalars(select(Plan).order_by(Plan.id)))
