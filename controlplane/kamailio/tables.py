"""Derive Kamailio's standard tables from ours, write the differences, reload what Kamailio caches.

Two halves:
- `derive(snapshot)` is pure: plain rows in, the exact content of every Kamailio table out.
  The tenancy rules live here (a tenant is active only when it and all its parents are; only
  active digest accounts of active tenants get a `subscriber` row; trunks map to their account).
- `sync(...)` is the thin adapter: read our models, compare with Kamailio's tables, rewrite the
  tables that differ in one transaction, then reload those over JSON-RPC and kick the
  registrations of accounts that lost their `subscriber` row.

Running it twice changes nothing the second time (no writes, no reloads).

Mapping (see also kamailio-cfg/README.md):
  subscriber   id = sip_accounts.id, username, domain = tenant realm, ha1, ha1b (password empty)
  domain       domain = realm, did = tenants.id (lookup_domain gives the tenant id)
  address      grp 1 carriers (tag carriers.id), grp 2 customer trunks (tag "<account id>:<tenant id>"),
               grp 3 IP deny list, grp 4 IP allow list
  dispatcher   setid = CP_KAMAILIO_FS_SETID, one row per active media node
  uacreg       l_uuid = "trunk-<carrier_trunks.id>" for active register-mode carrier trunks
  htable       key "host:port" of every active carrier trunk -> carriers.id ("carriers" htable)
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, select
from sqlalchemy.orm import Session

from controlplane.models import (
    AuthMode,
    Carrier,
    CarrierTrunk,
    IpListAction,
    IpListEntry,
    MediaNode,
    SipAccount,
    SipAccountKind,
    Status,
    Tenant,
    TrunkAddress,
)

log = logging.getLogger(__name__)

GRP_CARRIER = 1
GRP_TRUNK = 2
GRP_DENY = 3
GRP_ALLOW = 4
CARRIERS_HTABLE = "carriers"


# --- plain input rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantRow:
    id: int
    realm: str | None
    active: bool
    parent_id: int | None


@dataclass(frozen=True)
class AccountRow:
    id: int
    tenant_id: int
    username: str
    kind: str  # "account" | "trunk"
    active: bool
    ha1: str
    ha1b: str
    source_ip: str | None


@dataclass(frozen=True)
class TrunkRow:
    id: int
    carrier_id: int
    active: bool  # trunk and its carrier
    host: str
    port: int
    transport: str
    auth_mode: str  # "ip" | "register"
    username: str | None
    password: str | None
    addresses: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class NodeRow:
    id: int
    name: str
    host: str
    port: int
    transport: str
    weight: int
    active: bool


@dataclass(frozen=True)
class IpRow:
    action: str  # "allow" | "deny"
    address: str
    mask: int


@dataclass(frozen=True)
class ModelRows:
    tenants: list[TenantRow] = field(default_factory=list)
    accounts: list[AccountRow] = field(default_factory=list)
    trunks: list[TrunkRow] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    ip_entries: list[IpRow] = field(default_factory=list)


# --- Kamailio table content ------------------------------------------------------------------
@dataclass(frozen=True)
class KamailioTables:
    subscriber: dict[int, tuple[str, str, str, str]]  # id -> (username, domain, ha1, ha1b)
    domain: frozenset[tuple[str, str]]  # (domain, did)
    address: frozenset[tuple[int, str, int, int, str]]  # (grp, ip_addr, mask, port, tag)
    dispatcher: frozenset[tuple[int, str, int, int, str, str]]  # (setid, destination, flags, priority, attrs, desc)
    uacreg: frozenset[tuple[str, str, str, str, str, str, str, str, str, int]]
    htable: frozenset[tuple[str, int, int, str]]  # (key_name, key_type, value_type, key_value)


Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    """IP addresses of host (itself when it is an address); [] when it does not resolve."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except OSError:
        log.warning("kamailio sync: %s does not resolve; left out of the address table", host)
        return []
    return sorted({info[4][0] for info in infos})


def active_tenant_ids(tenants: Iterable[TenantRow]) -> set[int]:
    """Tenants that are active themselves and under active parents all the way up."""
    by_id = {t.id: t for t in tenants}
    result: set[int] = set()
    for tenant in by_id.values():
        current: TenantRow | None = tenant
        seen: set[int] = set()
        ok = True
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if not current.active:
                ok = False
                break
            current = by_id.get(current.parent_id) if current.parent_id is not None else None
        if ok:
            result.add(tenant.id)
    return result


def _mask(address: str, mask: int | None) -> int:
    full = 128 if ":" in address else 32
    return full if mask is None else max(0, min(int(mask), full))


def derive(snapshot: ModelRows, fs_setid: int = 1, resolve: Resolver = resolve_host) -> KamailioTables:
    """The full content of Kamailio's tables for this snapshot of our data (pure but for resolve)."""
    live = active_tenant_ids(snapshot.tenants)
    realms = {t.id: t.realm for t in snapshot.tenants if t.id in live and t.realm}

    subscriber: dict[int, tuple[str, str, str, str]] = {}
    address: set[tuple[int, str, int, int, str]] = set()
    for acct in snapshot.accounts:
        realm = realms.get(acct.tenant_id)
        if realm is None or not acct.active:
            continue
        if acct.kind == SipAccountKind.ACCOUNT.value:
            subscriber[acct.id] = (acct.username, realm, acct.ha1, acct.ha1b)
        elif acct.kind == SipAccountKind.TRUNK.value and acct.source_ip:
            for ip in resolve(acct.source_ip):
                address.add((GRP_TRUNK, ip, _mask(ip, None), 0, f"{acct.id}:{acct.tenant_id}"))

    domain = frozenset((realm, str(tid)) for tid, realm in realms.items())

    uacreg = set()
    htable = set()
    for trunk in snapshot.trunks:
        if not trunk.active:
            continue
        for ip in resolve(trunk.host):
            address.add((GRP_CARRIER, ip, _mask(ip, None), 0, str(trunk.carrier_id)))
        for extra, mask in trunk.addresses:
            for ip in resolve(extra):
                address.add((GRP_CARRIER, ip, _mask(ip, mask), 0, str(trunk.carrier_id)))
        host = trunk.host.lower()
        htable.add((f"{host}:{trunk.port}", 0, 1, str(trunk.carrier_id)))
        if trunk.username and trunk.password:
            # For carriers that challenge our INVITEs (uac_auth in failure_route[CARRIER_AUTH]).
            htable.add((f"user/{host}:{trunk.port}", 0, 0, trunk.username))
            htable.add((f"pass/{host}:{trunk.port}", 0, 0, trunk.password))
        if trunk.auth_mode == AuthMode.REGISTER.value and trunk.username:
            proxy = f"sip:{host}:{trunk.port}" + (f";transport={trunk.transport}" if trunk.transport != "udp" else "")
            uacreg.add((
                f"trunk-{trunk.id}", trunk.username, host, trunk.username, host, "",
                trunk.username, trunk.password or "", proxy, 600,
            ))

    for entry in snapshot.ip_entries:
        grp = GRP_DENY if entry.action == IpListAction.DENY.value else GRP_ALLOW
        for ip in resolve(entry.address):
            address.add((grp, ip, _mask(ip, entry.mask), 0, entry.action))

    dispatcher = set()
    for node in snapshot.nodes:
        if not node.active:
            continue
        host = f"[{node.host}]" if ":" in node.host else node.host  # an IPv6 address in a SIP URI
        dest = f"sip:{host}:{node.port}" + (f";transport={node.transport}" if node.transport != "udp" else "")
        dispatcher.add((fs_setid, dest, 0, 0, f"weight={node.weight};duid=node-{node.id}", node.name[:64]))

    return KamailioTables(
        subscriber=subscriber, domain=domain, address=frozenset(address), dispatcher=frozenset(dispatcher),
        uacreg=frozenset(uacreg), htable=frozenset(htable),
    )


# --- reading our models ----------------------------------------------------------------------
def model_rows_from(session: Session) -> ModelRows:
    tenants = [
        TenantRow(id=t.id, realm=t.realm, active=t.status == Status.ACTIVE, parent_id=t.parent_id)
        for t in session.scalars(select(Tenant))
    ]
    accounts = [
        AccountRow(id=a.id, tenant_id=a.tenant_id, username=a.username, kind=a.kind.value,
                   active=a.status == Status.ACTIVE, ha1=a.ha1, ha1b=a.ha1b, source_ip=a.source_ip)
        for a in session.scalars(select(SipAccount))
    ]
    carrier_active = {c.id: c.status == Status.ACTIVE for c in session.scalars(select(Carrier))}
    extra: dict[int, list[tuple[str, int]]] = {}
    for addr in session.scalars(select(TrunkAddress)):
        extra.setdefault(addr.trunk_id, []).append((addr.address, addr.mask))
    trunks = [
        TrunkRow(id=t.id, carrier_id=t.carrier_id,
                 active=t.status == Status.ACTIVE and carrier_active.get(t.carrier_id, False),
                 host=t.host, port=t.port, transport=t.transport, auth_mode=t.auth_mode.value, username=t.username,
                 password=t.password, addresses=tuple(sorted(extra.get(t.id, []))))
        for t in session.scalars(select(CarrierTrunk))
    ]
    nodes = [
        NodeRow(id=n.id, name=n.name, host=n.host, port=n.port, transport=n.transport, weight=n.weight,
                active=n.status == Status.ACTIVE)
        for n in session.scalars(select(MediaNode))
    ]
    ip_entries = [
        IpRow(action=e.action.value, address=e.address, mask=e.mask) for e in session.scalars(select(IpListEntry))
    ]
    return ModelRows(tenants=tenants, accounts=accounts, trunks=trunks, nodes=nodes, ip_entries=ip_entries)


# --- Kamailio's tables (their own metadata; not part of our Base) ------------------------------
_kmeta = MetaData()
T_SUBSCRIBER = Table("subscriber", _kmeta, Column("id", Integer, primary_key=True), Column("username", String(64)),
                     Column("domain", String(64)), Column("password", String(64)), Column("ha1", String(128)),
                     Column("ha1b", String(128)))
T_DOMAIN = Table("domain", _kmeta, Column("id", Integer, primary_key=True), Column("domain", String(64)),
                 Column("did", String(64)))
T_ADDRESS = Table("address", _kmeta, Column("id", Integer, primary_key=True), Column("grp", Integer),
                  Column("ip_addr", String(50)), Column("mask", Integer), Column("port", Integer),
                  Column("tag", String(64)))
T_DISPATCHER = Table("dispatcher", _kmeta, Column("id", Integer, primary_key=True), Column("setid", Integer),
                     Column("destination", String(192)), Column("flags", Integer), Column("priority", Integer),
                     Column("attrs", String(128)), Column("description", String(64)))
T_UACREG = Table("uacreg", _kmeta, Column("id", Integer, primary_key=True), Column("l_uuid", String(64)),
                 Column("l_username", String(64)), Column("l_domain", String(64)), Column("r_username", String(64)),
                 Column("r_domain", String(64)), Column("realm", String(64)), Column("auth_username", String(64)),
                 Column("auth_password", String(64)), Column("auth_proxy", String(255)), Column("expires", Integer),
                 Column("flags", Integer), Column("reg_delay", Integer), Column("contact_addr", String(255)),
                 Column("socket", String(128)))
T_HTABLE = Table("htable", _kmeta, Column("id", Integer, primary_key=True), Column("key_name", String(64)),
                 Column("key_type", Integer), Column("value_type", Integer), Column("key_value", String(128)),
                 Column("expires", Integer))

# Table -> (columns compared, reload needed after a change)
_SET_TABLES = {
    "domain": (T_DOMAIN, ("domain", "did")),
    "address": (T_ADDRESS, ("grp", "ip_addr", "mask", "port", "tag")),
    "dispatcher": (T_DISPATCHER, ("setid", "destination", "flags", "priority", "attrs", "description")),
    "uacreg": (T_UACREG, ("l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm", "auth_username",
                          "auth_password", "auth_proxy", "expires")),
    "htable": (T_HTABLE, ("key_name", "key_type", "value_type", "key_value")),
}


@dataclass
class SyncReport:
    changed: list[str] = field(default_factory=list)  # Kamailio tables rewritten
    reloaded: list[str] = field(default_factory=list)  # JSON-RPC reloads done
    kicked: list[str] = field(default_factory=list)  # user@realm registrations removed
    unbanned: list[str] = field(default_factory=list)  # trusted addresses whose ban was lifted
    errors: list[str] = field(default_factory=list)  # reloads/kicks that failed (Kamailio down?)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def write_tables(engine: Engine, wanted: KamailioTables) -> tuple[list[str], list[tuple[str, str]]]:
    """Make Kamailio's tables equal `wanted`; returns (changed tables, removed (user, realm) pairs)."""
    changed: list[str] = []
    removed: list[tuple[str, str]] = []
    with engine.begin() as conn:
        current = {row.id: (row.username, row.domain, row.ha1, row.ha1b) for row in conn.execute(select(T_SUBSCRIBER))}
        stale = [i for i, row in current.items() if wanted.subscriber.get(i) != row]
        fresh = [i for i, row in wanted.subscriber.items() if current.get(i) != row]
        if stale or fresh:
            changed.append("subscriber")
            # A removed or changed (moved, new password) account loses its registrations.
            removed.extend((current[i][0], current[i][1]) for i in stale)
            if stale:
                conn.execute(T_SUBSCRIBER.delete().where(T_SUBSCRIBER.c.id.in_(stale)))
            # Rows of other ids may hold a (username, domain) a fresh row needs: clear those first.
            for i in fresh:
                username, domain, _, _ = wanted.subscriber[i]
                conn.execute(T_SUBSCRIBER.delete().where(T_SUBSCRIBER.c.username == username,
                                                         T_SUBSCRIBER.c.domain == domain, T_SUBSCRIBER.c.id != i))
            for i in fresh:
                username, domain, ha1, ha1b = wanted.subscriber[i]
                conn.execute(T_SUBSCRIBER.insert().values(id=i, username=username, domain=domain, password="",
                                                          ha1=ha1, ha1b=ha1b))
        for name, (table, cols) in _SET_TABLES.items():
            rows = [tuple(row) for row in conn.execute(select(*[table.c[c] for c in cols]))]
            target = getattr(wanted, name)
            if len(rows) == len(target) and set(rows) == set(target):
                continue
            changed.append(name)
            conn.execute(table.delete())
            if target:
                conn.execute(table.insert(), [dict(zip(cols, row, strict=True)) for row in sorted(target)])
    return changed, sorted(set(removed))


def _reloads(rpc, table: str) -> Callable[[], None] | None:  # noqa: ANN001 - KamailioRpc, imported lazily
    return {
        "domain": rpc.reload_domains,
        "address": rpc.reload_addresses,
        "dispatcher": rpc.reload_dispatcher,
        "uacreg": rpc.reload_uac,
        "htable": lambda: rpc.reload_htable(CARRIERS_HTABLE),
    }.get(table)


def sync(session: Session, engine: Engine | None = None, rpc=None, *, fs_setid: int | None = None,  # noqa: ANN001
         reload: bool = True, force_reload: bool = False, resolve: Resolver = resolve_host) -> SyncReport:
    """Full resync from our tables; reloads (over `rpc`) only what changed unless force_reload."""
    from controlplane.kamailio.rpc import KamailioRpc, KamailioRpcError, KamailioUnreachable
    from controlplane.settings import get_settings

    settings = get_settings()
    engine = engine or session.get_bind()
    wanted = derive(model_rows_from(session), fs_setid if fs_setid is not None else settings.kamailio_fs_setid, resolve)
    changed, removed = write_tables(engine, wanted)
    report = SyncReport(changed=changed, counts={
        "subscriber": len(wanted.subscriber), "domain": len(wanted.domain), "address": len(wanted.address),
        "dispatcher": len(wanted.dispatcher), "uacreg": len(wanted.uacreg), "htable": len(wanted.htable),
    })
    if not reload:
        return report
    rpc = rpc or KamailioRpc()
    tables = list(_SET_TABLES) if force_reload else [t for t in changed if t != "subscriber"]
    for table in tables:
        action = _reloads(rpc, table)
        try:
            action()
            report.reloaded.append(table)
        except (KamailioRpcError, KamailioUnreachable) as exc:
            report.errors.append(f"reload {table}: {exc}")
    for username, realm in removed:
        try:
            if rpc.kick(username, realm):
                report.kicked.append(f"{username}@{realm}")
        except (KamailioRpcError, KamailioUnreachable) as exc:
            report.errors.append(f"kick {username}@{realm}: {exc}")
    try:
        for ban in rpc.bans():
            if is_trusted(wanted, ban.address) and rpc.unban(ban.address):
                report.unbanned.append(ban.address)
    except (KamailioRpcError, KamailioUnreachable) as exc:
        report.errors.append(f"bans: {exc}")
    return report


def is_trusted(tables: KamailioTables, address: str) -> bool:
    """Is `address` a peer the edge knows by address (allow list, carrier, customer trunk, media node)?

    Such a source is never banned; one banned before it became trusted is lifted by sync.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for grp, net, mask, _port, _tag in tables.address:
        if grp != GRP_DENY and ip in ipaddress.ip_network(f"{net}/{mask}", strict=False):
            return True
    return any(_uri_host(dest) == str(ip) for _setid, dest, *_ in tables.dispatcher)


def _uri_host(uri: str) -> str:
    """"sip:[::1]:5080;transport=tcp" -> "::1"; "sip:10.0.0.5:5080" -> "10.0.0.5"."""
    rest = uri.split(":", 1)[1].split(";", 1)[0]
    if rest.startswith("["):
        return rest[1:rest.index("]")]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest
