"""Deck CSV validation and the all-or-nothing import against MariaDB."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from controlplane.core.deck_csv import parse_deck
from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.models import AuditLog, Rate, RateDeck, Role
from controlplane.services.carriers import create_carrier
from controlplane.services.decks import export_deck, import_deck, set_default_deck
from controlplane.services.scope import Scope
from controlplane.state.deck_cache import DeckCache

GOOD = """prefix,destination,rate,initblock,billingblock,connectcharge
9,Turkey other,0.10,60,60,0
90,Turkey,0.05,30,6,0.01
905,Turkey mobile,0.12,1,1,0
"""


def test_header_is_optional_and_extra_columns_are_positional() -> None:
    result = parse_deck("44,UK,0.01,1,1,0,3,10,5,0.02\n")
    assert result.ok
    line = result.lines[0]
    assert (line.grace, line.free_seconds, line.surcharge_pct, line.rate_first) == (3, 10, D("5"), D("0.02"))


def test_header_may_name_extra_columns_in_any_order() -> None:
    text = "prefix,destination,rate,initblock,billingblock,connectcharge,rate_first,grace\n44,UK,0.01,1,1,0,0.5,4\n"
    line = parse_deck(text).lines[0]
    assert (line.rate_first, line.grace) == (D("0.5"), 4)


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = (
        "prefix,destination,rate,initblock,billingblock,connectcharge\n"
        "44,UK,0.01,1,1,0\n"
        "4a,bad prefix,0.01,1,1,0\n"
        "45,negative,-0.01,1,1,0\n"
        "46,not a number,abc,1,1,0\n"
        "44,duplicate,0.02,1,1,0\n"
        "47,short,0.01,1\n"
        "48,bad block,0.01,1.5,1,0\n"
        "\n"
        "49,Germany,0.01,1,1,0\n"
    )
    result = parse_deck(text)
    assert [n for n, _ in result.errors] == [3, 4, 5, 6, 7, 8]
    reasons = dict(result.errors)
    assert "prefix" in reasons[3]
    assert "negative" in reasons[4]
    assert "not a number" in reasons[5]
    assert "duplicate prefix 44 (first on line 2)" in reasons[6]
    assert "columns" in reasons[7]
    assert "initblock" in reasons[8]


def test_unknown_header_column_is_an_error() -> None:
    result = parse_deck("prefix,destination,rate,initblock,billingblock,connectcharge,colour\n")
    assert result.errors and result.errors[0][0] == 1


def count_rates(session, name: str) -> int:
    return session.scalar(select(func.count()).select_from(Rate).join(RateDeck).where(RateDeck.name == name))


def test_import_is_all_or_nothing_and_replaces_atomically(session) -> None:
    report = import_deck(session, Scope.operator(), "retail", GOOD.splitlines(keepends=True))
    session.commit()
    assert (report.rows, report.version) == (3, 1)
    with pytest.raises(Invalid) as err:
        import_deck(session, Scope.operator(), "retail", ["1,US,0.01,1,1,0\n", "2,bad,x,1,1,0\n"])
    session.rollback()
    assert err.value.errors == ["line 2: rate 'x' is not a number"]
    assert count_rates(session, "retail") == 3  # untouched
    report = import_deck(session, Scope.operator(), "retail", ["1,US,0.01,1,1,0\n"])
    session.commit()
    assert report.version == 2
    assert count_rates(session, "retail") == 1


def test_unknown_trunk_name_is_a_line_error_and_known_one_is_stored(session) -> None:
    create_carrier(session, Scope.operator(), name="carrA", host="192.0.2.1")
    text = (
        "prefix,destination,rate,initblock,billingblock,connectcharge,trunk\n"
        "1,US,0.01,1,1,0,carrA\n2,X,0.01,1,1,0,nope\n"
    )
    with pytest.raises(Invalid) as err:
        import_deck(session, Scope.operator(), "pinned", text.splitlines(keepends=True))
    assert err.value.errors == ["line 3: unknown trunk 'nope'"]
    import_deck(session, Scope.operator(), "pinned", text.splitlines(keepends=True)[:2])
    assert session.scalar(select(Rate.trunk_id).where(Rate.prefix == "1")) is not None


def test_export_round_trips(session) -> None:
    text = "".join(GOOD.splitlines(keepends=True)[1:]) + "44,UK,0.0123,1,1,0,5,10,2.5,0.02\n"
    import_deck(session, Scope.operator(), "retail", text.splitlines(keepends=True))
    exported = "".join(export_deck(session, Scope.operator(), "retail"))
    import_deck(session, Scope.operator(), "copy", exported.splitlines(keepends=True))
    assert sorted(_rows(session, "retail")) == sorted(_rows(session, "copy"))
    assert exported.splitlines()[0] == "prefix,destination,rate,initblock,billingblock,connectcharge,grace," \
        "free_seconds,surcharge,rate_first,trunk"


def _rows(session, name: str) -> list[tuple]:
    index = DeckCache(0).index(session, _id(session, name))
    return [(r.prefix, r.destination, r.rate, r.init_block, r.billing_block, r.connect_charge, r.grace,
             r.free_seconds, r.surcharge_pct, r.rate_first) for r in index.rows()]


def _id(session, name: str) -> int:
    return session.scalar(select(RateDeck.id).where(RateDeck.name == name))


def test_deck_cache_rebuilds_only_when_the_version_changes(session) -> None:
    import_deck(session, Scope.operator(), "retail", GOOD.splitlines(keepends=True))
    session.commit()
    now = [0.0]
    cache = DeckCache(check_interval=5, clock=lambda: now[0])
    deck_id = _id(session, "retail")
    assert cache.index(session, deck_id).lookup("905123").prefix == "905"
    assert cache.loads == 1
    import_deck(session, Scope.operator(), "retail", ["905,Turkey mobile,0.20,1,1,0\n"])
    session.commit()
    # Within the check interval the process keeps its index and asks nothing.
    assert cache.index(session, deck_id).lookup("90123") is not None
    now[0] = 6.0
    index = cache.index(session, deck_id)
    assert index.lookup("90123") is None
    assert index.lookup("905123").rate == D("0.20")
    assert cache.loads == 2
    now[0] = 12.0
    cache.index(session, deck_id)
    assert cache.loads == 2


def test_set_default_leaves_one_default_and_an_audit_entry(session) -> None:
    import_deck(session, Scope.operator(), "retail", GOOD.splitlines(keepends=True))
    import_deck(session, Scope.operator(), "fallback", GOOD.splitlines(keepends=True))
    set_default_deck(session, Scope.operator(), "retail")
    set_default_deck(session, Scope.operator("user:7"), "fallback")
    session.commit()
    assert session.scalars(select(RateDeck.name).where(RateDeck.is_default.is_(True))).all() == ["fallback"]
    entries = session.scalars(select(AuditLog).where(AuditLog.action == "deck.set_default").order_by(AuditLog.id))
    assert [(e.actor, e.entity, e.entity_id, e.details) for e in entries] == [
        ("cli", "rate_deck", str(_id(session, "retail")), {"name": "retail", "previous": []}),
        ("user:7", "rate_deck", str(_id(session, "fallback")), {"name": "fallback", "previous": ["retail"]}),
    ]


def test_set_default_of_a_missing_deck_is_not_found_and_a_tenant_scope_is_refused(session) -> None:
    import_deck(session, Scope.operator(), "retail", GOOD.splitlines(keepends=True))
    reseller = Scope(actor="user:3", role=Role.RESELLER, tenant_ids=frozenset({1}))
    with pytest.raises(NotFound, match="rate deck 'nope' not found"):
        set_default_deck(session, Scope.operator(), "nope")
    with pytest.raises(Forbidden, match="rate decks: operators only"):
        set_default_deck(session, reseller, "retail")
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 1  # the import's entry only
    assert not session.scalar(select(RateDeck.is_default).where(RateDeck.name == "retail"))
