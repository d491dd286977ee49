"""Carriers and their trunks."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import refuse
from controlplane.models import AuthMode, Carrier, CarrierTrunk, DeckKind, RateDeck
from controlplane.services import audit
from controlplane.services.scope import Scope

HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,190}$")


def create_carrier(
    session: Session,
    scope: Scope,
    *,
    name: str,
    host: str,
    port: int = 5060,
    transport: str = "udp",
    buy_deck: str | None = None,
    priority: int = 10,
    max_channels: int | None = None,
    strip_prefix: str = "",
    add_prefix: str = "",
    provider_tag: str | None = None,
    is_default: bool = False,
    username: str | None = None,
    password: str | None = None,
    register: bool = False,
) -> Carrier:
    """A carrier with its first trunk (named like the carrier); more trunks can be added later.

    username/password: our account at the carrier, answering its digest challenges to our INVITEs
    (and registering to it when `register`).
    """
    scope.require_operator("carriers")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "required"
    elif session.scalar(select(Carrier.id).where(Carrier.name == name)) or session.scalar(
        select(CarrierTrunk.id).where(CarrierTrunk.name == name)
    ):
        conflicts["name"] = f"{name!r} exists already"
    if not HOST.match(host or ""):
        errors["host"] = f"{host!r} is not a host name or address"
    if not 1 <= int(port) <= 65535:
        errors["port"] = "1 to 65535"
    if transport not in ("udp", "tcp", "tls"):
        errors["transport"] = "udp, tcp or tls"
    if password and not username:
        errors["username"] = "required with a password"
    if register and not (username and password):
        errors["register"] = "needs a username and a password"
    if max_channels is not None and max_channels < 0:
        errors["max_channels"] = "must not be negative"
    for field, value in (("strip_prefix", strip_prefix), ("add_prefix", add_prefix)):
        if value and not value.isdigit():
            errors[field] = "digits only"
    deck_id = None
    if buy_deck is not None:
        deck = session.scalar(select(RateDeck).where(RateDeck.name == buy_deck))
        if deck is None:
            errors["buy_deck"] = f"rate deck {buy_deck!r} not found"
        else:
            deck_id = deck.id
            if deck.kind != DeckKind.BUY:
                deck.kind = DeckKind.BUY
    refuse(errors, conflicts)
    carrier = Carrier(name=name, provider_tag=provider_tag)
    carrier.trunks.append(CarrierTrunk(
        name=name, host=host, port=int(port), transport=transport, buy_deck_id=deck_id, priority=priority,
        max_channels=max_channels, strip_prefix=strip_prefix, add_prefix=add_prefix, is_default=is_default,
        username=username or None, password=password or None,
        auth_mode=AuthMode.REGISTER if register else AuthMode.IP,
    ))
    session.add(carrier)
    session.flush()
    audit.record(session, scope.actor, "carrier.create", "carrier", carrier.id,
                 details={"name": name, "host": host, "port": port, "buy_deck": buy_deck,
                          "username": username, "register": register})
    return carrier


def list_carriers(session: Session, scope: Scope) -> list[Carrier]:
    """Carriers are the operator's: a tenant scope is refused, not shown an empty list."""
    scope.require_operator("carriers")
    return list(session.scalars(select(Carrier).order_by(Carrier.id)))
