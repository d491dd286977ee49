"""Carriers and their trunks."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.errors import Conflict, Invalid, NotFound, refuse
from controlplane.models import (
    AuthMode,
    Carrier,
    CarrierTrunk,
    Cdr,
    DeckKind,
    Rate,
    RateDeck,
    SipAccount,
    Status,
    TrunkGroup,
    TrunkGroupMember,
)
from controlplane.services import audit
from controlplane.services.scope import Scope

HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,190}$")
NAME_MAX, TAG_MAX, PREFIX_MAX = 128, 64, 16  # the columns' lengths
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # MariaDB INT
TRUNK_FIELDS = ("name", "host", "port", "transport", "buy_deck", "priority", "max_channels", "strip_prefix",
                "add_prefix", "is_default", "username", "password", "register")


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
    _carrier_checks(session, errors, conflicts, name=name, provider_tag=provider_tag)
    values = _trunk_values(session, errors, conflicts, name=name, host=host, port=port, transport=transport,
                           buy_deck=buy_deck, priority=priority, max_channels=max_channels,
                           strip_prefix=strip_prefix, add_prefix=add_prefix, is_default=is_default,
                           username=username, password=password, register=register)
    refuse(errors, conflicts)
    carrier = Carrier(name=name, provider_tag=provider_tag)
    carrier.trunks.append(CarrierTrunk(**values))
    session.add(carrier)
    session.flush()
    audit.record(session, scope.actor, "carrier.create", "carrier", carrier.id,
                 details={"name": name, "host": host, "port": port, "buy_deck": buy_deck,
                          "username": username, "register": register})
    return carrier


def _carrier_checks(session: Session, errors: dict[str, str], conflicts: dict[str, str], *, name: str,
                    provider_tag: str | None, carrier: Carrier | None = None) -> None:
    """A carrier's own fields (`carrier`: the one being changed, whose own name is no conflict)."""
    if not name:
        errors["name"] = "required"
    elif len(name) > NAME_MAX:
        errors["name"] = f"at most {NAME_MAX} characters"
    elif session.scalar(select(Carrier.id).where(
            Carrier.name == name, *([Carrier.id != carrier.id] if carrier is not None else []))):
        conflicts["name"] = f"{name!r} exists already"
    if provider_tag is not None and len(provider_tag) > TAG_MAX:
        errors["provider_tag"] = f"at most {TAG_MAX} characters"


def update_carrier(session: Session, scope: Scope, carrier: Carrier, changes: dict) -> Carrier:
    """Rename a carrier or change its provider tag (its trunks are changed one by one); audited with before and
    after when anything changed."""
    scope.require_operator("carriers")
    errors = {field: "cannot be changed" for field in changes if field not in ("name", "provider_tag")}
    conflicts: dict[str, str] = {}
    name = (changes["name"] or "").strip() if "name" in changes else carrier.name
    provider_tag = changes.get("provider_tag", carrier.provider_tag)
    _carrier_checks(session, errors, conflicts, name=name, provider_tag=provider_tag, carrier=carrier)
    refuse(errors, conflicts)
    _apply(session, scope, carrier, {"name": name, "provider_tag": provider_tag}, "carrier.update", "carrier")
    return carrier


def _apply(session: Session, scope: Scope, obj: object, values: dict, action: str, entity: str,
           secret: tuple[str, ...] = ()) -> None:
    """Set the checked `values` on `obj`; audited with before and after of what changed (a `secret` column as
    set / not set only), nothing recorded when nothing changed."""
    before, after = {}, {}
    for column, value in values.items():
        old = getattr(obj, column)
        if old == value:
            continue
        before[column], after[column] = _shown(old, column in secret), _shown(value, column in secret)
        setattr(obj, column, value)
    if not after:
        return
    session.flush()
    audit.record(session, scope.actor, action, entity, obj.id, details={"before": before, "after": after})


def _shown(value: object, secret: bool) -> object:
    if secret:
        return "(set)" if value else None
    return getattr(value, "value", value)  # an enum by its value


def _trunk_values(session: Session, errors: dict[str, str], conflicts: dict[str, str], *, name: str, host: str,
                  port: int, transport: str, buy_deck: str | None, priority: int, max_channels: int | None,
                  strip_prefix: str, add_prefix: str, is_default: bool, username: str | None, password: str | None,
                  register: bool, trunk: CarrierTrunk | None = None) -> dict:
    """A carrier trunk's columns from checked fields, for a new trunk or (`trunk`) all of an existing one's fields
    with the changes applied; what is wrong goes into `errors` / `conflicts`. The one set of trunk rules."""
    name = (name or "").strip()
    if not name:
        errors["name"] = "required"
    elif len(name) > NAME_MAX:
        errors["name"] = f"at most {NAME_MAX} characters"
    elif session.scalar(select(CarrierTrunk.id).where(
            CarrierTrunk.name == name, *([CarrierTrunk.id != trunk.id] if trunk is not None else []))):
        conflicts["name"] = f"{name!r} exists already"
    if not HOST.match(host or ""):
        errors["host"] = f"{host!r} is not a host name or address"
    port = _whole(port)
    if port is None or not 1 <= port <= 65535:
        errors["port"] = "1 to 65535"
    if transport not in ("udp", "tcp", "tls"):
        errors["transport"] = "udp, tcp or tls"
    if not isinstance(priority, int) or not INT_MIN <= priority <= INT_MAX:
        errors["priority"] = "a whole number"
    if password and not username:
        errors["username"] = "required with a password"
    if register and not (username and password):
        errors["register"] = "needs a username and a password"
    for field, value, longest in (("username", username, 64), ("password", password, 128)):
        if value and len(value) > longest:
            errors[field] = f"at most {longest} characters"
    if max_channels is not None and (not isinstance(max_channels, int) or max_channels < 0):
        errors["max_channels"] = "must not be negative"
    elif max_channels is not None and max_channels > INT_MAX:
        errors["max_channels"] = f"at most {INT_MAX}"
    for field, value in (("strip_prefix", strip_prefix), ("add_prefix", add_prefix)):
        if value and not (value.isdigit() and len(value) <= PREFIX_MAX):
            errors[field] = f"digits only, at most {PREFIX_MAX}"
    deck_id = None
    if buy_deck is not None:
        deck = session.scalar(select(RateDeck).where(RateDeck.name == buy_deck))
        if deck is None:
            errors["buy_deck"] = f"rate deck {buy_deck!r} not found"
        else:
            deck_id = deck.id
            if deck.kind != DeckKind.BUY and not errors and not conflicts:
                deck.kind = DeckKind.BUY
    return {
        "name": name, "host": host, "port": port, "transport": transport, "buy_deck_id": deck_id,
        "priority": priority, "max_channels": max_channels, "strip_prefix": strip_prefix or "",
        "add_prefix": add_prefix or "", "is_default": bool(is_default), "username": username or None,
        "password": password or None, "auth_mode": AuthMode.REGISTER if register else AuthMode.IP,
    }


def _whole(value: object) -> int | None:
    """An int from an int or its digits (a CLI or config may pass the port as text); None if it is neither."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _trunk_fields(session: Session, trunk: CarrierTrunk) -> dict:
    """A trunk's fields as `_trunk_values` takes them (the inverse of what it returns)."""
    return {
        "name": trunk.name, "host": trunk.host, "port": trunk.port, "transport": trunk.transport,
        "buy_deck": session.scalar(select(RateDeck.name).where(RateDeck.id == trunk.buy_deck_id))
        if trunk.buy_deck_id else None,
        "priority": trunk.priority, "max_channels": trunk.max_channels, "strip_prefix": trunk.strip_prefix,
        "add_prefix": trunk.add_prefix, "is_default": trunk.is_default, "username": trunk.username,
        "password": trunk.password, "register": trunk.auth_mode == AuthMode.REGISTER,
    }


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
    trunk = CarrierTrunk(**_trunk_values(
        session, errors, conflicts, name=name, host=host, port=port, transport=transport, buy_deck=buy_deck,
        priority=priority, max_channels=max_channels, strip_prefix=strip_prefix, add_prefix=add_prefix,
        is_default=is_default, username=username, password=password, register=register))
    refuse(errors, conflicts)
    carrier.trunks.append(trunk)
    session.flush()
    audit.record(session, scope.actor, "carrier_trunk.create", "carrier_trunk", trunk.id,
                 details={"carrier": carrier.name, "name": trunk.name, "host": host, "port": port})
    return trunk


def get_trunk(session: Session, scope: Scope, carrier: Carrier, trunk_id: int) -> CarrierTrunk:
    """One of `carrier`'s trunks (another carrier's trunk is missing here)."""
    scope.require_operator("carriers")
    trunk = session.get(CarrierTrunk, trunk_id)
    if trunk is None or trunk.carrier_id != carrier.id:
        raise NotFound(f"carrier trunk {trunk_id} not found")
    return trunk


def update_trunk(session: Session, scope: Scope, trunk: CarrierTrunk, changes: dict) -> CarrierTrunk:
    """Change the given fields of a trunk: checked with the others as a new trunk is (a password still needs a
    username, a register-mode trunk both); audited with before and after, the password as set or not only."""
    scope.require_operator("carriers")
    errors = {field: "cannot be changed" for field in changes if field not in TRUNK_FIELDS}
    conflicts: dict[str, str] = {}
    fields = {**_trunk_fields(session, trunk), **{k: v for k, v in changes.items() if k in TRUNK_FIELDS}}
    values = _trunk_values(session, errors, conflicts, trunk=trunk, **fields)
    refuse(errors, conflicts)
    _apply(session, scope, trunk, values, "carrier_trunk.update", "carrier_trunk", secret=("password",))
    return trunk


def delete_trunk(session: Session, scope: Scope, trunk: CarrierTrunk, *, live_calls: int = 0) -> None:
    """Delete a trunk nothing needs (with its extra source addresses); `live_calls`: how many calls run over it
    now (the adapter asks the live state). Refused (Conflict) while it is its carrier's only trunk, an account
    routes over it, a trunk group lists it, a rate row names it, a CDR names it (the history keeps the trunk
    its calls went over) or a call runs over it (its CDR would name a trunk that is gone)."""
    scope.require_operator("carriers")
    conflicts: dict[str, str] = {}
    carrier = trunk.carrier
    if len(carrier.trunks) <= 1:
        conflicts["carrier"] = f"the only trunk of carrier {carrier.name!r}: disable the carrier instead"
    accounts = session.scalar(select(func.count()).select_from(SipAccount).where(SipAccount.trunk_id == trunk.id))
    if accounts:
        conflicts["sip_accounts"] = f"{accounts} SIP account(s) route over it"
    groups = list(session.scalars(select(TrunkGroup.name).join(TrunkGroupMember).where(
        TrunkGroupMember.trunk_id == trunk.id).order_by(TrunkGroup.name)))
    if groups:
        conflicts["trunk_groups"] = f"listed by trunk group(s) {', '.join(groups)}"
    decks = list(session.scalars(select(RateDeck.name).where(RateDeck.id.in_(
        select(Rate.deck_id).where(Rate.trunk_id == trunk.id))).order_by(RateDeck.name)))
    if decks:
        conflicts["rates"] = f"rates of deck(s) {', '.join(decks)} name it"
    if session.scalar(select(Cdr.id).where(Cdr.trunk_id == trunk.id).limit(1)) is not None:
        conflicts["cdrs"] = "it carried calls and their CDRs keep it: disable it instead"
    if live_calls:
        conflicts["calls"] = f"{live_calls} call(s) run over it now"
    refuse({}, conflicts)
    before = {"carrier": carrier.name, "name": trunk.name, "host": trunk.host, "port": trunk.port,
              "transport": trunk.transport, "addresses": [f"{a.address}/{a.mask}" for a in trunk.addresses]}
    trunk_id = trunk.id
    session.delete(trunk)
    session.flush()
    session.expire(carrier, ["trunks"])
    audit.record(session, scope.actor, "carrier_trunk.delete", "carrier_trunk", trunk_id,
                 details={"before": before, "after": None})


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
    members = _group_members(session, errors, trunks)
    refuse(errors, conflicts)
    group = TrunkGroup(name=name, members=members)
    session.add(group)
    session.flush()
    audit.record(session, scope.actor, "trunk_group.create", "trunk_group", group.id,
                 details={"name": name, "trunks": trunks})
    return group


def _group_members(session: Session, errors: dict[str, str], trunks: list[str],
                   group: TrunkGroup | None = None) -> list[TrunkGroupMember]:
    """A group's members for these trunk names, in order (`group`'s own rows kept for trunks it lists already);
    what is wrong goes into `errors`."""
    found = {t.name: t for t in session.scalars(select(CarrierTrunk).where(CarrierTrunk.name.in_(trunks)))}
    if not trunks:
        errors["trunks"] = "at least one carrier trunk"
    elif len(set(trunks)) != len(trunks):
        errors["trunks"] = "a trunk may appear once"
    elif missing := [t for t in trunks if t not in found]:
        errors["trunks"] = f"carrier trunk(s) not found: {', '.join(missing)}"
    if "trunks" in errors:
        return []
    kept = {m.trunk_id: m for m in group.members} if group is not None else {}
    members = []
    for position, name in enumerate(trunks):
        member = kept.get(found[name].id) or TrunkGroupMember(trunk_id=found[name].id)
        member.position = position
        members.append(member)
    return members


def get_trunk_group(session: Session, scope: Scope, group_id: int) -> TrunkGroup:
    scope.require_operator("trunk groups")
    group = session.get(TrunkGroup, group_id)
    if group is None:
        raise NotFound(f"trunk group {group_id} not found")
    return group


def _trunk_names(session: Session, group: TrunkGroup) -> list[str]:
    names = dict(session.execute(select(CarrierTrunk.id, CarrierTrunk.name).where(
        CarrierTrunk.id.in_([m.trunk_id for m in group.members]))).all())
    return [names[m.trunk_id] for m in group.members]


def update_trunk_group(session: Session, scope: Scope, group: TrunkGroup, trunks: list[str]) -> TrunkGroup:
    """The group's trunks, in their new order (checked as a new group's are); audited when they changed."""
    scope.require_operator("trunk groups")
    errors: dict[str, str] = {}
    before = _trunk_names(session, group)
    members = _group_members(session, errors, trunks, group)
    refuse(errors)
    if before == list(trunks):
        return group
    group.members = members
    session.flush()
    audit.record(session, scope.actor, "trunk_group.update", "trunk_group", group.id,
                 details={"before": {"trunks": before}, "after": {"trunks": list(trunks)}})
    return group


def delete_trunk_group(session: Session, scope: Scope, group: TrunkGroup) -> None:
    """Delete a group no account routes over (Conflict otherwise: route those accounts elsewhere first)."""
    scope.require_operator("trunk groups")
    accounts = session.scalar(select(func.count()).select_from(SipAccount).where(
        SipAccount.trunk_group_id == group.id))
    if accounts:
        raise Conflict({"sip_accounts": f"{accounts} SIP account(s) route over it: route them elsewhere first"})
    before = {"name": group.name, "trunks": _trunk_names(session, group)}
    group_id = group.id
    session.delete(group)
    session.flush()
    audit.record(session, scope.actor, "trunk_group.delete", "trunk_group", group_id,
                 details={"before": before, "after": None})


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
