"""A call's price function as text, for the processes that share it: live state in Redis (`rating:<hash>`) and
FreeSWITCH's channel variable `cp_rating`, so any of them can compute what a call has cost so far."""

from __future__ import annotations

import json
from decimal import Decimal

from controlplane.core.rating import Margin, RateMatch, RateRow, RatingContext


def dump_match(match: RateMatch, ctx: RatingContext) -> str:
    """The call's price function as JSON, so any process can compute what it has cost so far."""
    r = match.row
    return json.dumps({
        "source": match.source, "markup": str(match.markup_pct), "currency": ctx.currency,
        "margins": [[m.tenant, str(m.margin_pct)] for m in ctx.margins],
        "row": [r.prefix, r.destination, str(r.rate), r.init_block, r.billing_block, str(r.connect_charge),
                r.grace, r.free_seconds, str(r.surcharge_pct), None if r.rate_first is None else str(r.rate_first),
                r.trunk_id],
    }, separators=(",", ":"))


def load_match(text: str) -> tuple[RateMatch, RatingContext]:
    data = json.loads(text)
    p, d, rate, init, block, connect, grace, free, surcharge, first, trunk = data["row"]
    row = RateRow(p, d, Decimal(rate), init, block, Decimal(connect), grace, free, Decimal(surcharge),
                  None if first is None else Decimal(first), trunk)
    ctx = RatingContext(currency=data["currency"], margins=[Margin(n, Decimal(m)) for n, m in data["margins"]])
    return RateMatch(data["source"], row, Decimal(data["markup"])), ctx
