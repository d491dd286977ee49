"""Rating: longest-prefix match, the rate-source priority chain and the cost formula.

Pure functions over plain data. The controller, the quote command and re-rating all call
`price_call`, so a prepaid cut and a CDR's cost can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from controlplane.core.money import ZERO, round_money

SIXTY = Decimal(60)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class RateRow:
    prefix: str
    destination: str
    rate: Decimal  # per minute
    init_block: int = 1
    billing_block: int = 1
    connect_charge: Decimal = ZERO
    grace: int = 0
    free_seconds: int = 0
    surcharge_pct: Decimal = ZERO
    rate_first: Decimal | None = None  # per-minute rate of the initial block; defaults to `rate`
    trunk_id: int | None = None

    @property
    def first_rate(self) -> Decimal:
        return self.rate if self.rate_first is None else self.rate_first

    @property
    def init(self) -> int:
        return self.init_block or 1

    @property
    def block(self) -> int:
        return self.billing_block or 1


class PrefixIndex:
    """In-memory longest-prefix-match over one deck: a dict probe per distinct prefix length."""

    __slots__ = ("_rows", "_lengths")

    def __init__(self, rows: Iterable[RateRow] = ()) -> None:
        self._rows: dict[str, RateRow] = {row.prefix: row for row in rows}
        self._lengths = sorted({len(p) for p in self._rows}, reverse=True)

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, number: str) -> RateRow | None:
        get = self._rows.get
        size = len(number)
        for length in self._lengths:
            if length <= size:
                row = get(number[:length])
                if row is not None:
                    return row
        return None

    def rows(self) -> Iterable[RateRow]:
        return self._rows.values()


@dataclass(frozen=True, slots=True)
class OfferWindow:
    """An unlimited package: calls to `prefix` cost nothing while it is active."""

    name: str
    prefix: str
    starts_at: dt.datetime
    expires_at: dt.datetime

    def active(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.expires_at


@dataclass(frozen=True, slots=True)
class Margin:
    """One reseller level: what it adds on top of the price it pays."""

    tenant: str
    margin_pct: Decimal


@dataclass(frozen=True)
class RatingContext:
    """Where to look for a caller's rate, most specific first (see `find_rate`)."""

    currency: str = "USD"
    offers: Sequence[OfferWindow] = ()
    custom: PrefixIndex | None = None
    account_deck: PrefixIndex | None = None
    plan_decks: Sequence[PrefixIndex] = ()
    plan_markup_pct: Decimal = ZERO
    default_deck: PrefixIndex | None = None
    # Resellers from the operator's side down to the client's parent.
    margins: Sequence[Margin] = ()


@dataclass(frozen=True, slots=True)
class RateMatch:
    source: str  # offer | custom | account | plan | default
    row: RateRow
    markup_pct: Decimal = ZERO

    @property
    def free(self) -> bool:
        return self.source == "offer"


def find_rate(number: str, ctx: RatingContext, now: dt.datetime | None = None) -> RateMatch | None:
    """Priority: active offer > tenant custom rate > account deck > plan decks in order > default.

    The first source with any match wins; inside a source the longest prefix wins.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    best: OfferWindow | None = None
    for offer in ctx.offers:
        if number.startswith(offer.prefix) and offer.active(now):
            if best is None or len(offer.prefix) > len(best.prefix):
                best = offer
    if best is not None:
        return RateMatch("offer", RateRow(prefix=best.prefix, destination=best.name, rate=ZERO))
    for source, index in (("custom", ctx.custom), ("account", ctx.account_deck)):
        if index is not None and (row := index.lookup(number)) is not None:
            return RateMatch(source, row)
    for index in ctx.plan_decks:
        if (row := index.lookup(number)) is not None:
            return RateMatch("plan", row, ctx.plan_markup_pct)
    if ctx.default_deck is not None and (row := ctx.default_deck.lookup(number)) is not None:
        return RateMatch("default", row)
    return None


def charged_seconds(billsec: int, row: RateRow, answered: bool = True) -> int:
    """Seconds billed, per PortSIP's billing formula (seed 004, PRODUCT.md C-4).

    An unanswered call and one shorter than the grace period (`billsec < grace`) are free;
    otherwise the initial block, free seconds after it, then whole billing blocks. So with
    grace 0 an answered 0 s call pays its first block, and with grace 1 it does not.
    """
    billsec = max(billsec, 0)
    if not answered or billsec < row.grace:
        return 0
    init = row.init
    rest = billsec - init - row.free_seconds
    if rest <= 0:
        return init
    return init + -(-rest // row.block) * row.block


def billing_blocks(seconds: int, row: RateRow) -> int:
    """How many blocks `seconds` is made of: the initial block counts as one."""
    if seconds <= 0:
        return 0
    return 1 + (seconds - row.init) // row.block


def unrounded_cost(seconds: int, row: RateRow) -> Decimal:
    """Exact cost of `seconds` already-charged seconds at the row's base price."""
    if seconds <= 0:
        return ZERO
    init = row.init
    base = row.connect_charge + init * row.first_rate / SIXTY + (seconds - init) * row.rate / SIXTY
    return base * (1 + row.surcharge_pct / HUNDRED)


@dataclass(frozen=True, slots=True)
class LevelPrice:
    """The price one party in the chain pays: the operator's wholesale, then each reseller's."""

    level: str
    margin_pct: Decimal
    rate: Decimal  # per minute at this level
    cost: Decimal


@dataclass(frozen=True)
class CallPrice:
    match: RateMatch
    billsec: int
    charged_seconds: int
    billing_blocks: int
    chain: list[LevelPrice] = field(default_factory=list)

    @property
    def cost(self) -> Decimal:
        """What the caller's account is charged: the last level of the chain."""
        return self.chain[-1].cost

    @property
    def rate(self) -> Decimal:
        return self.chain[-1].rate


def level_factors(match: RateMatch, margins: Sequence[Margin]) -> list[tuple[str, Decimal, Decimal]]:
    """(level, margin %, multiplier on rate and connect charge) from wholesale down to the client."""
    factor = 1 + match.markup_pct / HUNDRED
    levels = [("wholesale", match.markup_pct, factor)]
    for margin in margins:
        factor = factor * (1 + margin.margin_pct / HUNDRED)
        levels.append((margin.tenant, margin.margin_pct, factor))
    return levels


def price_call(billsec: int, match: RateMatch, ctx: RatingContext, answered: bool | None = None) -> CallPrice:
    """Cost at every level of the chain for a call of `billsec` answered seconds, rounded once each.

    `answered` None means `billsec > 0`: a caller that cannot tell must not charge a call that
    may never have been answered; the CDR path knows and passes it.
    """
    row = match.row
    seconds = 0 if match.free else charged_seconds(billsec, row, billsec > 0 if answered is None else answered)
    base = unrounded_cost(seconds, row)
    chain = [
        LevelPrice(level, pct, row.rate * factor, round_money(base * factor, ctx.currency))
        for level, pct, factor in level_factors(match, ctx.margins)
    ]
    return CallPrice(match, billsec, seconds, billing_blocks(seconds, row), chain)


def client_factor(match: RateMatch, ctx: RatingContext) -> Decimal:
    """The multiplier on the base price that gives what the client pays (the chain's last level)."""
    return level_factors(match, ctx.margins)[-1][2]


def client_cost(billsec: int, match: RateMatch, ctx: RatingContext, factor: Decimal | None = None) -> Decimal:
    """`price_call(..., answered=True).cost` without building the chain: the hot path of shared-credit
    timers, which only price answered calls. Same arithmetic and the same single rounding."""
    if match.free:
        return round_money(ZERO, ctx.currency)
    base = unrounded_cost(charged_seconds(billsec, match.row), match.row)
    return round_money(base * (client_factor(match, ctx) if factor is None else factor), ctx.currency)
