"""The only way a balance changes: lock the tenant, add a ledger row, move the balance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.core.money import ZERO, to_decimal
from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.models import LedgerEntry, LedgerKind, Tenant
from controlplane.models.base import utcnow
from controlplane.services import audit
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope
from controlplane.state import money_version

LEDGER_INSERT = LedgerEntry.__table__.insert()
BALANCE_UPDATE = (
    Tenant.__table__.update()
    .where(Tenant.__table__.c.id == bindparam("tenant_id"))
    .values(balance=bindparam("balance"))
)


# Core statements, compiled once: the CDR writer runs them for every batch.
LOCK_TENANTS = (select(Tenant.__table__.c.id, Tenant.__table__.c.balance)
                .where(Tenant.__table__.c.id.in_(bindparam("ids", expanding=True)))
                .order_by(Tenant.__table__.c.id).with_for_update())


class DuplicateEntry(Exception):
    """A ledger row with this reference exists already (a retried debit)."""


@dataclass(frozen=True)
class Posting:
    tenant_id: int
    amount: Decimal | str  # made a Decimal (never from a float) by post_many
    kind: LedgerKind
    reference: str | None = None
    note: str | None = None
    actor: str = "system"


def lock_tenants(session: Session, tenant_ids: Iterable[int]) -> dict[int, Decimal]:
    """Lock the tenants' rows, always in id order so two writers never wait on each other in a
    circle; their balances by id."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return {}
    rows = session.connection().execute(LOCK_TENANTS, {"ids": ids})
    return {row.id: row.balance or ZERO for row in rows}


def post_many(session: Session, postings: list[Posting], balances: dict[int, Decimal] | None = None) -> list[dict]:
    """Add each posting's amount (negative for a debit) to its tenant's balance, in the caller's
    transaction: one ledger row each, one balance update per tenant. `balances` are the tenants'
    already locked by the caller (lock_tenants); the rest are locked here."""
    balances = dict(balances or {})
    missing = {p.tenant_id for p in postings} - balances.keys()
    if missing:
        balances.update(lock_tenants(session, missing))
    at = utcnow()
    rows = []
    changes: dict[int, tuple[Decimal, Decimal]] = {}  # per tenant: the change, and of it for calls
    for posting in postings:
        if posting.tenant_id not in balances:
            raise NotFound(f"tenant {posting.tenant_id} not found")
        value = to_decimal(posting.amount)
        balances[posting.tenant_id] += value
        change, calls = changes.get(posting.tenant_id, (ZERO, ZERO))
        changes[posting.tenant_id] = (change + value, calls + value if posting.kind == LedgerKind.CALL else calls)
        rows.append({"tenant_id": posting.tenant_id, "at": at, "kind": posting.kind, "amount": value,
                     "balance_after": balances[posting.tenant_id], "reference": posting.reference,
                     "note": posting.note, "actor": posting.actor})
    if not rows:
        return rows
    try:
        # The unique reference refuses a second posting of the same thing.
        session.connection().execute(LEDGER_INSERT, rows)
    except IntegrityError as exc:
        raise DuplicateEntry(", ".join(str(p.reference) for p in postings)) from exc
    session.connection().execute(BALANCE_UPDATE, [{"tenant_id": t, "balance": balances[t]} for t in sorted(changes)])
    money_version.touched(session, changes)
    return rows


def post(session: Session, tenant_id: int, amount: Decimal | str, kind: LedgerKind, *,
         reference: str | None = None, note: str | None = None, actor: str = "system") -> LedgerEntry:
    """One posting (see post_many)."""
    [row] = post_many(session, [Posting(tenant_id, amount, kind, reference, note, actor)])
    return LedgerEntry(**row)


def add_credit(session: Session, scope: Scope, tenant: Tenant, amount: Decimal | str, note: str) -> LedgerEntry:
    """Credit (or, negative, debit) a tenant with a note. Operators credit anyone; a reseller the tenants below
    it, never itself; a client tenant no one."""
    scope.require_above(tenant, tenant.id, f"tenant {tenant.name!r}",
                        "credit is added by the operator or by the reseller above the tenant")
    value = to_decimal(amount)
    if value == 0:
        raise Invalid({"amount": "must not be zero"})
    if not note or not note.strip():
        raise Invalid({"note": "a reference note is required"})
    entry = post(session, tenant.id, value, LedgerKind.CREDIT, note=note.strip(), actor=scope.actor)
    audit.record(
        session, scope.actor, "credit.add", "tenant", tenant.id, tenant.id,
        {"amount": str(value), "balance_after": str(entry.balance_after)}, note,
    )
    return entry


def ledger_sum(session: Session, tenant_id: int) -> Decimal:
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.tenant_id == tenant_id
    ))
    return Decimal(total)


def page_ledger(session: Session, scope: Scope, *, tenant_id: int | None = None, kind: LedgerKind | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None, after: int | None = None,
                limit: int = 50) -> Page[LedgerEntry]:
    """Ledger rows the scope sees, newest first. A tenant's normal user sees no money rows."""
    if scope.user_id is not None:
        raise Forbidden("the ledger is for the tenant's administrators")
    stmt = scope.restrict(select(LedgerEntry), LedgerEntry.tenant_id)
    if tenant_id is not None:
        stmt = stmt.where(LedgerEntry.tenant_id == tenant_id)
    if kind is not None:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if since is not None:
        stmt = stmt.where(LedgerEntry.at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.at < until)
    return keyset(session, stmt, LedgerEntry.id, after=after, limit=limit, newest_first=True)
