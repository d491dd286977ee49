"""Anti-fraud at the edge: failed-auth ban, IP deny/allow lists, flood detection (scanners, parse errors and
slow guessing: test_edge_guard.py)."""

from __future__ import annotations

import socket
import time

from controlplane.models import IpListAction, IpListEntry
from controlplane.services.scope import Scope
from tests.kamailio.conftest import make_account, make_tenant
from tests.kamailio.sipclient import SipPeer, options


def _options(ip: str, port: int, source: str, ua: str = "cp-test", timeout: float = 1.5) -> str | None:
    """Send one OPTIONS from source; the first line of the answer, or None when nothing came back."""
    with SipPeer(source, (ip, port)) as peer:
        return options(peer, ua, timeout)


def test_failed_auth_ban(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    attacker = "127.0.0.55"
    # CP_KAMAILIO_BAN_FAILS=3 in the fixture: three wrong passwords...
    for _ in range(3):
        run = edge.sipp("register_refused.xml", source_ip=attacker, user="1000", realm="acme.test", password="guess")
        assert run.returncode == 0, run.stdout[-2000:]
    # ...and even the right password from that address gets no answer any more.
    run = edge.sipp("register.xml", source_ip=attacker, user="1000", realm="acme.test", password="pw-acme-1000",
                    timeout=6)
    assert run.returncode != 0
    assert _options(edge.ip, edge.sip_port, attacker) is None
    # Everyone else is unaffected.
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    assert "127.0.0.55 banned for 60 s: strikes (last: failed authentication for sip:1000@acme.test)" in edge.log_text()


def test_ip_deny_and_allow_lists(edge, session):
    session.add(IpListEntry(action=IpListAction.DENY, address="127.0.0.57"))
    session.add(IpListEntry(action=IpListAction.DENY, address="127.0.8.0", mask=24))
    session.add(IpListEntry(action=IpListAction.ALLOW, address="127.0.0.58"))
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    report = edge.sync(session)
    assert "address" in report.reloaded
    assert _options(edge.ip, edge.sip_port, "127.0.0.57") is None
    assert _options(edge.ip, edge.sip_port, "127.0.8.9") is None
    assert _options(edge.ip, edge.sip_port, "127.0.0.59") == "SIP/2.0 200 Keepalive"
    # Allow-listed sources are never banned for failed authentications.
    for _ in range(4):
        assert edge.sipp("register_refused.xml", source_ip="127.0.0.58", user="1000", realm="acme.test",
                         password="guess").returncode == 0
    assert _options(edge.ip, edge.sip_port, "127.0.0.58") == "SIP/2.0 200 Keepalive"

    # Removed from the deny list: served again after sync.
    session.query(IpListEntry).filter_by(address="127.0.0.57").delete()
    edge.sync(session)
    assert _options(edge.ip, edge.sip_port, "127.0.0.57") == "SIP/2.0 200 Keepalive"


def _flood(edge, flooder: str, count: int = 1500) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((flooder, 0))
        lport = s.getsockname()[1]
        # CP_KAMAILIO_PIKE_DENSITY=200 per 2 s in the fixture; send well above that.
        for i in range(count):
            msg = (f"OPTIONS sip:{edge.ip}:{edge.sip_port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {flooder}:{lport};branch=z9hG4bKf{i}\r\nMax-Forwards: 70\r\n"
                   f"From: <sip:f@{flooder}>;tag={i}\r\nTo: <sip:{edge.ip}>\r\nCall-ID: flood-{i}\r\n"
                   f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            s.sendto(msg.encode(), (edge.ip, edge.sip_port))
    time.sleep(0.5)


def test_flood_is_detected_and_banned(edge, session):
    edge.sync(session)
    flooder = "127.0.0.60"
    _flood(edge, flooder)
    assert _options(edge.ip, edge.sip_port, flooder) is None
    assert _options(edge.ip, edge.sip_port, "127.0.0.61") == "SIP/2.0 200 Keepalive"
    assert "127.0.0.60 banned for 60 s: flood" in edge.log_text()


def test_carriers_and_customer_trunks_are_not_banned_for_their_traffic(edge, session):
    """A customer trunk at 10 calls/s sends INVITE, ACK and BYE: pike's window was full and the trunk was
    banned in the middle of normal traffic (seen by bench/real_node.py). Known peers are not flood-banned."""
    from controlplane.services.carriers import create_carrier

    tenant = make_tenant(session, "floodco", "floodco.example.com")
    make_account(session, tenant, "pbx-1", trunk_ip="127.0.0.62")
    create_carrier(session, Scope.operator(), name="bulk-carrier", host="127.0.0.63", port=5060)
    session.commit()
    edge.sync(session)
    for peer in ("127.0.0.62", "127.0.0.63"):
        _flood(edge, peer)
        assert _options(edge.ip, edge.sip_port, peer) == "SIP/2.0 200 Keepalive", peer
    assert "127.0.0.62 banned" not in edge.log_text() and "127.0.0.63 banned" not in edge.log_text()
