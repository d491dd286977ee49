"""The host firewall (nftables) in front of the edge's TCP ports: the ruleset, `nft -c`, and live
limits against a plain Python TCP listener on loopback (no Kamailio needed).

Sources: 127.0.0.71 fills its connection quota, .72 is another source, .73 opens too fast,
::1 checks the IPv6 rules. Each live test applies a scratch table `cp_test_<pid>` for a scratch
port only and removes it afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import re
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from controlplane.cli import main
from controlplane.errors import Invalid
from controlplane.kamailio import firewall
from controlplane.settings import Settings, get_settings
from controlplane.testing.net import free_port

NFT = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
SCRATCH = f"cp_test_{os.getpid()}"


def _settings(**changes: object) -> Settings:
    base = dict(
        kamailio_listen_ip="127.0.0.1", kamailio_sip_port=5060, kamailio_tls_port=5061,
        kamailio_ws_port=5066, kamailio_wss_port=7443, kamailio_rpc_port=5071,
        kamailio_tls=True, kamailio_websockets=True,
        kamailio_tcp_per_source=128, kamailio_tcp_new_rate=50,
    )
    base.update(changes)
    return dataclasses.replace(get_settings(), **base)


def _ports(script: str) -> set[int]:
    match = re.search(r"set edge_tcp_ports \{[^}]*elements = \{ ([^}]*) \}", script)
    assert match, script
    return {int(p) for p in match.group(1).split(",")}


# --- ruleset (pure) -------------------------------------------------------------------------
def test_all_sip_tcp_ports_and_never_the_rpc_port() -> None:
    script = firewall.ruleset(_settings())
    assert _ports(script) == {5060, 5061, 5066, 7443}
    assert "5071" not in script
    assert script.splitlines()[0].startswith("# Owned by controlplane")


@pytest.mark.parametrize(
    ("tls", "ws", "ports"),
    [
        (False, False, {5060}),
        (True, False, {5060, 5061}),
        (False, True, {5060, 5066}),  # WSS needs TLS too
        (True, True, {5060, 5061, 5066, 7443}),
    ],
)
def test_ports_follow_the_feature_switches(tls: bool, ws: bool, ports: set[int]) -> None:
    script = firewall.ruleset(_settings(kamailio_tls=tls, kamailio_websockets=ws))
    assert _ports(script) == ports
    assert firewall.edge_tcp_ports(_settings(kamailio_tls=tls, kamailio_websockets=ws)) == sorted(ports)


def test_rpc_port_is_left_out_even_when_it_collides() -> None:
    assert 5066 not in _ports(firewall.ruleset(_settings(kamailio_rpc_port=5066)))


def test_limits_come_from_settings() -> None:
    script = firewall.ruleset(_settings(kamailio_tcp_per_source=17, kamailio_tcp_new_rate=9))
    assert "add @conns_v4 { ip saddr ct count over 17 }" in script
    assert "add @conns_v6 { ip6 saddr ct count over 17 }" in script
    assert "update @rate_v4 { ip saddr limit rate over 9/second burst 9 packets }" in script
    assert "update @rate_v6 { ip6 saddr limit rate over 9/second burst 9 packets }" in script
    assert script.count("reject with tcp reset") == 4
    assert "policy accept;" in script
    assert "policy drop" not in script


def test_idempotent_script_replaces_the_table() -> None:
    lines = firewall.ruleset(_settings(), table="cp_x").splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert body[:3] == ["table inet cp_x {}", "delete table inet cp_x", "table inet cp_x {"]


@pytest.mark.parametrize(
    ("listen", "match"),
    [("127.0.0.1", "ip daddr 127.0.0.1 tcp dport"), ("::1", "ip6 daddr ::1 tcp dport"),
     ("0.0.0.0", "        tcp dport"), ("::", "        tcp dport"), ("edge.example.com", "        tcp dport")],
)
def test_destination_is_the_listen_address(listen: str, match: str) -> None:
    assert f"{match} @edge_tcp_ports ct state new jump edge_new" in firewall.ruleset(
        _settings(kamailio_listen_ip=listen))


def test_bad_limits_and_table_names_are_refused() -> None:
    with pytest.raises(Invalid, match="CP_KAMAILIO_TCP_PER_SOURCE"):
        firewall.ruleset(_settings(kamailio_tcp_per_source=0))
    with pytest.raises(Invalid, match="CP_KAMAILIO_TCP_NEW_RATE"):
        firewall.ruleset(_settings(kamailio_tcp_new_rate=0))
    with pytest.raises(Invalid, match="table"):
        firewall.ruleset(_settings(), table="x; flush ruleset")


@pytest.mark.skipif(NFT is None, reason="nft not installed")
@pytest.mark.parametrize(("tls", "ws", "listen"), [(True, True, "127.0.0.1"), (False, False, "::"),
                                                   (True, False, "2001:db8::1")])
def test_nft_accepts_the_script(tls: bool, ws: bool, listen: str) -> None:
    script = firewall.ruleset(_settings(kamailio_tls=tls, kamailio_websockets=ws, kamailio_listen_ip=listen))
    result = subprocess.run([NFT, "-c", "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert result.returncode == 0, result.stderr


# --- CLI ------------------------------------------------------------------------------------
def test_cli_print_writes_the_ruleset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_KAMAILIO_TCP_PER_SOURCE", "33")
    result = CliRunner().invoke(main, ["kamailio", "firewall", "--print"])
    assert result.exit_code == 0, result.output
    assert result.output == firewall.ruleset(get_settings())
    assert "ct count over 33" in result.output


def test_cli_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["kamailio", "firewall", "--print", "--remove"])
    assert result.exit_code != 0
    assert "exclude each other" in result.output
    monkeypatch.setattr(firewall.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["kamailio", "firewall", "--remove"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: nft not found (install the nftables package)"


# --- live: a scratch table in front of a scratch listener ------------------------------------
class Holder:
    """A TCP listener (own thread) that accepts and holds connections, closing its side when the
    peer closes (so conntrack sees the connection end)."""

    def __init__(self, ip: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, free_port() if family == socket.AF_INET else 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(512)
        self.sock.setblocking(False)
        self.accepted = 0
        self.open: set[socket.socket] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _ in sel.select(0.05):
                if key.fileobj is self.sock:
                    try:
                        conn, _ = self.sock.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    self.accepted += 1
                    self.open.add(conn)
                    sel.register(conn, selectors.EVENT_READ)
                else:
                    conn = key.fileobj
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(conn)
                        self.open.discard(conn)
                        conn.close()
        for conn in list(self.open):
            conn.close()
        sel.close()
        self.sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _connect(src: str, dst: str, port: int, wait_close: float = 0.05) -> socket.socket | None:
    """A connection from src, or None when it was refused (reset) or closed within wait_close s."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        if wait_close:  # accepted by the kernel: make sure it is not closed straight away
            s.settimeout(wait_close)
            try:
                if s.recv(1) == b"":
                    s.close()
                    return None
            except TimeoutError:
                pass
        s.settimeout(3)
        return s
    except (ConnectionRefusedError, ConnectionResetError):
        s.close()
        return None


def _nft_can_create_tables() -> str | None:
    """None when we can load a table with `ct count`, else why not."""
    if NFT is None:
        return "nft not installed"
    if os.geteuid() != 0:
        return "live firewall tests need root (nft)"
    probe = f"cp_probe_{os.getpid()}"
    try:
        firewall.apply(_settings(kamailio_sip_port=9), table=probe)
    except firewall.FirewallError as exc:
        return f"nft cannot create a table here: {exc}"
    finally:
        try:
            firewall.remove(probe)
        except firewall.FirewallError:
            pass
    return None


@pytest.fixture(scope="module")
def nft_live() -> None:
    reason = _nft_can_create_tables()
    if reason:
        pytest.skip(reason)


@pytest.fixture()
def scratch(nft_live: None) -> Iterator[str]:
    try:
        yield SCRATCH
    finally:
        firewall.remove(SCRATCH)
        assert not firewall.installed(SCRATCH)


@pytest.fixture()
def holder() -> Iterator[Holder]:
    h = Holder()
    yield h
    h.close()


def _rule_packets(table: str, set_name: str) -> int:
    out = subprocess.run([NFT, "list", "chain", "inet", table, "edge_new"], capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if f"@{set_name} " in line)
    return int(re.search(r"counter packets (\d+)", line).group(1))


def test_per_source_limit_live(scratch: str, holder: Holder) -> None:
    settings = _settings(kamailio_sip_port=holder.port, kamailio_tls=False, kamailio_websockets=False,
                         kamailio_tcp_per_source=5, kamailio_tcp_new_rate=1000)
    firewall.apply(settings, table=scratch)
    firewall.apply(settings, table=scratch)  # twice: replaces, no error
    assert firewall.installed(scratch)
    held: list[socket.socket] = []
    try:
        for _ in range(5):
            conn = _connect("127.0.0.71", "127.0.0.1", holder.port)
            assert conn is not None, "one of the first 5 connections from .71 was refused"
            held.append(conn)
        assert _connect("127.0.0.71", "127.0.0.1", holder.port) is None, "6th connection from .71 got through"
        assert _rule_packets(scratch, "conns_v4") == 1
        other = _connect("127.0.0.72", "127.0.0.1", holder.port)
        assert other is not None, "another source was refused"
        held.append(other)
        assert holder.accepted == 6
        assert len(holder.open) == 6, "the accepted connections are held"
    finally:
        for conn in held[:5]:
            conn.close()
    # .71's connections ended (FIN both ways, conntrack TIME_WAIT): no longer counted.
    deadline = time.monotonic() + 5
    again = None
    while again is None and time.monotonic() < deadline:
        again = _connect("127.0.0.71", "127.0.0.1", holder.port)
        if again is None:
            time.sleep(0.1)
    assert again is not None, ".71 stays refused after closing its connections"
    again.close()
    held[5].close()


def test_rate_limit_live(scratch: str, holder: Holder) -> None:
    settings = _settings(kamailio_sip_port=holder.port, kamailio_tls=False, kamailio_websockets=False,
                         kamailio_tcp_per_source=1000, kamailio_tcp_new_rate=5)
    firewall.apply(settings, table=scratch)
    started = time.monotonic()
    results = [_connect("127.0.0.73", "127.0.0.1", holder.port, wait_close=0) for _ in range(30)]
    elapsed = time.monotonic() - started
    accepted = [c for c in results if c is not None]
    try:
        refused = len(results) - len(accepted)
        # bucket: 5/s plus a burst of 5; 30 in well under a second leave most refused
        assert refused >= 10, f"only {refused} of 30 refused in {elapsed:.2f} s"
        assert len(accepted) >= 5, f"only {len(accepted)} of 30 accepted"
        assert _rule_packets(scratch, "rate_v4") == refused
        assert _rule_packets(scratch, "conns_v4") == 0
    finally:
        for conn in accepted:
            conn.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_per_source_limit_ipv6_live(scratch: str) -> None:
    holder = Holder("::1")
    held: list[socket.socket] = []
    try:
        settings = _settings(kamailio_listen_ip="::1", kamailio_sip_port=holder.port, kamailio_tls=False,
                             kamailio_websockets=False, kamailio_tcp_per_source=3, kamailio_tcp_new_rate=1000)
        firewall.apply(settings, table=scratch)
        for _ in range(3):
            conn = _connect("::1", "::1", holder.port)
            assert conn is not None
            held.append(conn)
        assert _connect("::1", "::1", holder.port) is None, "4th IPv6 connection got through"
        assert _rule_packets(scratch, "conns_v6") == 1
    finally:
        for conn in held:
            conn.close()
        holder.close()
