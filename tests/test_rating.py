"""The rating core: prefix match, source priority, the cost formula's edges, the margin chain."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from controlplane.core.rating import (
    Margin,
    OfferWindow,
    PrefixIndex,
    RateMatch,
    RateRow,
    RatingContext,
    billing_blocks,
    charged_seconds,
    client_cost,
    find_rate,
    price_call,
)

NOW = dt.datetime(2026, 11, 22, 12, 0)


def row(prefix: str = "1", rate: str = "0.60", **kw) -> RateRow:
    return RateRow(prefix=prefix, destination=kw.pop("destination", f"dest {prefix}"), rate=D(rate), **kw)


def cost(billsec: int, r: RateRow, currency: str = "USD") -> D:
    return price_call(billsec, RateMatch("plan", r), RatingContext(currency=currency)).cost


def test_longest_prefix_wins() -> None:
    index = PrefixIndex([row("9"), row("90"), row("905")])
    assert index.lookup("905551234567").prefix == "905"
    assert index.lookup("901234").prefix == "90"
    assert index.lookup("91").prefix == "9"
    assert index.lookup("8") is None
    assert index.lookup("") is None


def test_prefix_longer_than_number_is_not_a_match() -> None:
    assert PrefixIndex([row("4930")]).lookup("493") is None


@pytest.mark.parametrize(
    ("billsec", "expected"),
    [(0, 30), (1, 30), (30, 30), (31, 36), (36, 36), (37, 42), (60, 60), (61, 66)],
)
def test_charged_seconds_initial_then_whole_blocks(billsec: int, expected: int) -> None:
    assert charged_seconds(billsec, row(init_block=30, billing_block=6)) == expected


def test_exact_block_boundary_is_not_charged_an_extra_block() -> None:
    r = row(init_block=60, billing_block=60)
    assert charged_seconds(120, r) == 120
    assert charged_seconds(121, r) == 180
    assert billing_blocks(120, r) == 2


def answered_cost(billsec: int, r: RateRow, answered: bool = True) -> D:
    return price_call(billsec, RateMatch("plan", r), RatingContext(), answered=answered).cost


def test_calls_shorter_than_grace_are_free_and_grace_itself_is_charged() -> None:
    # PortSIP's formula (seed 004): "Calls with durations of less than this value are not charged".
    r = row(rate="1.20", init_block=1, billing_block=1, grace=5)
    assert charged_seconds(4, r) == 0
    assert answered_cost(4, r) == D("0")
    assert charged_seconds(5, r) == 5
    assert answered_cost(5, r) == D("0.1000")
    assert answered_cost(6, r) == D("0.1200")


def test_grace_zero_charges_an_answered_zero_second_call_its_connect_fee_and_first_block() -> None:
    r = row(rate="0.60", init_block=30, billing_block=6, connect_charge=D("0.05"))
    assert charged_seconds(0, r) == 30
    price = price_call(0, RateMatch("plan", r), RatingContext(), answered=True)
    assert (price.charged_seconds, price.billing_blocks) == (30, 1)
    assert price.cost == D("0.3500")  # 0.05 + 30 x 0.60 / 60


def test_grace_one_makes_an_answered_zero_second_call_free() -> None:
    r = row(rate="0.60", init_block=30, billing_block=6, connect_charge=D("0.05"), grace=1)
    assert charged_seconds(0, r) == 0
    assert answered_cost(0, r) == D("0")
    assert answered_cost(1, r) == D("0.3500")


@pytest.mark.parametrize("billsec", [0, 1, 60])
def test_unanswered_call_is_never_charged(billsec: int) -> None:
    r = row(connect_charge=D("0.10"))
    assert charged_seconds(billsec, r, answered=False) == 0
    assert answered_cost(billsec, r, answered=False) == D("0")


def test_cdr_record_bills_by_its_disposition() -> None:
    from controlplane.core.cdr import CallRecord

    match, context = RateMatch("plan", row(connect_charge=D("0.10"))), RatingContext()
    answered = CallRecord(uuid="a", direction="outbound", billsec=0, disposition="ANSWERED")
    assert answered.bill(match, context).cost == D("0.1100")  # 0.10 + 1 s x 0.60 / 60
    missed = CallRecord(uuid="m", direction="outbound", billsec=0, disposition="NO ANSWER")
    assert missed.bill(match, context).cost == D("0")


def test_free_seconds_come_off_after_the_initial_block() -> None:
    r = row(rate="0.60", init_block=10, billing_block=10, free_seconds=20)
    assert charged_seconds(30, r) == 10  # 30 <= 10 + 20
    assert charged_seconds(31, r) == 20  # 10 + ceil(1/10)*10
    assert cost(31, r) == D("0.2000")


def test_zero_blocks_mean_one_second() -> None:
    r = row(rate="0.60", init_block=0, billing_block=0)
    assert charged_seconds(7, r) == 7
    assert billing_blocks(7, r) == 7
    assert cost(7, r) == D("0.0700")


def test_connect_charge_rate_first_and_surcharge() -> None:
    r = row(rate="0.60", rate_first=D("1.20"), init_block=60, billing_block=30, connect_charge=D("0.05"),
            surcharge_pct=D("10"))
    # (0.05 + 60*1.20/60 + 30*0.60/60) * 1.10 = (0.05 + 1.20 + 0.30) * 1.1 = 1.705
    assert cost(61, r) == D("1.7050")


def test_rounding_happens_once_half_up_at_currency_precision() -> None:
    r = row(rate="0.00003", init_block=1, billing_block=1)
    # 5 s at 0.00003/min = 0.0000025 -> 0.0000 (half up at 4 places would need 0.00005)
    assert cost(5, r) == D("0.0000")
    r2 = row(rate="0.0003", init_block=1, billing_block=1)
    # 10 s -> 0.00005 exactly -> rounds half up to 0.0001
    assert cost(10, r2) == D("0.0001")
    # per-second costs summed unrounded, not rounded per block: 7 * 0.000005 = 0.000035 -> 0.0000
    assert cost(1, r2) == D("0.0000")


def test_price_call_without_answered_treats_zero_seconds_as_unanswered() -> None:
    assert cost(0, row(connect_charge=D("0.10"))) == D("0")


def test_no_float_anywhere() -> None:
    price = price_call(61, RateMatch("plan", row()), RatingContext())
    assert all(isinstance(level.cost, D) and isinstance(level.rate, D) for level in price.chain)


def ctx(**kw) -> RatingContext:
    return RatingContext(**kw)


def test_priority_offer_custom_account_plan_default() -> None:
    custom = PrefixIndex([row("4930", destination="custom")])
    account = PrefixIndex([row("493", destination="account")])
    plan_a = PrefixIndex([row("49", destination="plan A")])
    plan_b = PrefixIndex([row("4930555", destination="plan B")])
    default = PrefixIndex([row("4", destination="default")])
    offer = OfferWindow("DE flat", "49", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=29))
    full = ctx(offers=[offer], custom=custom, account_deck=account, plan_decks=[plan_a, plan_b],
               default_deck=default)
    number = "4930555123"
    assert find_rate(number, full, NOW).source == "offer"
    assert find_rate(number, ctx(custom=custom, account_deck=account, plan_decks=[plan_a], default_deck=default),
                     NOW).row.destination == "custom"
    assert find_rate(number, ctx(account_deck=account, plan_decks=[plan_a]), NOW).source == "account"
    # Plan decks in order: the first deck with any match wins, even if a later deck has a longer prefix.
    match = find_rate(number, ctx(plan_decks=[plan_a, plan_b], default_deck=default), NOW)
    assert (match.source, match.row.destination) == ("plan", "plan A")
    assert find_rate(number, ctx(plan_decks=[PrefixIndex([row("1")])], default_deck=default), NOW).source == "default"
    assert find_rate(number, ctx(plan_decks=[PrefixIndex([row("1")])]), NOW) is None


def test_offer_only_while_active_and_costs_zero() -> None:
    offer = OfferWindow("flat", "49", NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=31))
    plan = PrefixIndex([row("49")])
    assert find_rate("4930", ctx(offers=[offer], plan_decks=[plan]), NOW).source == "plan"
    later = NOW + dt.timedelta(days=2)
    context = ctx(offers=[offer], plan_decks=[plan])
    match = find_rate("4930", context, later)
    assert match.source == "offer"
    assert price_call(3600, match, context).cost == D("0")
    assert find_rate("4930", context, NOW + dt.timedelta(days=31)).source == "plan"


def test_markup_and_reseller_margins_stack_per_level() -> None:
    r = row("44", rate="1.00", init_block=60, billing_block=60, connect_charge=D("0.10"))
    context = ctx(plan_markup_pct=D("10"), margins=[Margin("res-top", D("20")), Margin("res-sub", D("5"))])
    price = price_call(60, RateMatch("plan", r, D("10")), context)
    # base (0.10 + 1.00) -> wholesale x1.1 -> x1.2 -> x1.05
    assert [lv.level for lv in price.chain] == ["wholesale", "res-top", "res-sub"]
    assert [lv.cost for lv in price.chain] == [D("1.2100"), D("1.4520"), D("1.5246")]
    assert price.chain[-1].rate == D("1.00") * D("1.1") * D("1.2") * D("1.05")
    assert price.cost == D("1.5246")


def test_custom_rate_takes_no_plan_markup() -> None:
    context = ctx(custom=PrefixIndex([row("44", rate="1.20")]), plan_markup_pct=D("50"))
    match = find_rate("4420", context, NOW)
    assert price_call(60, match, context).cost == D("1.2000")


def test_credit_deadline_agrees_with_the_charge() -> None:
    from controlplane.core.credit import RunningCall, deadline

    r = row(rate="0.60", init_block=30, billing_block=6)
    context = ctx()
    match = RateMatch("plan", r)
    cut = deadline(D("0.50"), [RunningCall("u", 0.0, match, context)], now=0.0) - 0.5
    limit = int(cut)
    assert price_call(limit, match, context).cost <= D("0.50")
    assert price_call(limit + 1, match, context).cost > D("0.50")
    assert limit == 48  # 48 s -> 48 charged -> 0.48; 49 s -> 54 charged -> 0.54


def test_first_block_decides_whether_a_call_may_start() -> None:
    from controlplane.core.credit import first_block_cost

    r = row(rate="0.60", init_block=60, billing_block=60)
    assert first_block_cost(RateMatch("plan", r), ctx()) == D("0.60")
    assert first_block_cost(RateMatch("plan", r), ctx()) > D("0.59")
    # The first charged second is `grace` itself: with grace 60 that is already a second block.
    graced = row(rate="0.60", init_block=30, billing_block=30, grace=60)
    assert first_block_cost(RateMatch("plan", graced), ctx()) == D("0.60")


@pytest.mark.parametrize("billsec", [0, 1, 5, 29, 30, 31, 61, 3599])
def test_client_cost_is_the_chain_last_level(billsec: int) -> None:
    r = row(rate="0.0731", rate_first=D("0.11"), init_block=30, billing_block=6, connect_charge=D("0.013"),
            grace=3, free_seconds=4, surcharge_pct=D("7.5"))
    context = ctx(plan_markup_pct=D("12.5"), margins=[Margin("r1", D("20")), Margin("r2", D("3.3"))])
    match = RateMatch("plan", r, D("12.5"))
    assert client_cost(billsec, match, context) == price_call(billsec, match, context, answered=True).cost
