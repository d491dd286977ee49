"""Carriers, their trunks (with buy-rate decks) and trunk groups for ordered failover."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from controlplane.models.base import Base, Timestamped, enum_type
from controlplane.models.tenancy import Status


class AuthMode(enum.StrEnum):
    IP = "ip"
    REGISTER = "register"


class Carrier(Timestamped, Base):
    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    provider_tag: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)

    trunks: Mapped[list[CarrierTrunk]] = relationship(back_populates="carrier", order_by="CarrierTrunk.id")


class CarrierTrunk(Timestamped, Base):
    __tablename__ = "carrier_trunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    host: Mapped[str] = mapped_column(String(190))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    auth_mode: Mapped[AuthMode] = mapped_column(enum_type(AuthMode), default=AuthMode.IP)
    username: Mapped[str | None] = mapped_column(String(64))
    # Our account at the carrier. Kamailio's uac module needs the secret itself (to register, and to
    # answer the carrier's challenges to our INVITEs), so it is kept as given, like uacreg does.
    password: Mapped[str | None] = mapped_column(String(128))
    max_channels: Mapped[int | None] = mapped_column(Integer)
    strip_prefix: Mapped[str] = mapped_column(String(16), default="")
    add_prefix: Mapped[str] = mapped_column(String(16), default="")
    codecs: Mapped[str] = mapped_column(String(128), default="PCMA,PCMU")
    # Lower number is tried first when buy rates tie.
    priority: Mapped[int] = mapped_column(Integer, default=10)
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)
    buy_deck_id: Mapped[int | None] = mapped_column(ForeignKey("rate_decks.id"))
    # The trunk of last resort when nothing else routes a number.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    carrier: Mapped[Carrier] = relationship(back_populates="trunks")
    addresses: Mapped[list[TrunkAddress]] = relationship(cascade="all, delete-orphan")


class TrunkAddress(Base):
    """Extra source addresses a carrier may send inbound calls from."""

    __tablename__ = "trunk_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    trunk_id: Mapped[int] = mapped_column(ForeignKey("carrier_trunks.id"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    mask: Mapped[int] = mapped_column(Integer, default=32)


class TrunkGroup(Timestamped, Base):
    __tablename__ = "trunk_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    members: Mapped[list[TrunkGroupMember]] = relationship(
        order_by="TrunkGroupMember.position", cascade="all, delete-orphan"
    )


class TrunkGroupMember(Base):
    __tablename__ = "trunk_group_members"
    __table_args__ = (UniqueConstraint("group_id", "trunk_id", name="uq_trunk_group_members_group_trunk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("trunk_groups.id"))
    trunk_id: Mapped[int] = mapped_column(ForeignKey("carrier_trunks.id"))
    position: Mapped[int] = mapped_column(Integer)
