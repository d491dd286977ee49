"""Reading CDRs: filtered pages, totals and a streamed CSV export, all narrowed by the caller's Scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from controlplane.errors import NotFound
from controlplane.models import Cdr
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope

EXPORT_BATCH = 2000
EXPORT_COLUMNS = ("uuid", "tenant_id", "sip_account_id", "direction", "caller_id_number", "dialed", "number",
                  "destination", "start_at", "answer_at", "end_at", "duration", "billsec", "disposition", "sip_code",
                  "hangup_cause", "trunk_id", "rate_prefix", "rate", "billing_blocks", "cost", "buy_cost",
                  "currency")


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
    trunk_id: int | None = None


def _filtered(scope: Scope, flt: CdrFilter, stmt: Select | None = None) -> Select:
    stmt = select(Cdr) if stmt is None else stmt
    stmt = scope.restrict_account(scope.restrict(stmt, Cdr.tenant_id), Cdr.sip_account_id)
    for f in fields(CdrFilter):
        value = getattr(flt, f.name)
        if value is None:
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


def page_cdrs(session: Session, scope: Scope, flt: CdrFilter, *, after: int | None = None,
              limit: int = 50) -> Page[Cdr]:
    """Newest first, one keyset page."""
    return keyset(session, _filtered(scope, flt), Cdr.id, after=after, limit=limit, newest_first=True)


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
    buy_cost: Decimal


def totals(session: Session, scope: Scope, flt: CdrFilter) -> Totals:
    stmt = _filtered(scope, flt, select(
        func.count(Cdr.id), func.coalesce(func.sum(Cdr.billsec > 0), 0), func.coalesce(func.sum(Cdr.billsec), 0),
        func.coalesce(func.sum(Cdr.cost), 0), func.coalesce(func.sum(Cdr.buy_cost), 0),
    ))
    calls, answered, billsec, cost, buy = session.execute(stmt).one()
    return Totals(int(calls), int(answered), int(billsec), Decimal(cost), Decimal(buy))


def export_csv(session: Session, scope: Scope, flt: CdrFilter) -> Iterator[str]:
    """CSV text in chunks: a header, then rows fetched in keyset batches, so memory stays flat however many."""
    columns = [getattr(Cdr.__table__.c, name) for name in EXPORT_COLUMNS]
    base = _filtered(scope, flt, select(Cdr.__table__.c.id, *columns))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    after = None
    while True:
        stmt = base if after is None else base.where(Cdr.id < after)
        rows = session.execute(stmt.order_by(Cdr.id.desc()).limit(EXPORT_BATCH)).all()
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v
                             for v in row[1:]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1][0]
