"""What a finished call was: disposition and the money fields of its CDR. Pure.

Both paths into the CDR writer (the controller's hang-up and FreeSWITCH's own JSON CDR push)
build their record with `bill`, so the charge cannot depend on which path arrives first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from controlplane.core.rating import CallPrice, RateMatch, RatingContext, price_call

BUSY_CAUSES = {"USER_BUSY"}
NO_ANSWER_CAUSES = {"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT"}
CONGESTION_CAUSES = {
    "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "NORMAL_TEMPORARY_FAILURE", "RECOVERY_ON_TIMER_EXPIRE",
}


def disposition(billsec: int, answered: bool, cause: str | None, sip_code: int | None = None) -> str:
    if answered or billsec > 0:
        return "ANSWERED"
    if cause in BUSY_CAUSES or sip_code in (486, 600):
        return "BUSY"
    if cause in CONGESTION_CAUSES or sip_code in (502, 503, 504):
        return "CONGESTION"
    if cause in NO_ANSWER_CAUSES or sip_code in (408, 480, 487):
        return "NO ANSWER"
    return "FAILED"


@dataclass
class CallRecord:
    """Everything a CDR row holds, before it is written."""

    uuid: str
    direction: str
    tenant_id: int | None = None
    sip_account_id: int | None = None
    caller_id_name: str | None = None
    caller_id_number: str | None = None
    dialed: str | None = None
    number: str | None = None
    destination: str | None = None
    start_at: dt.datetime | None = None
    answer_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    duration: int = 0
    billsec: int = 0
    disposition: str = "FAILED"
    sip_code: int | None = None
    hangup_cause: str | None = None
    reason: str | None = None
    attempts: list[dict] = field(default_factory=list)
    trunk_id: int | None = None
    rate_prefix: str | None = None
    rate_source: str | None = None
    rate: Decimal | None = None
    charged_seconds: int = 0
    billing_blocks: int = 0
    cost: Decimal = Decimal(0)
    buy_cost: Decimal | None = None
    currency: str | None = None
    chain: list[dict] | None = None
    offer: str | None = None
    node: str | None = None
    written_by: str = "controller"

    def bill(self, match: RateMatch | None, ctx: RatingContext | None) -> CallPrice | None:
        """Fill the money fields from the rating core for this record's billsec.

        Whether it was answered comes from the disposition: an answered 0 s call may still owe
        its first block (grace 0), an unanswered one never does."""
        if match is None or ctx is None:
            return None
        price = price_call(self.billsec, match, ctx, answered=self.disposition == "ANSWERED")
        self.rate_prefix = match.row.prefix
        self.rate_source = match.source
        self.destination = self.destination or match.row.destination
        self.rate = price.rate
        self.charged_seconds = price.charged_seconds
        self.billing_blocks = price.billing_blocks
        self.cost = price.cost
        self.currency = ctx.currency
        self.offer = match.row.destination if match.free else None
        self.chain = [{"level": lv.level, "margin_pct": str(lv.margin_pct), "cost": str(lv.cost)}
                      for lv in price.chain]
        return price
