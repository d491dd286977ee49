"""Plans: rate decks in priority order plus a markup."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.core.money import plain, to_decimal
from controlplane.errors import Conflict, NotFound, refuse
from controlplane.models import Plan, PlanDeck, RateDeck, Tenant
from controlplane.services import audit
from controlplane.services.scope import Scope

NAME_MAX = 128
MARKUP_BELOW = Decimal(100000)  # the column: NUMERIC(9, 4)


def create_plan(
    session: Session, scope: Scope, *, name: str, decks: list[str], markup_pct: Decimal | str = "0"
) -> Plan:
    scope.require_operator("plans")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name, markup, deck_rows = _checked(session, errors, conflicts, name=name, decks=decks, markup_pct=markup_pct)
    refuse(errors, conflicts)
    plan = Plan(name=name, markup_pct=markup)
    plan.decks = deck_rows
    session.add(plan)
    session.flush()
    audit.record(session, scope.actor, "plan.create", "plan", plan.id, details={"decks": decks, "markup": str(markup)})
    return plan


def _checked(session: Session, errors: dict[str, str], conflicts: dict[str, str], *, name: str, decks: list[str],
             markup_pct: Decimal | str, plan: Plan | None = None) -> tuple[str, Decimal, list[PlanDeck]]:
    """A plan's name, markup and deck rows (in order) from checked fields: for a new plan, or for `plan` with its
    changes applied (its own name is no conflict, its rows are kept for decks it lists already). What is wrong
    goes into `errors` / `conflicts`. The one set of plan rules."""
    name = (name or "").strip()
    if not name:
        errors["name"] = "required"
    elif len(name) > NAME_MAX:
        errors["name"] = f"at most {NAME_MAX} characters"
    elif session.scalar(select(Plan.id).where(Plan.name == name, *([Plan.id != plan.id] if plan else []))):
        conflicts["name"] = f"{name!r} exists already"
    found = {d.name: d for d in session.scalars(select(RateDeck).where(RateDeck.name.in_(decks)))}
    if not decks:
        errors["decks"] = "at least one rate deck"
    elif len(set(decks)) != len(decks):
        errors["decks"] = "a deck may appear once"
    elif missing := [d for d in decks if d not in found]:
        errors["decks"] = f"rate deck(s) not found: {', '.join(missing)}"
    markup = Decimal(0)
    try:
        markup = to_decimal(markup_pct, "markup_pct")
        if markup < 0:
            errors["markup_pct"] = "must not be negative"
        elif markup >= MARKUP_BELOW:
            errors["markup_pct"] = f"below {MARKUP_BELOW}"
    except ValueError as exc:
        errors["markup_pct"] = str(exc)
    rows: list[PlanDeck] = []
    if not errors and not conflicts:  # nothing of a refused change touches the plan's rows
        kept = {row.deck_id: row for row in plan.decks} if plan is not None else {}
        for position, deck in enumerate(decks):
            row = kept.get(found[deck].id) or PlanDeck(deck_id=found[deck].id)
            row.position = position
            rows.append(row)
    return name, markup, rows


def list_plans(session: Session, scope: Scope) -> list[Plan]:
    scope.require_operator("plans")
    return list(session.scalars(select(Plan).order_by(Plan.id)))


def get_plan(session: Session, scope: Scope, plan_id: int) -> Plan:
    scope.require_operator("plans")
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    return plan


def deck_names(session: Session, plan: Plan) -> list[str]:
    """The plan's decks by name, first match first."""
    names = dict(session.execute(select(RateDeck.id, RateDeck.name).where(
        RateDeck.id.in_([row.deck_id for row in plan.decks]))).all())
    return [names[row.deck_id] for row in plan.decks]


def update_plan(session: Session, scope: Scope, plan: Plan, changes: dict) -> Plan:
    """Change a plan's name, decks (the whole list, in order) or markup, checked as a new plan is; audited with
    before and after when anything changed."""
    scope.require_operator("plans")
    errors = {field: "cannot be changed" for field in changes if field not in ("name", "decks", "markup_pct")}
    conflicts: dict[str, str] = {}
    before = {"name": plan.name, "decks": deck_names(session, plan), "markup_pct": plain(plan.markup_pct)}
    name, markup, rows = _checked(session, errors, conflicts, name=changes.get("name", plan.name),
                                  decks=list(changes.get("decks", before["decks"])),
                                  markup_pct=changes.get("markup_pct", plan.markup_pct), plan=plan)
    refuse(errors, conflicts)
    after = {"name": name, "decks": list(changes.get("decks", before["decks"])), "markup_pct": plain(markup)}
    changed = [field for field in before if before[field] != after[field]]
    if not changed:
        return plan
    plan.name, plan.markup_pct, plan.decks = name, markup, rows
    session.flush()
    audit.record(session, scope.actor, "plan.update", "plan", plan.id, details={
        "before": {f: before[f] for f in changed}, "after": {f: after[f] for f in changed}})
    return plan


def delete_plan(session: Session, scope: Scope, plan: Plan) -> None:
    """Delete a plan no tenant is on (Conflict otherwise: move those tenants to another plan first)."""
    scope.require_operator("plans")
    users = list(session.scalars(select(Tenant.name).where(Tenant.plan_id == plan.id).order_by(Tenant.name).limit(5)))
    if users:
        count = session.scalar(select(func.count()).select_from(Tenant).where(Tenant.plan_id == plan.id))
        more = f" and {count - len(users)} more" if count > len(users) else ""
        raise Conflict({"tenants": f"tenant(s) {', '.join(users)}{more} are on it: move them to another plan first"})
    before = {"name": plan.name, "decks": deck_names(session, plan), "markup_pct": plain(plan.markup_pct)}
    plan_id = plan.id
    session.delete(plan)
    session.flush()
    audit.record(session, scope.actor, "plan.delete", "plan", plan_id, details={"before": before, "after": None})
