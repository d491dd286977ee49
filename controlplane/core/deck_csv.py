"""Rate-deck CSV: parse and validate every line before anything touches the database.

Pure: returns rows or the full list of bad lines with their numbers, so an import is
all-or-nothing and the operator fixes every mistake in one pass.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

REQUIRED = ("prefix", "destination", "rate", "initblock", "billingblock", "connectcharge")
OPTIONAL = ("grace", "free_seconds", "surcharge", "rate_first", "trunk")
COLUMNS = REQUIRED + OPTIONAL


@dataclass(frozen=True, slots=True)
class DeckLine:
    """One validated CSV line; `trunk` is a trunk name resolved by the importer."""

    line: int
    prefix: str
    destination: str
    rate: Decimal
    init_block: int
    billing_block: int
    connect_charge: Decimal
    grace: int = 0
    free_seconds: int = 0
    surcharge_pct: Decimal = Decimal(0)
    rate_first: Decimal | None = None
    trunk: str | None = None


@dataclass
class ParseResult:
    lines: list[DeckLine] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decimal(value: str, name: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} {value!r} is not a number")
    if number < 0:
        raise ValueError(f"{name} {value} is negative")
    return number


def _seconds(value: str, name: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{name} {value!r} is not a whole number of seconds")
    return int(value)


def _header(first: list[str]) -> list[str] | None:
    names = [c.strip().lower() for c in first]
    if names and names[0] == "prefix":
        unknown = [n for n in names if n not in COLUMNS]
        missing = [n for n in REQUIRED if n not in names]
        if unknown or missing:
            raise ValueError(f"header: unknown columns {unknown} / missing columns {missing}")
        return names
    return None


def parse_deck(source: Iterable[str] | str) -> ParseResult:
    """Validate a deck CSV (header optional); every bad line is reported with its number."""
    text_lines = io.StringIO(source) if isinstance(source, str) else source
    result = ParseResult()
    seen: dict[str, int] = {}
    header: list[str] | None = None
    for number, cells in enumerate(csv.reader(text_lines), start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        if number == 1:
            try:
                header = _header(cells)
            except ValueError as exc:
                result.errors.append((1, str(exc)))
                return result
            if header is not None:
                continue
        names = header or list(COLUMNS[: len(cells)])
        if header is not None and len(cells) != len(header):
            result.errors.append((number, f"expected {len(header)} columns, found {len(cells)}"))
            continue
        if header is None and not len(REQUIRED) <= len(cells) <= len(COLUMNS):
            result.errors.append(
                (number, f"expected {len(REQUIRED)} to {len(COLUMNS)} columns, found {len(cells)}")
            )
            continue
        values = {name: cell.strip() for name, cell in zip(names, cells, strict=True)}
        try:
            line = _line(number, values)
        except ValueError as exc:
            result.errors.append((number, str(exc)))
            continue
        if line.prefix in seen:
            result.errors.append((number, f"duplicate prefix {line.prefix} (first on line {seen[line.prefix]})"))
            continue
        seen[line.prefix] = number
        result.lines.append(line)
    return result


def _line(number: int, v: dict[str, str]) -> DeckLine:
    prefix = v["prefix"]
    if not prefix.isdigit() or len(prefix) > 32:
        raise ValueError(f"prefix {prefix!r} must be 1 to 32 digits")
    rate_first = v.get("rate_first") or None
    return DeckLine(
        line=number,
        prefix=prefix,
        destination=v["destination"][:128],
        rate=_decimal(v["rate"], "rate"),
        init_block=_seconds(v["initblock"], "initblock"),
        billing_block=_seconds(v["billingblock"], "billingblock"),
        connect_charge=_decimal(v["connectcharge"], "connectcharge"),
        grace=_seconds(v.get("grace") or "0", "grace"),
        free_seconds=_seconds(v.get("free_seconds") or "0", "free_seconds"),
        surcharge_pct=_decimal(v.get("surcharge") or "0", "surcharge"),
        rate_first=None if rate_first is None else _decimal(rate_first, "rate_first"),
        trunk=v.get("trunk") or None,
    )
