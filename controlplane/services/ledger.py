"""The only way a balance changes: lock the tenant, add a ledger row, move the balance."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.errors import Invalid, NotFound
from controlplane.models import LedgerEntry, LedgerKind, Tenant
from controlplane.models.base import utcnow
from controlplane.money import ZERO, to_decimal
from controlplane.services import audit

LEDGER_INSERT = LedgerEntry.__table__.insert()
BALANCE_UPDATE = (
    Tenant.__table__.update()
    .where(Tenant.__table__.c.id == bindparam("tenant_id"))
    .values(balance=bindparam("balance"))
)


class DuplicateEntry(Exception):
    """A ledger row with this reference exists already (a retried debit)."""


def post(
    session: Session,
    tenant_id: int,
    amount: Decimal | str,
    kind: LedgerKind,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str = "system",
) -> LedgerEntry:
    """Add `amount` (negative for a debit) to the tenant's balance, in the caller's transaction."""
    value = to_decimal(amount)
    balance = session.execute(
        select(Tenant.balance).where(Tenant.id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if balance is None:
        raise NotFound(f"tenant {tenant_id} not found")
    new_balance = (balance or ZERO) + value
    values = {"tenant_id": tenant_id, "at": utcnow(), "kind": kind, "amount": value, "balance_after": new_balance,
              "reference": reference, "note": note, "actor": actor}
    try:
        # The unique reference refuses a second posting of the same thing.
        result = session.connection().execute(LEDGER_INSERT, values)
    except IntegrityError as exc:
        raise DuplicateEntry(reference) from exc
    session.connection().execute(BALANCE_UPDATE, {"tenant_id": tenant_id, "balance": new_balance})
    return LedgerEntry(id=result.inserted_primary_key[0], **values)


def add_credit(session: Session, tenant: Tenant, amount: Decimal | str, note: str, actor: str) -> LedgerEntry:
    value = to_decimal(amount)
    if value == 0:
        raise Invalid({"amount": "must not be zero"})
    if not note or not note.strip():
        raise Invalid({"note": "a reference note is required"})
    entry = post(session, tenant.id, value, LedgerKind.CREDIT, note=note.strip(), actor=actor)
    audit.record(
        session, actor, "credit.add", "tenant", tenant.id, tenant.id,
        {"amount": str(value), "balance_after": str(entry.balance_after)}, note,
    )
    return entry


def ledger_sum(session: Session, tenant_id: int) -> Decimal:
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.tenant_id == tenant_id
    ))
    return Decimal(total)
