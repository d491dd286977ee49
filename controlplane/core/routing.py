"""Least-cost routing: which carrier trunks to try for a number, in order.

Pure: callers hand in the trunks (with their buy-rate indexes) and the account's choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from controlplane.core.rating import PrefixIndex, RateRow


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    id: int
    name: str
    carrier: str
    priority: int = 10
    active: bool = True
    buy_deck: PrefixIndex | None = None
    strip_prefix: str = ""
    add_prefix: str = ""
    max_channels: int | None = None
    host: str = ""
    port: int = 5060


@dataclass(frozen=True, slots=True)
class Route:
    trunk: TrunkInfo
    source: str  # trunk_group | account_trunk | rate_trunk | lcr | default
    buy: RateRow | None

    @property
    def buy_rate(self) -> Decimal | None:
        return None if self.buy is None else self.buy.rate


@dataclass(frozen=True)
class RouteRequest:
    number: str
    trunk_group: Sequence[int] = ()  # the account's trunk group members, in order
    account_trunk: int | None = None
    rate_trunk: int | None = None
    default_trunk: int | None = None
    sell_rate: Decimal | None = None
    skip_unprofitable: bool = False


def lcr_order(req: RouteRequest, trunks: Mapping[int, TrunkInfo]) -> list[Route]:
    """Account's trunk group > account's trunk > the sell rate's trunk > carriers by buy rate
    then priority > default trunk. The first choice that yields an active trunk decides;
    inactive trunks are skipped so a dead pin falls through instead of failing the call.
    """

    def routes(ids: Sequence[int | None], source: str) -> list[Route]:
        found = []
        for trunk_id in ids:
            trunk = trunks.get(trunk_id) if trunk_id is not None else None
            if trunk is not None and trunk.active:
                found.append(Route(trunk, source, _buy_row(trunk, req.number)))
        return found

    for ids, source in (
        (req.trunk_group, "trunk_group"),
        ((req.account_trunk,), "account_trunk"),
        ((req.rate_trunk,), "rate_trunk"),
    ):
        if chosen := routes(ids, source):
            return chosen

    priced = []
    for trunk in trunks.values():
        if not trunk.active or trunk.buy_deck is None:
            continue
        buy = trunk.buy_deck.lookup(req.number)
        if buy is None:
            continue
        if req.skip_unprofitable and req.sell_rate is not None and buy.rate > req.sell_rate:
            continue
        priced.append(Route(trunk, "lcr", buy))
    if priced:
        priced.sort(key=lambda r: (r.buy.rate, r.trunk.priority, r.trunk.id))
        return priced
    return routes((req.default_trunk,), "default")


def _buy_row(trunk: TrunkInfo, number: str) -> RateRow | None:
    return trunk.buy_deck.lookup(number) if trunk.buy_deck is not None else None
