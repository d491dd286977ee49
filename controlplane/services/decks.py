"""Import and export rate decks; an import replaces the deck atomically or changes nothing."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from controlplane.core.deck_csv import COLUMNS, DeckLine, parse_deck
from controlplane.core.money import plain
from controlplane.errors import Invalid, NotFound, refuse
from controlplane.models import CarrierTrunk, DeckKind, Plan, PlanDeck, Rate, RateDeck, SipAccount, Tenant
from controlplane.services import audit
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope
from controlplane.state import config_version

Progress = Callable[[int, int], None]
BATCH = 5000


@dataclass(frozen=True)
class ImportReport:
    deck_id: int
    name: str
    rows: int
    version: int


def get_deck(session: Session, name: str) -> RateDeck:
    deck = session.scalar(select(RateDeck).where(RateDeck.name == name))
    if deck is None:
        raise NotFound(f"rate deck {name!r} not found")
    return deck


def set_default_deck(session: Session, scope: Scope, name: str) -> RateDeck:
    """Make `name` the deck that rates a number nothing more specific rates (the only default).

    Decks are operator-wide: only an operator changes them.
    """
    scope.require_operator("rate decks")
    deck = session.scalar(select(RateDeck).where(RateDeck.name == name))
    scope.require(deck, None, f"rate deck {name!r}")
    previous = session.scalars(select(RateDeck.name).where(RateDeck.is_default.is_(True), RateDeck.id != deck.id))
    previous_names = sorted(previous)
    session.execute(update(RateDeck).values(is_default=False))
    deck.is_default = True
    audit.record(session, scope.actor, "deck.set_default", "rate_deck", deck.id,
                 details={"name": name, "previous": previous_names})
    session.flush()
    return deck


def delete_deck(session: Session, scope: Scope, name: str) -> None:
    """Delete a deck nothing rates or buys with, and its rows. Refused (Conflict) while a plan lists it, a carrier
    trunk buys with it, an account or a tenant has it as its own deck, or it is the default deck."""
    scope.require_operator("rate decks")
    deck = get_deck(session, name)
    conflicts: dict[str, str] = {}
    named_by = (
        ("plans", "listed by plan(s)", select(Plan.name).join(PlanDeck, PlanDeck.plan_id == Plan.id)
         .where(PlanDeck.deck_id == deck.id).order_by(Plan.name)),
        ("trunks", "the buy deck of carrier trunk(s)", select(CarrierTrunk.name)
         .where(CarrierTrunk.buy_deck_id == deck.id).order_by(CarrierTrunk.name)),
        ("tenants", "the custom rates of tenant(s)", select(Tenant.name)
         .where(Tenant.custom_deck_id == deck.id).order_by(Tenant.name)),
    )
    for field, what, query in named_by:
        names = list(session.scalars(query.limit(6)))
        if names:
            conflicts[field] = f"{what} {', '.join(names[:5])}{' and more' if len(names) > 5 else ''}"
    accounts = session.scalar(select(func.count()).select_from(SipAccount).where(SipAccount.rate_deck_id == deck.id))
    if accounts:
        conflicts["sip_accounts"] = f"the rate deck of {accounts} SIP account(s)"
    if deck.is_default:
        conflicts["is_default"] = "the default deck: make another deck the default first"
    refuse({}, conflicts)
    rows = session.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id))
    before = {"name": deck.name, "kind": deck.kind.value, "currency": deck.currency, "version": deck.version,
              "rows": rows}
    session.execute(delete(Rate).where(Rate.deck_id == deck.id))
    config_version.changed(session)  # the rows go with a bulk statement, as an import replaces them
    deck_id = deck.id
    session.delete(deck)
    session.flush()
    audit.record(session, scope.actor, "deck.delete", "rate_deck", deck_id, details={"before": before, "after": None})


def import_deck(
    session: Session,
    scope: Scope,
    name: str,
    source: Iterable[str],
    *,
    kind: DeckKind = DeckKind.SELL,
    currency: str = "USD",
    progress: Progress | None = None,
) -> ImportReport:
    """Validate all lines, then replace the deck's rows and bump its version in one transaction."""
    scope.require_operator("rate decks")
    parsed = parse_deck(source)
    trunk_ids = _resolve_trunks(session, parsed.lines, parsed.errors)
    if parsed.errors:
        parsed.errors.sort()
        raise Invalid([f"line {n}: {reason}" for n, reason in parsed.errors],
                      f"{len(parsed.errors)} bad line(s); nothing imported")
    deck = session.scalar(select(RateDeck).where(RateDeck.name == name).with_for_update())
    if deck is None:
        deck = RateDeck(name=name, kind=kind, currency=currency, version=1)
        session.add(deck)
        session.flush()
    else:
        session.execute(delete(Rate).where(Rate.deck_id == deck.id))
        deck.version = (deck.version or 0) + 1
    total = len(parsed.lines)
    config_version.changed(session)  # the rows go in as Core inserts, which the session does not see
    conn = session.connection()
    insert = Rate.__table__.insert()
    for start in range(0, total, BATCH):
        chunk = parsed.lines[start : start + BATCH]
        conn.execute(insert, [_rate_values(deck.id, line, trunk_ids) for line in chunk])
        if progress:
            progress(min(start + BATCH, total), total)
    audit.record(session, scope.actor, "deck.import", "rate_deck", deck.id, details={"rows": total, "name": name})
    session.flush()
    return ImportReport(deck.id, name, total, deck.version)


def _resolve_trunks(session: Session, lines: list[DeckLine], errors: list[tuple[int, str]]) -> dict[str, int]:
    names = {line.trunk for line in lines if line.trunk}
    if not names:
        return {}
    query = select(CarrierTrunk.name, CarrierTrunk.id).where(CarrierTrunk.name.in_(names))
    known = {trunk_name: trunk_id for trunk_name, trunk_id in session.execute(query)}
    errors.extend((line.line, f"unknown trunk {line.trunk!r}") for line in lines
                  if line.trunk and line.trunk not in known)
    return known


def _rate_values(deck_id: int, line: DeckLine, trunk_ids: dict[str, int]) -> dict:
    return {
        "deck_id": deck_id, "prefix": line.prefix, "destination": line.destination, "rate": line.rate,
        "rate_first": line.rate_first, "init_block": line.init_block, "billing_block": line.billing_block,
        "connect_charge": line.connect_charge, "grace": line.grace, "free_seconds": line.free_seconds,
        "surcharge_pct": line.surcharge_pct, "trunk_id": trunk_ids.get(line.trunk) if line.trunk else None,
    }


def export_deck(session: Session, scope: Scope, name: str) -> Iterator[str]:
    """The deck as CSV lines (with header), in prefix order, re-importable as is."""
    scope.require_operator("rate decks")
    deck = get_deck(session, name)
    trunk_names = {tid: tname for tid, tname in session.execute(select(CarrierTrunk.id, CarrierTrunk.name))}
    buffer = _LineBuffer()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.take()
    rows = session.execute(select(Rate).where(Rate.deck_id == deck.id).order_by(Rate.prefix)).scalars()
    for r in rows:
        writer.writerow([
            r.prefix, r.destination, plain(r.rate), r.init_block, r.billing_block,
            plain(r.connect_charge), r.grace, r.free_seconds, plain(r.surcharge_pct),
            plain(r.rate_first), trunk_names.get(r.trunk_id, "") if r.trunk_id else "",
        ])
        yield buffer.take()


class _LineBuffer:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


def list_decks(session: Session, scope: Scope) -> list[RateDeck]:
    scope.require_operator("rate decks")
    return list(session.scalars(select(RateDeck).order_by(RateDeck.id)))


def page_rates(session: Session, scope: Scope, deck_name: str, *, prefix: str | None = None,
               destination: str | None = None, after: int | None = None, limit: int = 50) -> Page[Rate]:
    """A deck's rates: those whose prefix starts with `prefix` (or, given a whole number, the rows that would rate
    it: every prefix of it), or whose destination contains `destination`."""
    scope.require_operator("rate decks")
    deck = get_deck(session, deck_name)
    stmt = select(Rate).where(Rate.deck_id == deck.id)
    if prefix:
        if not prefix.isdigit():
            raise Invalid({"prefix": "digits only"})
        stmt = stmt.where(Rate.prefix.like(f"{prefix}%") | Rate.prefix.in_([prefix[:i] for i in range(1, len(prefix))]))
    if destination:
        stmt = stmt.where(Rate.destination.like(f"%{destination}%"))
    return keyset(session, stmt, Rate.id, after=after, limit=limit)


def set_custom_rates(session: Session, scope: Scope, tenant: Tenant, lines: Iterable[str]) -> ImportReport:
    """A tenant's own rates (a deck of its own, `custom:<tenant id>`), matched before its plan's decks."""
    scope.require_operator("custom rates")
    report = import_deck(session, scope, f"custom:{tenant.id}", lines, currency=tenant.currency)
    before, tenant.custom_deck_id = tenant.custom_deck_id, report.deck_id
    session.flush()
    audit.record(session, scope.actor, "tenant.custom_rates", "tenant", tenant.id, tenant.id,
                 {"before": {"custom_deck_id": before}, "after": {"custom_deck_id": report.deck_id},
                  "rows": report.rows})
    return report


def clear_custom_rates(session: Session, scope: Scope, tenant: Tenant) -> None:
    scope.require_operator("custom rates")
    if tenant.custom_deck_id is None:
        return
    before, tenant.custom_deck_id = tenant.custom_deck_id, None
    session.flush()
    audit.record(session, scope.actor, "tenant.custom_rates", "tenant", tenant.id, tenant.id,
                 {"before": {"custom_deck_id": before}, "after": {"custom_deck_id": None}})
