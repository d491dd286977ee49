"""Credit shared by concurrent calls: when must every running call of an account end.

Pure. All of an account's answered calls draw on one budget; the deadline is the last whole
second at which the sum of their costs (by the same `price_call` used for the CDR) still fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from controlplane.core.money import ZERO, precision_for
from controlplane.core.rating import HUNDRED, SIXTY, RateMatch, RatingContext, client_cost, client_factor, price_call

HORIZON = 86_400  # no call runs longer than a day without a fresh decision


@dataclass(frozen=True, slots=True)
class RunningCall:
    uuid: str
    answered_at: float | None  # epoch seconds; None while ringing
    match: RateMatch
    ctx: RatingContext
    factor: Decimal | None = None  # client_factor(match, ctx), precomputed by whoever builds many

    def cost_at(self, t: float) -> Decimal:
        if self.answered_at is None or self.match.free:
            return ZERO
        return client_cost(max(0, math.floor(t - self.answered_at)), self.match, self.ctx, self.factor)


def budget(balance: Decimal, credit_limit: Decimal = ZERO, postpaid: bool = False,
           monthly_cap: Decimal | None = None, spent_this_month: Decimal = ZERO) -> Decimal:
    """Money the account may still spend: balance (+ credit limit when postpaid), within the cap."""
    money = balance + (credit_limit if postpaid else ZERO)
    if monthly_cap is not None:
        money = min(money, monthly_cap - spent_this_month)
    return money


def spent_by(calls: Sequence[RunningCall], t: float) -> Decimal:
    return sum((c.cost_at(t) for c in calls), ZERO)


def deadline(money: Decimal, calls: Sequence[RunningCall], now: float, resolution: float = 0.01) -> float | None:
    """The first moment the account's answered calls together would cost more than `money`.

    Cutting every call just before it keeps each one inside the last billable second it can
    pay for; None when nothing is billable. Costs only rise, so a binary search finds it.
    """
    billable = [c for c in calls if c.answered_at is not None and not c.match.free]
    if not billable:
        return None
    if spent_by(billable, now) > money:
        return now
    if spent_by(billable, now + HORIZON) <= money:
        return now + HORIZON
    lo, hi = 0, int(HORIZON / resolution)  # spent(lo) <= money < spent(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if spent_by(billable, now + mid * resolution) <= money:
            lo = mid
        else:
            hi = mid
    return now + hi * resolution


def available_for_new_call(money: Decimal, calls: Sequence[RunningCall], now: float) -> Decimal:
    """Credit left for one more call: minus what answered calls have used by now and the first
    block each still-ringing call will cost when it is answered."""
    ringing = sum((first_block_cost(c.match, c.ctx) for c in calls if c.answered_at is None), ZERO)
    return money - spent_by(calls, now) - ringing


def first_block_cost(match: RateMatch, ctx: RatingContext) -> Decimal:
    """What answering commits the caller to: the price at the first charged second, `grace`
    (calls shorter than grace are free; with grace 0, the connect fee and initial block at once)."""
    if match.free:
        return ZERO
    return price_call(match.row.grace, match, ctx, answered=True).cost


MICROS = Decimal(1_000_000)


def burn_terms(match: RateMatch, ctx: RatingContext) -> tuple[int, int]:
    """(fixed, per_second) in millionths of the currency with cost(t) <= fixed + per_second * t
    for every answered time t: an upper bound that can be summed over calls in Redis.

    charged seconds never exceed billsec + init + block, the first-block rate may be dearer than
    the rest, and the one rounding adds at most half a unit of the last place.
    """
    if match.free:
        return 0, 0
    row = match.row
    scale = client_factor(match, ctx) * (1 + row.surcharge_pct / HUNDRED)
    per_second = max(row.rate, row.first_rate) / SIXTY * scale
    fixed = row.connect_charge * scale + per_second * (row.init + row.block) + Decimal("0.5").scaleb(
        -precision_for(ctx.currency))
    return math.ceil(fixed * MICROS), math.ceil(per_second * MICROS)


def bound_at(fixed: int, per_second: int, weighted: int, t: float) -> Decimal:
    """Sum of the burn bounds of calls started at times a_i (weighted = sum of per_second * a_i)."""
    return Decimal(fixed + per_second * math.ceil(t) - weighted) / MICROS
