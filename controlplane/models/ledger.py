"""The append-only money ledger; a tenant's balance is always the sum of its rows."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, Money, enum_type, utcnow


class LedgerKind(enum.StrEnum):
    CALL = "call"
    CREDIT = "credit"
    PAYMENT = "payment"
    VOUCHER = "voucher"
    REFUND = "refund"
    RECURRING = "recurring"
    DID_RENTAL = "did_rental"
    CORRECTION = "correction"


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[LedgerKind] = mapped_column(enum_type(LedgerKind))
    amount: Mapped[Decimal] = mapped_column(Money)
    balance_after: Mapped[Decimal] = mapped_column(Money)
    # A call debit carries the call uuid; unique per (kind, reference) keeps retries from double-posting.
    reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(190))
