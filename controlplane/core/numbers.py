"""Number handling: E.164 normalization and per-account / per-trunk manipulation."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NON_DIAL = re.compile(r"[\s\-().]")


@dataclass(frozen=True, slots=True)
class DialPlan:
    """How a caller's country writes numbers."""

    country_code: str = "1"
    international_prefix: str = "00"
    national_prefix: str = "0"


class InvalidNumber(ValueError):
    pass


def clean(number: str) -> str:
    """Drop visual separators; keep a leading '+' and digits only."""
    text = _NON_DIAL.sub("", number or "")
    body = text[1:] if text.startswith("+") else text
    if not body.isdigit():
        raise InvalidNumber(f"{number!r} is not a dialable number")
    return text


def to_e164(number: str, plan: DialPlan) -> str:
    """International digits without '+': '+49 30 123' / '004930123' / '030123' (DE) -> '4930123'."""
    text = clean(number)
    if text.startswith("+"):
        return text[1:]
    if plan.international_prefix and text.startswith(plan.international_prefix):
        return text[len(plan.international_prefix):]
    if plan.national_prefix and text.startswith(plan.national_prefix):
        return plan.country_code + text[len(plan.national_prefix):]
    return text


def to_national(e164: str, plan: DialPlan) -> str:
    """Same-country removal: a number in the caller's own country in national format."""
    if e164.startswith(plan.country_code):
        return plan.national_prefix + e164[len(plan.country_code):]
    return plan.international_prefix + e164


def strip_then_add(number: str, strip_prefix: str = "", add_prefix: str = "") -> str:
    """Remove `strip_prefix` if the number starts with it, then put `add_prefix` in front."""
    if strip_prefix and number.startswith(strip_prefix):
        number = number[len(strip_prefix):]
    return f"{add_prefix}{number}"
