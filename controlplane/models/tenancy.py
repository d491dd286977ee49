"""Tenants (operator -> resellers -> clients), portal users, API keys and the audit log."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, Money, Percent, Timestamped, enum_type, utcnow


class TenantKind(enum.StrEnum):
    OPERATOR = "operator"
    RESELLER = "reseller"
    CLIENT = "client"


class Status(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class BillingType(enum.StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class Role(enum.StrEnum):
    SUPERADMIN = "SUPERADMIN"
    ADMIN = "ADMIN"
    RESELLER = "RESELLER"
    CLIENT = "CLIENT"


class TenantRole(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class Tenant(Timestamped, Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[TenantKind] = mapped_column(enum_type(TenantKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    realm: Mapped[str | None] = mapped_column(String(190), unique=True)
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # How this tenant's callers write numbers (E.164 normalization).
    country_code: Mapped[str | None] = mapped_column(String(4))
    international_prefix: Mapped[str] = mapped_column(String(4), default="00")
    national_prefix: Mapped[str] = mapped_column(String(4), default="0")
    billing_type: Mapped[BillingType] = mapped_column(
        enum_type(BillingType), default=BillingType.PREPAID
    )
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    monthly_spend_cap: Mapped[Decimal | None] = mapped_column(Money)
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(Money)
    # Comma-separated country codes; an empty allow list allows every country not denied.
    allowed_country_codes: Mapped[str] = mapped_column(String(1024), default="")
    denied_country_codes: Mapped[str] = mapped_column(String(1024), default="")
    max_sip_accounts: Mapped[int | None] = mapped_column(Integer)
    max_concurrent_calls: Mapped[int | None] = mapped_column(Integer)
    max_dids: Mapped[int | None] = mapped_column(Integer)
    # A reseller's margin on what its children pay; stacked once per nesting level.
    margin_pct: Mapped[Decimal] = mapped_column(Percent, default=Decimal(0))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    custom_deck_id: Mapped[int | None] = mapped_column(ForeignKey("rate_decks.id"))

    parent: Mapped[Tenant | None] = relationship(remote_side=[id])
    plan = relationship("Plan")


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    email: Mapped[str] = mapped_column(String(190), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    tenant_role: Mapped[TenantRole] = mapped_column(
        enum_type(TenantRole), default=TenantRole.ADMIN
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A tenant's normal user acts as this one SIP account: it sees that account and its calls only.
    sip_account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id"))
    # Set when the user proved the address (sign-up's link) or was made by someone above; a self-signed-up
    # user without it cannot log in.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    tenant: Mapped[Tenant] = relationship()


class ApiKey(Timestamped, Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The visible part identifies the key; only a hash of the secret is kept.
    name: Mapped[str] = mapped_column(String(128), default="")
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    # Space-separated grants, `resource:read` or `resource:write` (write implies read), `*` for all.
    scopes: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Space-separated addresses or CIDR networks the key may be used from; empty: anywhere.
    allowed_ips: Mapped[str] = mapped_column(String(1024), default="")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class IdempotencyKey(Base):
    """The first answer to a money write sent with an `Idempotency-Key`, committed with the write itself."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(190))  # the actor: one caller's keys never meet another's
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))  # the same key with another body is refused
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now())


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(190))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    details: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
