"""Money: Decimal only, and the one rounding rule of the whole system.

Every amount a customer is charged or credited passes through `round_money` exactly once,
at the end of a computation, so a prepaid cut, a CDR and a later re-rating agree to the digit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DEFAULT_PRECISION = 4

# Precision used when charging in a currency; anything not listed keeps DEFAULT_PRECISION.
CURRENCY_PRECISION: dict[str, int] = {}

ZERO = Decimal(0)


def precision_for(currency: str | None) -> int:
    return CURRENCY_PRECISION.get((currency or "").upper(), DEFAULT_PRECISION)


def round_money(amount: Decimal, currency: str | None = None) -> Decimal:
    """Round once, half up, to the currency's precision."""
    quantum = Decimal(1).scaleb(-precision_for(currency))
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def to_decimal(value: object, field: str = "amount") -> Decimal:
    """Parse user input into Decimal, refusing floats so no binary fraction leaks in."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{field}: pass a string or Decimal, not {type(value).__name__}")
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        text = str(value).strip()
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{field}: {text!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def plain(value: Decimal | None) -> str:
    """Plain notation without trailing zeros ('0.132', not '0.1320000000'); '' for None."""
    if value is None:
        return ""
    return format(value.normalize(), "f")
