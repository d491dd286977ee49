"""Calls through the edge: trusted headers, IP trunks, carriers, dispatcher over FreeSWITCH nodes."""

from __future__ import annotations

import re

from controlplane.models import Carrier, CarrierTrunk, MediaNode, TrunkAddress
from tests.kamailio.conftest import make_account, make_tenant, wait_for


def _headers(message: str, name: str) -> list[str]:
    return re.findall(rf"(?im)^{re.escape(name)}\s*:\s*(.*?)\s*$", message)


def _nodes(session, fs_nodes):
    for i, node in enumerate(fs_nodes, start=1):
        session.add(MediaNode(name=f"fs{i}", host=node.ip, port=node.port))
    session.flush()


def _wait_active(edge, count):
    return wait_for(lambda: [n for n in edge.rpc.media_nodes() if n.active] if
                    len([n for n in edge.rpc.media_nodes() if n.active]) == count else None,
                    timeout=15, what=f"{count} active media nodes")


def test_ip_trunk_call_gets_account_headers_and_forged_ones_are_stripped(edge, session, fs_nodes):
    acme = make_tenant(session, "acme", "acme.test")
    pbx = make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.30")
    _nodes(session, fs_nodes[:1])
    report = edge.sync(session)
    assert report.ok, report.errors
    _wait_active(edge, 1)

    run = edge.sipp("invite.xml", source_ip="127.0.0.30", user="pbx", realm="pbx.example", dest="4930555")
    assert run.returncode == 0, run.stdout[-3000:]

    invites = wait_for(fs_nodes[0].invites, what="INVITE at the FreeSWITCH stand-in")
    msg = invites[-1]
    assert _headers(msg, "X-CP-Auth") == ["ip"]
    assert _headers(msg, "X-CP-Account") == [str(pbx.id)]
    assert _headers(msg, "X-CP-Tenant") == [str(acme.id)]
    assert _headers(msg, "X-CP-Carrier") == []
    assert "999999" not in msg


def test_digest_call_gets_account_headers(edge, session, fs_nodes):
    acme = make_tenant(session, "acme", "acme.test")
    phone = make_account(session, acme, "1000", "pw-acme-1000")
    _nodes(session, fs_nodes[:1])
    edge.sync(session)
    _wait_active(edge, 1)

    run = edge.sipp("invite_digest.xml", user="1000", realm="acme.test", password="pw-acme-1000", dest="2000")
    assert run.returncode == 0, run.stdout[-3000:]
    msg = wait_for(fs_nodes[0].invites, what="INVITE at the FreeSWITCH stand-in")[-1]
    assert _headers(msg, "X-CP-Auth") == ["digest"]
    assert _headers(msg, "X-CP-Account") == [str(phone.id)]
    assert _headers(msg, "X-CP-Tenant") == [str(acme.id)]
    assert "Proxy-Authorization" not in msg


def test_carrier_inbound_only_from_carrier_addresses(edge, session, fs_nodes):
    make_tenant(session, "acme", "acme.test")
    carrier = Carrier(name="upstream")
    trunk = CarrierTrunk(name="upstream", host="127.0.0.40", port=5060)
    trunk.addresses.append(TrunkAddress(address="127.0.0.41"))
    carrier.trunks.append(trunk)
    session.add(carrier)
    _nodes(session, fs_nodes[:1])
    edge.sync(session)
    _wait_active(edge, 1)

    for source in ("127.0.0.40", "127.0.0.41"):
        run = edge.sipp("invite.xml", source_ip=source, user="+4930123", realm="carrier.example", dest="493055500001")
        assert run.returncode == 0, run.stdout[-3000:]
    invites = wait_for(lambda: len(fs_nodes[0].invites()) >= 2 and fs_nodes[0].invites(), what="2 INVITEs")
    for msg in invites:
        assert _headers(msg, "X-CP-Auth") == ["carrier"]
        assert _headers(msg, "X-CP-Carrier") == [str(carrier.id)]
        assert _headers(msg, "X-CP-Account") == []

    # Anything else without credentials: refused.
    run = edge.sipp("invite_refused.xml", source_ip="127.0.0.42", user="+4930123", realm="carrier.example")
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(fs_nodes[0].invites()) == 2


def test_dispatcher_spreads_fails_over_and_recovers(edge, session, fs_nodes):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.30")
    _nodes(session, fs_nodes)
    edge.sync(session)
    _wait_active(edge, 2)

    run = edge.sipp("invite.xml", source_ip="127.0.0.30", calls=10, rate=20, realm="pbx.example")
    assert run.returncode == 0, run.stdout[-3000:]
    counts = [len(n.invites()) for n in fs_nodes]
    assert sum(counts) == 10 and min(counts) >= 3, counts

    # One node dies: calls still complete, on the other one.
    fs_nodes[1].stop()
    before = len(fs_nodes[0].invites())
    run = edge.sipp("invite.xml", source_ip="127.0.0.30", calls=6, rate=10, realm="pbx.example", timeout=30)
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(fs_nodes[0].invites()) - before == 6
    wait_for(lambda: [n for n in edge.rpc.media_nodes() if not n.active], what="dead node marked inactive")

    # It answers probes again: back in rotation.
    fs_nodes[1].start()
    _wait_active(edge, 2)
    run = edge.sipp("invite.xml", source_ip="127.0.0.30", calls=4, rate=20, realm="pbx.example")
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(fs_nodes[1].invites()) >= 1


def test_no_media_node_gives_503_not_a_hang(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.30")
    edge.sync(session)
    assert edge.rpc.media_nodes() == []
