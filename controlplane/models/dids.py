"""Inbound numbers (DIDs) and where they ring."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, Timestamped, enum_type
from controlplane.models.tenancy import Status


class DidDestination(enum.StrEnum):
    ACCOUNT = "account"
    EXTERNAL = "external"
    HANGUP = "hangup"
    # IVR, queue, ring group, voicemail and conference join here when the PBX features land.


class Did(Timestamped, Base):
    __tablename__ = "dids"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)
    destination_type: Mapped[DidDestination] = mapped_column(
        enum_type(DidDestination), default=DidDestination.ACCOUNT
    )
    sip_account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id"))
    # The target for destination types that are not an account (an external number, ...).
    destination_value: Mapped[str | None] = mapped_column(String(128))
