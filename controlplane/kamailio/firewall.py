"""Host firewall (nftables) in front of the SIP edge's TCP ports.

Why: Kamailio 5.6 has no per-source TCP connection limit (`tcp_accept_iplimit` came later), and
`tcp_max_connections` is one pool for everybody, so a single address that opens ~4096
connections locks every TCP, TLS and WebSocket client out. The kernel sees a connection before
Kamailio does: an nftables table we own answers a new connection (SYN) with a TCP reset when its
source already has more than CP_KAMAILIO_TCP_PER_SOURCE connections open (`ct count`, one
conntrack list per source address), or opens new ones faster than CP_KAMAILIO_TCP_NEW_RATE per
second (`limit rate` per source address). Kamailio never gets to accept those.

Only TCP to the edge's SIP ports is looked at: SIP TCP, TLS (with CP_KAMAILIO_TLS), WS and WSS
(with CP_KAMAILIO_WEBSOCKETS, WSS only with TLS too), addressed to CP_KAMAILIO_LISTEN_IP (any
address when it is a wildcard or a name). UDP, the JSON-RPC port and everything else pass
untouched: the chain's policy is accept, and the table is ours alone (`inet controlplane_edge`),
so other tables of the host stay as they are.

`ruleset()` is pure; `apply()` loads it with `nft -f -` in one transaction (the table is created,
deleted and created again, so applying twice is safe and replaces the old limits), `remove()`
deletes the table, `installed()` tells whether it is there. The rules rely on conntrack; an
untracked (`notrack`) connection is neither counted nor limited.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess

from controlplane.errors import DomainError, Invalid
from controlplane.settings import Settings, get_settings

TABLE = "controlplane_edge"
OWNER = "controlplane (controlplane/kamailio/firewall.py; `controlplane kamailio firewall`)"
# Entries of the per-source sets; an address beyond this many is not tracked (and passes).
SET_SIZE = 65535
# An idle source's rate-limit entry expires after this long.
RATE_TIMEOUT = "60s"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class FirewallError(DomainError):
    """nft missing or refusing the ruleset (message carries nft's stderr)."""


def edge_tcp_ports(settings: Settings) -> list[int]:
    """The TCP ports Kamailio accepts SIP on for these settings (never the JSON-RPC port)."""
    ports = {settings.kamailio_sip_port}
    if settings.kamailio_tls:
        ports.add(settings.kamailio_tls_port)
    if settings.kamailio_websockets:
        ports.add(settings.kamailio_ws_port)
        if settings.kamailio_tls:
            ports.add(settings.kamailio_wss_port)
    ports.discard(settings.kamailio_rpc_port)
    return sorted(ports)


def _daddr(listen_ip: str) -> str:
    """The destination match for the listen address ('' for a wildcard or a host name)."""
    try:
        addr = ipaddress.ip_address(listen_ip.strip().strip("[]"))
    except ValueError:
        return ""
    if addr.is_unspecified:
        return ""
    return f"ip daddr {addr} " if addr.version == 4 else f"ip6 daddr {addr} "


def _check_table(table: str) -> None:
    if not _NAME.match(table):
        raise Invalid({"table": f"not a valid nftables table name: {table!r}"})


def ruleset(settings: Settings, table: str = TABLE) -> str:
    """The nft script (for `nft -f -`) that (re)creates `table inet <table>`."""
    _check_table(table)
    per_source = settings.kamailio_tcp_per_source
    rate = settings.kamailio_tcp_new_rate
    errors = {}
    if per_source < 1:
        errors["CP_KAMAILIO_TCP_PER_SOURCE"] = f"must be at least 1, got {per_source}"
    if rate < 1:
        errors["CP_KAMAILIO_TCP_NEW_RATE"] = f"must be at least 1, got {rate}"
    if errors:
        raise Invalid(errors)
    ports = ", ".join(str(p) for p in edge_tcp_ports(settings))
    daddr = _daddr(settings.kamailio_listen_ip)
    reject = "counter reject with tcp reset"
    return f"""\
# Owned by {OWNER}.
# Do not edit: it is rewritten whole on every apply. Remove with `controlplane kamailio firewall --remove`.
# Per source address, new TCP connections to the SIP edge ports: at most {rate}/s (burst {rate}),
# at most {per_source} open at once; the rest get a TCP reset. Everything else is accepted.
table inet {table} {{}}
delete table inet {table}
table inet {table} {{
    comment "owned by controlplane: SIP edge TCP limits per source"

    set edge_tcp_ports {{
        type inet_service
        elements = {{ {ports} }}
    }}

    set rate_v4 {{
        type ipv4_addr
        size {SET_SIZE}
        flags dynamic,timeout
        timeout {RATE_TIMEOUT}
    }}

    set rate_v6 {{
        type ipv6_addr
        size {SET_SIZE}
        flags dynamic,timeout
        timeout {RATE_TIMEOUT}
    }}

    set conns_v4 {{
        type ipv4_addr
        size {SET_SIZE}
        flags dynamic
    }}

    set conns_v6 {{
        type ipv6_addr
        size {SET_SIZE}
        flags dynamic
    }}

    chain input {{
        type filter hook input priority filter; policy accept;
        {daddr}tcp dport @edge_tcp_ports ct state new jump edge_new
    }}

    chain edge_new {{
        update @rate_v4 {{ ip saddr limit rate over {rate}/second burst {rate} packets }} {reject}
        update @rate_v6 {{ ip6 saddr limit rate over {rate}/second burst {rate} packets }} {reject}
        add @conns_v4 {{ ip saddr ct count over {per_source} }} {reject}
        add @conns_v6 {{ ip6 saddr ct count over {per_source} }} {reject}
    }}
}}
"""


def _nft(args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
    nft = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if shutil.which(p)), None
    )
    if nft is None:
        raise FirewallError("nft not found (install the nftables package)")
    try:
        return subprocess.run([nft, *args], input=script, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallError(f"nft {' '.join(args)}: {exc}") from None


def _run(args: list[str], script: str | None = None) -> None:
    result = _nft(args, script)
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split()) or f"exit code {result.returncode}"
        raise FirewallError(f"nft {' '.join(args)} failed: {detail}")


def check(settings: Settings | None = None, table: str = TABLE) -> None:
    """`nft -c -f -`: parse and validate against the kernel without changing anything."""
    _run(["-c", "-f", "-"], ruleset(settings or get_settings(), table))


def apply(settings: Settings | None = None, table: str = TABLE) -> str:
    """Load the ruleset (atomically replacing an older one); returns the script applied."""
    script = ruleset(settings or get_settings(), table)
    _run(["-f", "-"], script)
    return script


def remove(table: str = TABLE) -> None:
    """Delete the table; nothing to do when it is not there."""
    _check_table(table)
    _run(["-f", "-"], f"table inet {table} {{}}\ndelete table inet {table}\n")


def installed(table: str = TABLE) -> bool:
    _check_table(table)
    return _nft(["list", "table", "inet", table]).returncode == 0
