"""Pure call decisions: trusted headers, each authorization check, the shared-credit deadline."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal as D

import pytest

from controlplane.core.authorization import AuthorizationInput, Caller, Refusal, authorize, identify
from controlplane.core.credit import RunningCall, available_for_new_call, budget, deadline, spent_by
from controlplane.core.rating import RateMatch, RateRow, RatingContext, price_call
from controlplane.freeswitch.cdr_variables import is_b_leg, record_from_variables
from controlplane.state.rating_codec import dump_match


def test_identify_needs_complete_trusted_headers() -> None:
    assert identify({"X-CP-Auth": "digest", "X-CP-Tenant": "7", "X-CP-Account": "42"}) == Caller("digest", 7, 42, None)
    assert identify({"X-CP-Auth": "carrier", "X-CP-Carrier": "3"}) == Caller("carrier", None, None, 3)
    for bad in ({}, {"X-CP-Auth": "digest", "X-CP-Tenant": "7"}, {"X-CP-Auth": "sneaky", "X-CP-Account": "1"},
                {"X-CP-Auth": "carrier"}, {"X-CP-Auth": "ip", "X-CP-Tenant": "x", "X-CP-Account": "1"}):
        refusal = identify(bad)
        assert isinstance(refusal, Refusal) and refusal.sip_code == 403


OK = AuthorizationInput(tenant_active=True, account_active=True, number="4930123", caller_id="+4930999",
                        available=D("1"), first_block_cost=D("0.01"))


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        ({"tenant_active": False}, 403, "tenant disabled"),
        ({"account_active": False}, 403, "account disabled"),
        ({"blocked_prefixes": ["4930"]}, 403, "blocked globally"),
        ({"restricted_prefixes": ["49"]}, 403, "restricted"),
        ({"allowed_countries": ["44", "1"]}, 403, "country not allowed"),
        ({"denied_countries": ["49"]}, 403, "country denied"),
        ({"callerid_deny": ["4930"]}, 403, "caller ID denied"),
        ({"callerid_allow": ["44"]}, 403, "caller ID not allowed"),
        ({"account_calls": 2, "account_limit": 2}, 486, "account concurrent"),
        ({"tenant_calls": 5, "tenant_limit": 5}, 486, "tenant concurrent"),
        ({"monthly_cap": D("10"), "spent_this_month": D("9.995")}, 402, "monthly"),
        ({"available": D("0.009")}, 402, "first billing block"),
    ],
)
def test_each_check_refuses_with_its_code(change: dict, code: int, reason: str) -> None:
    refusal = authorize(dataclasses.replace(OK, **change))
    assert refusal is not None and refusal.sip_code == code and reason in refusal.reason
    assert refusal.respond.startswith(str(code))


def test_free_calls_skip_money_checks_but_not_limits() -> None:
    assert authorize(dataclasses.replace(OK, available=D("-5"), free=True)) is None
    assert authorize(dataclasses.replace(OK, free=True, account_calls=1, account_limit=1)).sip_code == 486
    assert authorize(OK) is None


PER_SECOND = RateMatch("plan", RateRow("49", "DE", D("0.60")))  # 0.01 per second
CTX = RatingContext()


def running(answered: float | None, match: RateMatch = PER_SECOND) -> RunningCall:
    return RunningCall("u", answered, match, CTX)


def test_budget_prepaid_postpaid_and_cap() -> None:
    assert budget(D("5")) == D("5")
    assert budget(D("-20"), D("100"), postpaid=True) == D("80")
    assert budget(D("5"), D("100"), postpaid=False) == D("5")
    assert budget(D("50"), monthly_cap=D("30"), spent_this_month=D("25")) == D("5")


def test_single_call_deadline_is_just_past_its_last_affordable_second() -> None:
    when = deadline(D("1.00"), [running(1000.0)], now=1000.0)
    # 100 s cost exactly 1.00; the 101st second would not be paid.
    assert 1100.99 <= when <= 1101.0
    assert spent_by([running(1000.0)], when - 0.5) == D("1.00")


def test_concurrent_calls_share_the_budget() -> None:
    calls = [running(1000.0), running(1010.0), running(1020.0)]
    when = deadline(D("1.50"), calls, now=1020.0)
    cut = when - 0.5
    total = sum(price_call(math.floor(cut - c.answered_at), c.match, c.ctx).cost for c in calls)
    assert total <= D("1.50")
    # One more whole second on every call would overspend by at most one block per call.
    over = sum(price_call(math.floor(cut - c.answered_at) + 1, c.match, c.ctx).cost for c in calls)
    assert over - D("1.50") <= D("0.03")
    assert 1059 < cut < 1061  # (1.50 + 0.10 + 0.20) / 0.03 per second = 60 s after 1000


def test_deadline_ignores_ringing_and_free_calls_and_is_now_when_overspent() -> None:
    free = RateMatch("offer", RateRow("49", "flat", D("0")))
    assert deadline(D("1"), [running(None), running(1000.0, free)], now=1000.0) is None
    assert deadline(D("0.05"), [running(900.0)], now=1000.0) == 1000.0


def test_ringing_calls_reserve_their_first_block() -> None:
    minute = RateMatch("plan", RateRow("4930", "Berlin", D("0.60"), init_block=60, billing_block=60))
    calls = [RunningCall("a", 1000.0, PER_SECOND, CTX), RunningCall("b", None, minute, CTX)]
    assert available_for_new_call(D("1.00"), calls, now=1010.0) == D("1.00") - D("0.10") - D("0.60")


def test_record_from_variables_bills_and_marks_the_answered_attempt() -> None:
    v = {
        "uuid": "abc", "direction": "inbound", "billsec": "30", "hangup_cause": "NORMAL_CLEARING",
        "cp_direction": "outbound", "cp_tenant_id": "7", "cp_account_id": "42", "cp_number": "4989",
        "cp_rating": dump_match(PER_SECOND, CTX), "start_epoch": "1795364599", "answer_epoch": "1795364600",
        "cp_attempts": '[{"trunk_id":1,"trunk":"a","cause":"NORMAL_TEMPORARY_FAILURE","sip_code":503,'
                       '"answered":false},{"trunk_id":2,"trunk":"b","cause":null,"sip_code":null,"answered":false}]',
    }
    record, match, _ = record_from_variables(v, "freeswitch")
    assert (record.disposition, record.cost, record.trunk_id, record.tenant_id) == ("ANSWERED", D("0.3000"), 2, 7)
    assert record.attempts[1]["answered"] and not record.attempts[0]["answered"]
    assert match.row.prefix == "49"
    refused, _, _ = record_from_variables({"uuid": "r", "cp_refusal": "402 no money", "billsec": "0"}, "x")
    assert (refused.sip_code, refused.reason, refused.cost, refused.disposition) == (402, "no money", D(0), "FAILED")


def test_b_legs_are_recognised() -> None:
    assert is_b_leg({"direction": "outbound", "originator": "a-uuid"})
    assert not is_b_leg({"direction": "inbound"})
