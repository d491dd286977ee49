"""Reading CDRs: filtered pages, totals and a streamed CSV export, all narrowed by the caller's Scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal

from sqlalchemy import ColumnElement, DateTime, Select, String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.models import Cdr, Role
from controlplane.services.listing import MAX_LIMIT, Page
from controlplane.services.scope import Scope

EXPORT_BATCH = 10000
EXPORT_COLUMNS = ("uuid", "tenant_id", "sip_account_id", "direction", "caller_id_number", "dialed", "number",
                  "destination", "start_at", "answer_at", "end_at", "duration", "billsec", "disposition", "sip_code",
                  "hangup_cause", "trunk_id", "rate_prefix", "rate", "billing_blocks", "cost", "buy_cost",
                  "currency")


# What the carrier side of a call reveals: the operator's buy price and its trunks. Operators see them; a
# reseller sees the chain of prices down to its clients; a client sees its own price only.
OPERATOR_ONLY = frozenset({"buy_cost", "attempts", "trunk_id"})
CHAIN = frozenset({"chain"})


def hidden_fields(scope: Scope) -> frozenset[str]:
    """The CDR fields `scope` may not see."""
    if scope.everything:
        return frozenset()
    if scope.role == Role.RESELLER:
        return OPERATOR_ONLY
    return OPERATOR_ONLY | CHAIN


@dataclass(frozen=True)
class CdrFilter:
    """What the caller narrows the CDRs to; every field optional."""

    since: dt.datetime | None = None  # start_at >= since
    until: dt.datetime | None = None  # start_at < until
    tenant_id: int | None = None
    sip_account_id: int | None = None
    destination: str | None = None  # a prefix of the normalized number
    disposition: str | None = None
    sip_code: int | None = None
    trunk_id: int | None = None  # operators only (the filter is ignored for other scopes: it would probe trunks)


def _filtered(scope: Scope, flt: CdrFilter, stmt: Select | None = None) -> Select:
    stmt = select(Cdr) if stmt is None else stmt
    stmt = scope.restrict_account(scope.restrict(stmt, Cdr.tenant_id), Cdr.sip_account_id)
    for f in fields(CdrFilter):
        value = getattr(flt, f.name)
        if value is None or f.name in hidden_fields(scope):
            continue
        if f.name == "since":
            stmt = stmt.where(Cdr.start_at >= value)
        elif f.name == "until":
            stmt = stmt.where(Cdr.start_at < value)
        elif f.name == "destination":
            stmt = stmt.where(Cdr.number.like(f"{value}%"))
        else:
            stmt = stmt.where(getattr(Cdr, f.name) == value)
    return stmt


Position = tuple[dt.datetime | None, int]  # where a walk stands: (start_at, id) of the last row it gave


def _dated(flt: CdrFilter) -> bool:
    return flt.since is not None or flt.until is not None


def _newest_first(session: Session, stmt: Select, after: Position | None, dated: bool, count: int) -> list:
    """Up to `count` rows of `stmt` by start time, then id, both descending, from after `after`.

    Keyed on (start_at, id), not id alone: a tenant's month is then one range of ix_cdrs_tenant_start_id and a
    page reads its 50 rows, not every newer row of the tenant (bench/api_cdrs.py: 124 ms -> 6 ms at 1M rows).
    Calls arriving meanwhile start later than any walked page, so pages never shift or repeat; a CDR written late
    for a call that started behind the cursor is seen by the next walk. Rows without a start time come after the
    dated ones (when no period is asked for), read as their own range: an `OR start_at IS NULL` would spoil the
    dated range for MariaDB.
    """
    order = (Cdr.start_at.desc(), Cdr.id.desc())
    rows: list = []
    if after is None or after[0] is not None:
        dated_rows = stmt.where(Cdr.start_at.is_not(None))
        if after is not None:
            start, cdr_id = after
            dated_rows = dated_rows.where(or_(Cdr.start_at < start, and_(Cdr.start_at == start, Cdr.id < cdr_id)))
        rows = list(session.execute(dated_rows.order_by(*order).limit(count)))
    if len(rows) < count and not dated:
        undated = stmt.where(Cdr.start_at.is_(None))
        if after is not None and after[0] is None:
            undated = undated.where(Cdr.id < after[1])
        rows += list(session.execute(undated.order_by(Cdr.id.desc()).limit(count - len(rows))))
    return rows


def page_cdrs(session: Session, scope: Scope, flt: CdrFilter, *, after: Position | None = None,
              limit: int = 50) -> Page[Cdr]:
    """Newest first, one keyset page; `next_after` is a Position."""
    limit = max(1, min(limit, MAX_LIMIT))
    rows = [row[0] for row in _newest_first(session, _filtered(scope, flt), after, _dated(flt), limit + 1)]
    more, rows = len(rows) > limit, rows[:limit]
    return Page(rows, (rows[-1].start_at, rows[-1].id) if more else None)


def get_cdr(session: Session, scope: Scope, cdr_id: int) -> Cdr:
    cdr = session.scalar(_filtered(scope, CdrFilter()).where(Cdr.id == cdr_id))
    if cdr is None:
        raise NotFound(f"CDR {cdr_id} not found")
    return cdr


@dataclass(frozen=True)
class Totals:
    calls: int
    answered: int
    billsec: int
    cost: Decimal
    buy_cost: Decimal | None  # operators only
    key: object = None  # the group, in a summary


def _sums() -> tuple:
    # An answered call counts 1 (a CASE, not SUM(billsec > 0): SQLAlchemy types that Boolean and reads 1022 as True).
    answered = func.sum(case((Cdr.billsec > 0, 1), else_=0))
    return (func.count(Cdr.id), func.coalesce(answered, 0), func.coalesce(func.sum(Cdr.billsec), 0),
            func.coalesce(func.sum(Cdr.cost), 0), func.coalesce(func.sum(Cdr.buy_cost), 0))


def _totals(row: tuple, scope: Scope, key: object = None) -> Totals:
    calls, answered, billsec, cost, buy = row
    return Totals(int(calls), int(answered), int(billsec), Decimal(cost),
                  None if "buy_cost" in hidden_fields(scope) else Decimal(buy), key)


def totals(session: Session, scope: Scope, flt: CdrFilter) -> Totals:
    return _totals(session.execute(_filtered(scope, flt, select(*_sums()))).one(), scope)


# Summary groups: a SQL expression each (MariaDB's date functions: the database is MariaDB).
GROUPS = {
    "day": lambda: func.date(Cdr.start_at),
    "month": lambda: func.date_format(Cdr.start_at, "%Y-%m"),
    "destination": lambda: Cdr.destination,
    "account": lambda: Cdr.sip_account_id,
    "tenant": lambda: Cdr.tenant_id,
    "trunk": lambda: Cdr.trunk_id,
    "did": lambda: Cdr.dialed,  # inbound calls only: the number that was called
    "sip_code": lambda: Cdr.sip_code,  # failed calls by the SIP answer that ended them
}
SUMMARY_ROWS = 1000


def summary(session: Session, scope: Scope, flt: CdrFilter, by: str) -> list[Totals]:
    """Totals per day, month, destination, account, tenant, trunk (operators), DID (inbound) or final SIP code,
    at most 1000."""
    if by not in GROUPS:
        raise Invalid({"by": f"one of {', '.join(GROUPS)}"})
    if by == "trunk" and "trunk_id" in hidden_fields(scope):
        raise Forbidden("trunk summaries are for operators")
    key = GROUPS[by]().label("key")
    stmt = _filtered(scope, flt, select(key, *_sums()))
    if by == "did":
        stmt = stmt.where(Cdr.direction == "inbound")
    rows = session.execute(stmt.group_by(key).order_by(key).limit(SUMMARY_ROWS)).all()
    return [_totals(tuple(row[1:]), scope, row[0] if not isinstance(row[0], dt.date) else row[0].isoformat())
            for row in rows]


def export_csv(session: Session, scope: Scope, flt: CdrFilter) -> Iterator[str]:
    """CSV text in chunks: a header, then rows fetched in keyset batches, so memory stays flat however many.

    MariaDB writes each line (csv_line): decoding 23 typed columns a row and formatting them in Python held the
    export to ~20,000 rows/s; one string a row is what the wire and the driver carry fastest."""
    names = [name for name in EXPORT_COLUMNS if name not in hidden_fields(scope)]
    table = Cdr.__table__.c
    # The start time is selected with every row, for the next batch's cursor (selecting it apart for the last row
    # only measured the same once MariaDB's pages were warm, bench/api_cdrs.py 2026-12-02).
    base = _filtered(scope, flt, select(table.id, table.start_at, csv_line([table[name] for name in names])))
    yield ",".join(names) + "\n"
    after: Position | None = None
    while True:
        rows = _newest_first(session, base, after, _dated(flt), EXPORT_BATCH)
        if rows:
            yield "\n".join(row[2] for row in rows) + "\n"
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1][1], rows[-1][0])


NEEDS_QUOTES = '[,"\r\n]'  # RFC 4180; Python's csv module leaves a lone CR bare, a reader may not


def csv_line(columns: list) -> ColumnElement[str]:
    """One CSV line built by MariaDB, as csv.writer writes the row: NULL empty, numbers as their text, times as
    `YYYY-MM-DD HH:MM:SS`, text quoted (inner quotes doubled) when it holds a comma, a quote, CR or LF."""
    parts = []
    for column in columns:
        if isinstance(column.type, DateTime):
            text = func.date_format(column, "%Y-%m-%d %H:%i:%s")
        elif isinstance(column.type, String):
            quoted = func.concat('"', func.replace(column, '"', '""'), '"')
            text = case((column.regexp_match(NEEDS_QUOTES), quoted), else_=column)
        else:
            text = cast(column, String)
        parts.append(func.ifnull(text, ""))
    return func.concat_ws(",", *parts)
