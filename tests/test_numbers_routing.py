"""E.164 normalization, prefix manipulation and the LCR trunk order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from controlplane.core.numbers import DialPlan, InvalidNumber, strip_then_add, to_e164, to_national
from controlplane.core.rating import PrefixIndex, RateRow
from controlplane.core.routing import RouteRequest, TrunkInfo, lcr_order

DE = DialPlan(country_code="49", international_prefix="00", national_prefix="0")
US = DialPlan(country_code="1", international_prefix="011", national_prefix="1")


@pytest.mark.parametrize(
    ("dialed", "plan", "expected"),
    [
        ("+49 30 1234567", DE, "49301234567"),
        ("0049301234567", DE, "49301234567"),
        ("030 1234567", DE, "49301234567"),
        ("(030) 123-4567", DE, "49301234567"),
        ("905551234567", DE, "905551234567"),
        ("011 44 20 7946 0000", US, "442079460000"),
        ("1 212 555 0100", US, "12125550100"),
    ],
)
def test_to_e164(dialed: str, plan: DialPlan, expected: str) -> None:
    assert to_e164(dialed, plan) == expected


def test_invalid_numbers_are_refused() -> None:
    for bad in ("", "+", "12a4", "++49"):
        with pytest.raises(InvalidNumber):
            to_e164(bad, DE)


def test_same_country_removal() -> None:
    assert to_national("49301234567", DE) == "0301234567"
    assert to_national("442079460000", DE) == "00442079460000"


def test_strip_then_add() -> None:
    assert strip_then_add("49301234567", "49", "0") == "0301234567"
    assert strip_then_add("49301234567", "", "99#") == "99#49301234567"
    assert strip_then_add("441234", "49", "") == "441234"


def buy(rate: str, prefix: str = "90") -> PrefixIndex:
    return PrefixIndex([RateRow(prefix=prefix, destination="x", rate=D(rate))])


TRUNKS = {
    1: TrunkInfo(1, "cheap", "A", priority=10, buy_deck=buy("0.02")),
    2: TrunkInfo(2, "tie-prio5", "B", priority=5, buy_deck=buy("0.03")),
    3: TrunkInfo(3, "tie-prio9", "C", priority=9, buy_deck=buy("0.03")),
    4: TrunkInfo(4, "dear", "D", priority=1, buy_deck=buy("0.09")),
    5: TrunkInfo(5, "dead", "E", priority=1, active=False, buy_deck=buy("0.001")),
    6: TrunkInfo(6, "fallback", "F"),
    7: TrunkInfo(7, "other-dest", "G", buy_deck=buy("0.001", prefix="44")),
}


def names(req: RouteRequest) -> list[str]:
    return [r.trunk.name for r in lcr_order(req, TRUNKS)]


def test_lcr_orders_by_buy_rate_then_priority_skipping_inactive() -> None:
    assert names(RouteRequest("905551234")) == ["cheap", "tie-prio5", "tie-prio9", "dear"]


def test_account_trunk_group_beats_everything() -> None:
    req = RouteRequest("905551234", trunk_group=[4, 5, 2], account_trunk=1, rate_trunk=3, default_trunk=6)
    routes = lcr_order(req, TRUNKS)
    assert [r.trunk.name for r in routes] == ["dear", "tie-prio5"]
    assert {r.source for r in routes} == {"trunk_group"}
    assert routes[0].buy_rate == D("0.09")


def test_account_trunk_then_rate_trunk() -> None:
    assert names(RouteRequest("905551234", account_trunk=3, rate_trunk=4)) == ["tie-prio9"]
    assert names(RouteRequest("905551234", rate_trunk=4)) == ["dear"]
    # A pinned trunk that is inactive falls through to the next choice.
    assert names(RouteRequest("905551234", account_trunk=5, rate_trunk=4)) == ["dear"]


def test_default_trunk_when_no_carrier_prices_the_number() -> None:
    assert names(RouteRequest("3312345", default_trunk=6)) == ["fallback"]
    assert names(RouteRequest("3312345")) == []


def test_skip_carriers_dearer_than_the_sell_rate() -> None:
    req = RouteRequest("905551234", sell_rate=D("0.03"), skip_unprofitable=True)
    assert names(req) == ["cheap", "tie-prio5", "tie-prio9"]
    assert names(RouteRequest("905551234", sell_rate=D("0.03"))) == ["cheap", "tie-prio5", "tie-prio9", "dear"]
