"""Trusted X-CP-* headers: exactly one set, written by the edge, whoever sends what.

Every X-CP-* header that arrives is removed (route STRIP_TRUSTED) and route STAMP writes exactly
one set from what the request proved. Matrix: source kind (digest phone, customer IP trunk,
carrier, media node) x (no X-CP-* headers, forged ones). The INVITEs are written by hand
(sipclient.SipPeer): the sipp scenarios always carry a forged X-CP-Auth, which hid the old bug
(a carrier's INVITE reached the node stamped twice, carrier AND digest with <null> ids).

Addresses: phone 127.0.0.91, trunk 127.0.0.32, carrier 127.0.0.40, media nodes 127.0.0.21/.22,
registered phone 127.0.0.92.
"""

from __future__ import annotations

import pytest

from controlplane.models import Carrier, CarrierTrunk, MediaNode
from controlplane.testing.net import free_port
from tests.kamailio.conftest import FsNode, make_account, make_tenant, wait_for
from tests.kamailio.sipclient import (
    SDP,
    SipDialog,
    SipPeer,
    cp_header_lines,
    headers,
    invite_with_digest,
    sipp_received,
    status,
)

FORGED = [
    "X-CP-Auth: digest",
    "X-CP-Account: 999999",
    "X-CP-Tenant: 999999",
    "X-CP-Carrier: 999999",
    "X-CP-Route: carrier",
    "x-cp-anything: 999999",
    "X-Cp-Tenant:999999",
]


def received(node: FsNode, method: str) -> list[str]:
    return sipp_received(node.messages(), method)


def _media_node(session, node: FsNode) -> None:
    session.add(MediaNode(name="fs1", host=node.ip, port=node.port))
    session.flush()


def _wait_active(edge, count: int = 1) -> None:
    wait_for(lambda: len([n for n in edge.rpc.media_nodes() if n.active]) == count,
             what=f"{count} active media node(s)")


def _finish(peer: SipPeer, invite: str, response: str, extra: list[str]) -> None:
    """ACK the 200 and hang up along the Record-Route (the stand-ins expect ACK and BYE)."""
    dialog = SipDialog(invite, response)
    peer.send(peer.in_dialog(dialog, "ACK", extra=extra))
    bye = peer.transact(peer.in_dialog(dialog, "BYE", extra=extra))
    assert bye is not None and status(bye) == 200, bye


def _plain_invite(peer: SipPeer, ruri: str, from_user: str, from_host: str, extra: list[str]) -> tuple[str, str]:
    invite = peer.request("INVITE", ruri, from_=f"<sip:{from_user}@{from_host}>;tag=t{peer.port}",
                          to=f"<{ruri}>", call_id=f"th-{peer.port}@{peer.ip}", cseq=1, extra=extra,
                          body=SDP.format(ip=peer.ip))
    return invite, peer.transact(invite, 5.0)


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "forged"])
@pytest.mark.parametrize("kind", ["digest", "ip", "carrier"])
def test_inbound_call_reaches_the_node_with_exactly_one_stamp(edge, session, fs_nodes, kind, forged):
    acme = make_tenant(session, "acme", "acme.test")
    phone = make_account(session, acme, "1000", "pw-acme-1000")
    pbx = make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.32")
    carrier = Carrier(name="upstream")
    carrier.trunks.append(CarrierTrunk(name="upstream", host="127.0.0.40", port=5060))
    session.add(carrier)
    node = fs_nodes[0]
    _media_node(session, node)
    edge.sync(session)
    _wait_active(edge)
    extra = list(FORGED) if forged else []
    ruri = f"sip:4930555001@{edge.ip}:{edge.sip_port}"

    if kind == "digest":
        source, expected = "127.0.0.91", ["X-CP-Auth: digest", f"X-CP-Account: {phone.id}", f"X-CP-Tenant: {acme.id}"]
    elif kind == "ip":
        source, expected = "127.0.0.32", ["X-CP-Auth: ip", f"X-CP-Account: {pbx.id}", f"X-CP-Tenant: {acme.id}"]
    else:
        source, expected = "127.0.0.40", ["X-CP-Auth: carrier", f"X-CP-Carrier: {carrier.id}"]

    with SipPeer(source, (edge.ip, edge.sip_port)) as peer:
        if kind == "digest":
            invite, response = invite_with_digest(peer, "sip:4930555001@acme.test", "1000", "acme.test",
                                                  "pw-acme-1000", extra=extra)
        else:
            invite, response = _plain_invite(peer, ruri, "caller", "pbx.example", extra)
        assert response is not None and status(response) == 200, response
        # What the node said to the edge about the call stays there.
        assert cp_header_lines(response) == []
        _finish(peer, invite, response, extra)

    msg = wait_for(lambda: received(node, "INVITE"), what="INVITE at the media node")[-1]
    assert cp_header_lines(msg) == expected, msg
    assert "999999" not in msg
    for name in ("Authorization", "Proxy-Authorization"):
        assert headers(msg, name) == []
    # The ACK and the BYE carry nothing trusted either.
    wait_for(lambda: received(node, "BYE"), what="BYE at the media node")
    for method in ("ACK", "BYE"):
        for m in received(node, method):
            assert cp_header_lines(m) == [], m
            assert "999999" not in m


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "forged"])
@pytest.mark.parametrize("dest", ["carrier", "phone"])
def test_call_from_a_media_node_leaves_without_trusted_headers(edge, session, fs_nodes, dest, forged):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    far: FsNode | None = None
    try:
        if dest == "carrier":
            far = FsNode("127.0.0.40", free_port("127.0.0.40"), edge.run_dir).start()
            carrier = Carrier(name="upstream")
            carrier.trunks.append(CarrierTrunk(name="upstream", host=far.ip, port=far.port))
            session.add(carrier)
        _media_node(session, fs_nodes[0])
        edge.sync(session)
        _wait_active(edge)
        if dest == "carrier":
            ruri = f"sip:4930555001@{far.ip}:{far.port}"
            # X-CP-Route from a media node is honoured: nodes are trusted.
            extra = (list(FORGED) if forged else ["X-CP-Route: carrier"])
        else:
            port = free_port("127.0.0.92")
            run = edge.sipp("register.xml", source_ip="127.0.0.92", local_port=port, user="1000",
                            realm="acme.test", password="pw-acme-1000")
            assert run.returncode == 0, run.stdout[-3000:]
            far = FsNode("127.0.0.92", port, edge.run_dir).start()
            ruri = "sip:1000@acme.test"
            extra = [h for h in FORGED if not h.startswith("X-CP-Route")] if forged else []

        # "FreeSWITCH": a client on the media node's address (another port: nodes are known by address).
        with SipPeer(fs_nodes[0].ip, (edge.ip, edge.sip_port)) as fs:
            invite, response = _plain_invite(fs, ruri, "+4930111", "fs.local", extra)
            assert response is not None and status(response) == 200, response
            _finish(fs, invite, response, extra)

        msg = wait_for(lambda: received(far, "INVITE"), what=f"INVITE at the {dest}")[-1]
        assert cp_header_lines(msg) == [], msg
        assert "999999" not in msg
        wait_for(lambda: received(far, "BYE"), what=f"BYE at the {dest}")
        for method in ("ACK", "BYE"):
            for m in received(far, method):
                assert cp_header_lines(m) == [], m
        # The call went out from the edge, not from the node.
        assert headers(msg, "Record-Route")[0].startswith(f"<sip:{edge.ip}:{edge.sip_port}")
    finally:
        if far is not None:
            far.stop()
