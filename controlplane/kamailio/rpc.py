"""JSON-RPC client for Kamailio's jsonrpcs module (HTTP via xhttp, path /RPC).

Every call has a short timeout: an unreachable Kamailio raises KamailioUnreachable with the URL
in the message, never hangs. Kamailio's own errors (e.g. "AOR not found") raise KamailioRpcError.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests
from jsonrpcclient import Error, Ok, parse, request

from controlplane.settings import get_settings


class KamailioRpcError(RuntimeError):
    """Kamailio answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"kamailio {method}: {code} {message}")
        self.method = method
        self.code = code
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.code == 404 or "not found" in self.message.lower()


class KamailioUnreachable(RuntimeError):
    """No answer from Kamailio's JSON-RPC endpoint (down, wrong port, or too slow)."""


@dataclass(frozen=True)
class Contact:
    address: str
    expires: int
    user_agent: str
    received: str
    socket: str
    q: float | None = None


@dataclass(frozen=True)
class Registration:
    username: str
    realm: str
    contacts: list[Contact] = field(default_factory=list)

    @property
    def aor(self) -> str:
        return f"{self.username}@{self.realm}"


@dataclass(frozen=True)
class MediaNodeState:
    setid: int
    uri: str
    flags: str  # "AP" active+probing, "IP" inactive+probing, "DX" disabled ...
    attrs: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.flags.startswith("A")


@dataclass(frozen=True)
class MediaRelayState:
    """One rtpengine of Kamailio's rtpengine module (RPC rtpengine.show): disabled while it does not answer, asked
    again after recheck_ticks seconds."""

    url: str  # "udp:127.0.0.1:2223"
    setid: int
    disabled: bool
    recheck_ticks: int | None
    weight: int


@dataclass(frozen=True)
class CarrierRegistration:
    l_uuid: str
    registered: bool
    flags: int
    state: str
    r_username: str
    r_domain: str
    raw: dict[str, Any]


# uac registration flags (uac module, reg records): bit values from uac_reg.c.
UAC_REG_DISABLED = 1 << 0
UAC_REG_ONGOING = 1 << 1
UAC_REG_ONLINE = 1 << 2
UAC_REG_AUTHSENT = 1 << 3
UAC_REG_INIT = 1 << 4


@dataclass(frozen=True)
class Ban:
    """A source address the edge drops unparsed (htable `ipban`, value "<reason>;until=<epoch>")."""

    address: str
    reason: str
    until: int | None


BAN_TABLES = ("ipban", "strikes", "strikes_long")


def _ban(name: str, value: str) -> Ban:
    reason, _, until = str(value).partition(";until=")
    return Ban(address=name, reason=reason, until=int(until) if until.isdigit() else None)


def _uac_state(flags: int) -> str:
    if flags & UAC_REG_DISABLED:
        return "disabled"
    if flags & UAC_REG_ONLINE:
        return "registered"
    if flags & (UAC_REG_ONGOING | UAC_REG_AUTHSENT):
        return "registering"
    return "not registered"


class KamailioRpc:
    def __init__(self, url: str | None = None, timeout: float | None = None) -> None:
        settings = get_settings()
        self.url = url or settings.kamailio_rpc_url
        self.timeout = timeout if timeout is not None else settings.kamailio_rpc_timeout
        self._http = requests.Session()

    # --- transport ---------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        payload = request(method, params=tuple(params) if params else None)
        try:
            response = self._http.post(self.url, json=payload, timeout=(self.timeout, self.timeout))
        except requests.RequestException as exc:
            raise KamailioUnreachable(f"Kamailio JSON-RPC at {self.url} unreachable ({type(exc).__name__})") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise KamailioUnreachable(
                f"Kamailio JSON-RPC at {self.url}: HTTP {response.status_code}, not JSON"
            ) from exc
        result = parse(body)
        if isinstance(result, Ok):
            return result.result
        if isinstance(result, Error):
            raise KamailioRpcError(method, result.code, result.message)
        raise KamailioRpcError(method, 0, f"unexpected response {body!r}")

    def ping(self) -> str:
        return self.call("core.version")

    # --- registrations (usrloc) --------------------------------------------------------------
    def registrations(self, realm: str | None = None, username: str | None = None) -> list[Registration]:
        """Current registrations, optionally of one realm and/or one username."""
        if realm and username:
            found = self.registration(username, realm)
            return [found] if found else []
        dump = self.call("ul.dump")
        out = []
        for domain in dump.get("Domains", []):
            for aor in domain.get("Domain", {}).get("AoRs", []) or []:
                info = aor.get("Info", {})
                reg = _registration(info.get("AoR", ""), info.get("Contacts", []))
                if realm and reg.realm != realm.lower():
                    continue
                if username and reg.username != username:
                    continue
                out.append(reg)
        return sorted(out, key=lambda r: r.aor)

    def registration(self, username: str, realm: str) -> Registration | None:
        try:
            result = self.call("ul.lookup", "location", f"{username}@{realm}")
        except KamailioRpcError as exc:
            if exc.not_found:
                return None
            raise
        return _registration(result.get("AoR", f"{username}@{realm}"), result.get("Contacts", []))

    def kick(self, username: str, realm: str) -> bool:
        """Remove all contacts of user@realm; False when it was not registered."""
        if self.registration(username, realm) is None:
            return False
        try:
            self.call("ul.rm", "location", f"{username}@{realm}")
        except KamailioRpcError as exc:
            if exc.not_found:
                return False
            raise
        return True

    # --- dispatcher --------------------------------------------------------------------------
    def media_nodes(self) -> list[MediaNodeState]:
        try:
            result = self.call("dispatcher.list")
        except KamailioRpcError as exc:
            if "No Destination" in exc.message:
                return []
            raise
        nodes = []
        for record in result.get("RECORDS", []):
            dset = record.get("SET", {})
            for target in dset.get("TARGETS", []):
                dest = target.get("DEST", {})
                nodes.append(MediaNodeState(setid=int(dset.get("ID", 0)), uri=dest.get("URI", ""),
                                            flags=dest.get("FLAGS", ""), attrs=dest.get("ATTRS", {}) or {}))
        return nodes

    # --- media relay (rtpengine module) ----------------------------------------------------------
    def media_relays(self) -> list[MediaRelayState]:
        """The rtpengine proxies Kamailio knows and whether it takes them as up (KamailioRpcError: module not
        loaded, i.e. rendered with CP_KAMAILIO_RTPENGINE=0)."""
        result = self.call("rtpengine.show", "all") or []
        return [MediaRelayState(url=str(r.get("url", "")), setid=int(r.get("set", 0)), disabled=bool(r.get("disabled")),
                                recheck_ticks=r.get("recheck_ticks") if isinstance(r.get("recheck_ticks"), int)
                                else None, weight=int(r.get("weight", 1)))
                for r in (result if isinstance(result, list) else [result])]

    def ping_media_relays(self) -> bool:
        """Kamailio pings every rtpengine now (one that does not answer is disabled for a while): all answered."""
        return (self.call("rtpengine.ping", "all") or {}).get("status") == "success"

    # --- carrier registrations (uac) ---------------------------------------------------------
    def carrier_registrations(self) -> list[CarrierRegistration]:
        return [_carrier_reg(item) for item in self.call("uac.reg_dump") or []]

    def carrier_registration(self, l_uuid: str) -> CarrierRegistration | None:
        try:
            return _carrier_reg(self.call("uac.reg_info", "l_uuid", l_uuid))
        except KamailioRpcError as exc:
            if exc.not_found:
                return None
            raise

    # --- bans ----------------------------------------------------------------------------------
    def bans(self, now: float | None = None) -> list[Ban]:
        """Banned addresses, soonest expiry first (items past their time may linger until the htable timer)."""
        now = time.time() if now is None else now
        found = [_ban(item["name"], item["value"])
                 for entry in self.call("htable.dump", "ipban") or [] for item in entry.get("slot") or []]
        return sorted((b for b in found if b.until is None or b.until > now), key=lambda b: (b.until or 0, b.address))

    def unban(self, address: str) -> bool:
        """Lift a ban and forget the address's strikes; False when it was not banned."""
        banned = False
        for table in BAN_TABLES:
            try:
                self.call("htable.delete", table, address)
                banned = banned or table == "ipban"
            except KamailioRpcError as exc:
                if not exc.not_found:
                    raise
        return banned

    # --- reloads -----------------------------------------------------------------------------
    def reload_domains(self) -> None:
        self.call("domain.reload")

    def reload_addresses(self) -> None:
        self.call("permissions.addressReload")

    def reload_dispatcher(self) -> None:
        self.call("dispatcher.reload")

    def reload_uac(self) -> None:
        self.call("uac.reg_reload")

    def reload_htable(self, name: str) -> None:
        self.call("htable.reload", name)


def _registration(aor: str, contacts: list[dict[str, Any]]) -> Registration:
    user, _, realm = aor.partition("@")
    items = []
    for entry in contacts or []:
        c = entry.get("Contact", entry)
        q = c.get("Q")
        items.append(Contact(
            address=c.get("Address", ""), expires=int(c.get("Expires", 0) or 0), user_agent=c.get("User-Agent", ""),
            received=c.get("Received", ""), socket=c.get("Socket", ""), q=float(q) if q not in (None, "") else None,
        ))
    return Registration(username=user, realm=realm.lower(), contacts=items)


def _carrier_reg(item: dict[str, Any]) -> CarrierRegistration:
    flags = int(item.get("flags", 0) or 0)
    return CarrierRegistration(
        l_uuid=item.get("l_uuid", ""), registered=bool(flags & UAC_REG_ONLINE), flags=flags, state=_uac_state(flags),
        r_username=item.get("r_username", ""), r_domain=item.get("r_domain", ""), raw=item,
    )
