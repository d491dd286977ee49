"""What the SIP edge needs beyond accounts and carriers: media nodes and IP allow/deny lists."""

from __future__ import annotations

import enum

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, Timestamped, enum_type
from controlplane.models.tenancy import Status


class MediaNode(Timestamped, Base):
    """A FreeSWITCH node behind Kamailio's dispatcher; calls are spread over the active ones."""

    __tablename__ = "media_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # SIP address FreeSWITCH listens on for Kamailio; also the source address of its calls.
    host: Mapped[str] = mapped_column(String(190))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    weight: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.ACTIVE)


class IpListAction(enum.StrEnum):
    ALLOW = "allow"  # exempt from flood detection and failed-auth bans
    DENY = "deny"  # dropped at the edge without a reply


class IpListEntry(Timestamped, Base):
    """An operator-managed IP allow/deny list entry (a single address or a CIDR network)."""

    __tablename__ = "ip_list_entries"
    __table_args__ = (UniqueConstraint("action", "address", "mask", name="uq_ip_list_entries_action_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[IpListAction] = mapped_column(enum_type(IpListAction))
    address: Mapped[str] = mapped_column(String(64))
    mask: Mapped[int] = mapped_column(Integer, default=32)
    note: Mapped[str | None] = mapped_column(String(255))
