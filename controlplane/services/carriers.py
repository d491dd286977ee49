"""Carriers and their trunks."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid, NotFound, refuse
from controlplane.models import (
    AuthMode,
    Carrier,
    CarrierTrunk,
    DeckKind,
    RateDeck,
    SipAccount,
    Status,
    TrunkGroup,
    TrunkGroupMember,
)
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
    if name and session.scalar(select(Carrier.id).where(Carrier.name == name)):
        conflicts["name"] = f"{name!r} exists already"
    trunk = _trunk(session, errors, conflicts, name=name, host=host, port=port, transport=transport,
                   buy_deck=buy_deck, priority=priority, max_channels=max_channels, strip_prefix=strip_prefix,
                   add_prefix=add_prefix, is_default=is_default, username=username, password=password,
                   register=register)
    refuse(errors, conflicts)
    carrier = Carrier(name=name, provider_tag=provider_tag)
    carrier.trunks.append(trunk)
    session.add(carrier)
    session.flush()
    audit.record(session, scope.actor, "carrier.create", "carrier", carrier.id,
                 details={"name": name, "host": host, "port": port, "buy_deck": buy_deck,
                          "username": username, "register": register})
    return carrier


def _trunk(session: Session, errors: dict[str, str], conflicts: dict[str, str], *, name: str, host: str,
           port: int, transport: str, buy_deck: str | None, priority: int, max_channels: int | None,
           strip_prefix: str, add_prefix: str, is_default: bool, username: str | None, password: str | None,
           register: bool) -> CarrierTrunk:
    """A carrier trunk from checked fields; what is wrong goes into `errors` / `conflicts`."""
    if not name:
        errors["name"] = "required"
    elif session.scalar(select(CarrierTrunk.id).where(CarrierTrunk.name == name)):
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
            if deck.kind != DeckKind.BUY and not errors:
                deck.kind = DeckKind.BUY
    return CarrierTrunk(
        name=name, host=host, port=int(port), transport=transport,
        buy_deck_id=deck_id, priority=priority, max_channels=max_channels, strip_prefix=strip_prefix,
        add_prefix=add_prefix, is_default=is_default, username=username or None, password=password or None,
        auth_mode=AuthMode.REGISTER if register else AuthMode.IP,
    )


def get_carrier(session: Session, scope: Scope, carrier_id: int) -> Carrier:
    scope.require_operator("carriers")
    carrier = session.get(Carrier, carrier_id)
    if carrier is None:
        raise NotFound(f"carrier {carrier_id} not found")
    return carrier


def add_trunk(session: Session, scope: Scope, carrier: Carrier, *, name: str, host: str, port: int = 5060,
              transport: str = "udp", buy_deck: str | None = None, priority: int = 10,
              max_channels: int | None = None, strip_prefix: str = "", add_prefix: str = "",
              is_default: bool = False, username: str | None = None, password: str | None = None,
              register: bool = False) -> CarrierTrunk:
    """Another trunk of `carrier` (another address, deck or priority for LCR and failover)."""
    scope.require_operator("carriers")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    trunk = _trunk(session, errors, conflicts, name=(name or "").strip(), host=host, port=port,
                   transport=transport, buy_deck=buy_deck, priority=priority, max_channels=max_channels,
                   strip_prefix=strip_prefix, add_prefix=add_prefix, is_default=is_default, username=username,
                   password=password, register=register)
    refuse(errors, conflicts)
    carrier.trunks.append(trunk)
    session.flush()
    audit.record(session, scope.actor, "carrier_trunk.create", "carrier_trunk", trunk.id,
                 details={"carrier": carrier.name, "name": trunk.name, "host": host, "port": port})
    return trunk


def set_carrier_status(session: Session, scope: Scope, carrier: Carrier, status: Status) -> bool:
    """Disable a carrier (no call goes out over its trunks, none is taken from it) or enable it again."""
    scope.require_operator("carriers")
    if carrier.status == status:
        return False
    before, carrier.status = carrier.status, status
    session.flush()
    audit.record(session, scope.actor, "carrier.enable" if status == Status.ACTIVE else "carrier.disable",
                 "carrier", carrier.id, details={"before": {"status": before.value}, "after": {"status": status.value}})
    return True


def list_carriers(session: Session, scope: Scope) -> list[Carrier]:
    """Carriers are the operator's: a tenant scope is refused, not shown an empty list."""
    scope.require_operator("carriers")
    return list(session.scalars(select(Carrier).order_by(Carrier.id)))


def list_trunk_groups(session: Session, scope: Scope) -> list[TrunkGroup]:
    scope.require_operator("trunk groups")
    return list(session.scalars(select(TrunkGroup).order_by(TrunkGroup.id)))


def create_trunk_group(session: Session, scope: Scope, name: str, trunks: list[str]) -> TrunkGroup:
    """An ordered list of carrier trunks for sequential failover (first listed, first tried)."""
    scope.require_operator("trunk groups")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 128:
        errors["name"] = "required, at most 128 characters"
    elif session.scalar(select(TrunkGroup.id).where(TrunkGroup.name == name)):
        conflicts["name"] = f"{name!r} exists already"
    found = {t.name: t for t in session.scalars(select(CarrierTrunk).where(CarrierTrunk.name.in_(trunks)))}
    if not trunks:
        errors["trunks"] = "at least one carrier trunk"
    elif len(set(trunks)) != len(trunks):
        errors["trunks"] = "a trunk may appear once"
    elif missing := [t for t in trunks if t not in found]:
        errors["trunks"] = f"carrier trunk(s) not found: {', '.join(missing)}"
    refuse(errors, conflicts)
    group = TrunkGroup(name=name, members=[TrunkGroupMember(trunk_id=found[t].id, position=i)
                                           for i, t in enumerate(trunks)])
    session.add(group)
    session.flush()
    audit.record(session, scope.actor, "trunk_group.create", "trunk_group", group.id,
                 details={"name": name, "trunks": trunks})
    return group


def route_account(session: Session, scope: Scope, account: SipAccount, *, trunk_group: str | None = None,
                  trunk: str | None = None) -> SipAccount:
    """An account's routing override: its calls go over this trunk group (in order) or this one trunk instead of
    least-cost routing; neither: LCR again. Operators set it (it names the switch's carriers)."""
    scope.require_operator("routing overrides")
    if trunk_group and trunk:
        raise Invalid({"trunk": "a trunk group or a trunk, not both"})
    group_id = trunk_id = None
    if trunk_group:
        group_id = session.scalar(select(TrunkGroup.id).where(TrunkGroup.name == trunk_group))
        if group_id is None:
            raise Invalid({"trunk_group": f"trunk group {trunk_group!r} not found"})
    if trunk:
        trunk_id = session.scalar(select(CarrierTrunk.id).where(CarrierTrunk.name == trunk))
        if trunk_id is None:
            raise Invalid({"trunk": f"carrier trunk {trunk!r} not found"})
    before = {"trunk_group_id": account.trunk_group_id, "trunk_id": account.trunk_id}
    account.trunk_group_id, account.trunk_id = group_id, trunk_id
    session.flush()
    audit.record(session, scope.actor, "sip_account.route", "sip_account", account.id, account.tenant_id,
                 {"before": before, "after": {"trunk_group_id": group_id, "trunk_id": trunk_id}})
    return account
