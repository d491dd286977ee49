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
    # Inbound event socket the controller and `calls hangup` use (uuid_kill, uuid_exists).
    # esl_host None means the SIP host. The name must be the node's switchname (FreeSWITCH-Switchname).
    esl_host: Mapped[str | None] = mapped_column(String(190))
    esl_port: Mapped[int] = mapped_column(Integer, default=8021, server_default="8021")
    # Kept as given, not hashed: FreeSWITCH's ESL authenticates with the cleartext password
    # (`auth <password>`), so the controller must be able to send it. None: FreeSWITCH's default.
    esl_password: Mapped[str | None] = mapped_column(String(128))


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
