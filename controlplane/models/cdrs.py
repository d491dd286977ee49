"""Call detail records: one row per call attempt, unique on the A-leg uuid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, Money, utcnow


class Cdr(Base):
    __tablename__ = "cdrs"
    __table_args__ = (
        # A tenant's CDRs by time, then id: the API's cursor pages walk this index (services/cdr_reports.py).
        Index("ix_cdrs_tenant_start_id", "tenant_id", "start_at", "id"),
        # Covers a tenant's totals for a period: no row is read (bench/api_cdrs.py: 119 ms -> 3 ms at 1M rows).
        Index("ix_cdrs_tenant_start_totals", "tenant_id", "start_at", "billsec", "cost", "buy_cost"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    sip_account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id"), index=True)
    direction: Mapped[str] = mapped_column(String(16))  # outbound | inbound | internal
    caller_id_name: Mapped[str | None] = mapped_column(String(64))
    caller_id_number: Mapped[str | None] = mapped_column(String(64))
    dialed: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(128))
    start_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    answer_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    end_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    duration: Mapped[int] = mapped_column(Integer, default=0)
    billsec: Mapped[int] = mapped_column(Integer, default=0)
    disposition: Mapped[str] = mapped_column(String(16))
    sip_code: Mapped[int | None] = mapped_column(Integer)
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(255))  # why a call was refused or cut
    attempts: Mapped[list | None] = mapped_column(JSON)
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_trunks.id"))
    rate_prefix: Mapped[str | None] = mapped_column(String(32))
    rate_source: Mapped[str | None] = mapped_column(String(16))
    rate: Mapped[Decimal | None] = mapped_column(Money)
    charged_seconds: Mapped[int] = mapped_column(Integer, default=0)
    billing_blocks: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    buy_cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    chain: Mapped[list | None] = mapped_column(JSON)  # cost at every level of the reseller chain
    offer: Mapped[str | None] = mapped_column(String(128))
    recording: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(String(64))
    written_by: Mapped[str] = mapped_column(String(16))  # controller | freeswitch | sync
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
