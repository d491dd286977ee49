"""Customer SIP accounts and customer trunks (the same record; a trunk is identified by IP)."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, Timestamped, enum_type
from controlplane.models.tenancy import Status, Tenant


class SipAccountKind(enum.StrEnum):
    ACCOUNT = "account"  # digest-authenticated phone or softphone
    TRUNK = "trunk"  # IP-authenticated customer PBX


class SipAccount(Timestamped, Base):
    __tablename__ = "sip_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_sip_accounts_tenant_username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    kind: Mapped[SipAccountKind] = mapped_column(enum_type(SipAccountKind), default=SipAccountKind.ACCOUNT)
    # Digest secrets for Kamailio: HA1 = md5(user:realm:pw), HA1B = md5(user@realm:realm:pw).
    ha1: Mapped[str] = mapped_column(String(64))
    ha1b: Mapped[str] = mapped_column(String(64))
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)
    caller_id_name: Mapped[str | None] = mapped_column(String(64))
    caller_id_number: Mapped[str | None] = mapped_column(String(32))
    codecs: Mapped[str] = mapped_column(String(128), default="PCMA,PCMU,G722,OPUS")
    nat_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    max_concurrent_calls: Mapped[int | None] = mapped_column(Integer)
    strip_prefix: Mapped[str] = mapped_column(String(16), default="")
    add_prefix: Mapped[str] = mapped_column(String(16), default="")
    trunk_group_id: Mapped[int | None] = mapped_column(ForeignKey("trunk_groups.id"))
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_trunks.id"))
    rate_deck_id: Mapped[int | None] = mapped_column(ForeignKey("rate_decks.id"))
    record_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    webphone_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Comma-separated number prefixes this account may not call, and caller-ID prefix lists
    # (an empty allow list allows any caller ID).
    restricted_prefixes: Mapped[str] = mapped_column(String(1024), default="")
    callerid_allow: Mapped[str] = mapped_column(String(1024), default="")
    callerid_deny: Mapped[str] = mapped_column(String(1024), default="")
    # Customer trunk source address (IP or host) when kind == trunk.
    source_ip: Mapped[str | None] = mapped_column(String(64))

    tenant: Mapped[Tenant] = relationship()
