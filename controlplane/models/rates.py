"""Rate decks (sell and buy), their rows, plans and offers."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, Money, Percent, Timestamped, enum_type


class DeckKind(enum.StrEnum):
    SELL = "sell"
    BUY = "buy"


class RateDeck(Timestamped, Base):
    __tablename__ = "rate_decks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[DeckKind] = mapped_column(enum_type(DeckKind), default=DeckKind.SELL)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Bumped on every change so in-memory indexes know to rebuild.
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Rate(Base):
    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("deck_id", "prefix", name="uq_rates_deck_prefix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("rate_decks.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(32))
    destination: Mapped[str] = mapped_column(String(128), default="")
    rate: Mapped[Decimal] = mapped_column(Money)
    rate_first: Mapped[Decimal | None] = mapped_column(Money)
    init_block: Mapped[int] = mapped_column(Integer, default=1)
    billing_block: Mapped[int] = mapped_column(Integer, default=1)
    connect_charge: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    grace: Mapped[int] = mapped_column(Integer, default=0)
    free_seconds: Mapped[int] = mapped_column(Integer, default=0)
    surcharge_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal(0))
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_trunks.id"))


class Plan(Timestamped, Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    markup_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal(0))
    decks: Mapped[list[PlanDeck]] = relationship(order_by="PlanDeck.position", cascade="all, delete-orphan")


class PlanDeck(Base):
    __tablename__ = "plan_decks"
    __table_args__ = (UniqueConstraint("plan_id", "deck_id", name="uq_plan_decks_plan_deck"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    deck_id: Mapped[int] = mapped_column(ForeignKey("rate_decks.id"))
    position: Mapped[int] = mapped_column(Integer)


class Offer(Timestamped, Base):
    """An unlimited package: calls to `prefix` cost nothing between start and expiry."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(32))
    days: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class BlockedPrefix(Timestamped, Base):
    """A destination prefix nobody may call (premium-rate, known fraud targets)."""

    __tablename__ = "blocked_prefixes"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    note: Mapped[str | None] = mapped_column(String(255))
