"""In-dialog requests: the edge is no open relay.

The old edge followed any Route header of any request with a To-tag (loose_route alone): an
unauthenticated source could bounce BYE/MESSAGE/re-INVITE/ACK off the edge's trusted address to any
host and port, over UDP or TCP, forged X-CP-* headers and all. Now an in-dialog request is followed
only along the edge's own Record-Route (the dialog cookie "did"), only for a dialog the edge knows,
and from a phone, trunk or carrier only toward a media node: 403 (foreign Route, non-media target;
a strike) or 404 (unknown dialog), no reply to an ACK.

A victim (127.0.0.67, UDP and TCP on one port) must hear nothing. Attackers come from 127.0.0.8x,
a fresh address for at most two strikes (CP_KAMAILIO_BAN_FAILS=3 in the fixture).
"""

from __future__ import annotations

import json
import select
import socket
import time
import uuid

import pytest

from controlplane.models import Carrier, CarrierTrunk, MediaNode
from controlplane.testing.net import free_port
from tests.kamailio.conftest import FsNode, make_account, make_tenant, wait_for
from tests.kamailio.sipclient import (
    SDP,
    SipDialog,
    SipPeer,
    cp_header_lines,
    invite_with_digest,
    sipp_received,
    status,
)

VICTIM_IP = "127.0.0.67"
FORGED = ["X-CP-Auth: digest", "X-CP-Account: 999999", "X-CP-Tenant: 999999", "X-CP-Carrier: 999999",
          "X-CP-Route: carrier", "x-cp-anything: 999999"]


class Victim:
    """A host the edge must never be made to talk to: a UDP socket and a TCP listener on one port."""

    def __init__(self, ip: str) -> None:
        self.ip, self.port = ip, free_port(ip)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((ip, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((ip, self.port))
        self.tcp.listen(16)
        self.heard: list[str] = []

    def uri(self, transport: str = "udp") -> str:
        return f"sip:{self.ip}:{self.port};lr" + (";transport=tcp" if transport == "tcp" else "")

    def listen(self, seconds: float = 1.0) -> list[str]:
        """Everything that arrived (UDP datagrams, TCP connections and their data) within seconds."""
        deadline = time.monotonic() + seconds
        conns: list[socket.socket] = []
        try:
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([self.udp, self.tcp, *conns], [], [], left)
                for sock in ready:
                    if sock is self.udp:
                        self.heard.append("udp: " + sock.recv(65535).decode(errors="replace"))
                    elif sock is self.tcp:
                        conn, peer = sock.accept()
                        self.heard.append(f"tcp connection from {peer}")
                        conns.append(conn)
                    else:
                        data = sock.recv(65535)
                        if data:
                            self.heard.append("tcp: " + data.decode(errors="replace"))
                        else:
                            conns.remove(sock)
                            sock.close()
        finally:
            for conn in conns:
                conn.close()
        return self.heard

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


@pytest.fixture()
def victim():
    v = Victim(VICTIM_IP)
    yield v
    v.close()


def _wait_active(edge, count: int = 1) -> None:
    wait_for(lambda: len([n for n in edge.rpc.media_nodes() if n.active]) == count,
             what=f"{count} active media node(s)")


def _media_node(session, node: FsNode) -> None:
    session.add(MediaNode(name="fs1", host=node.ip, port=node.port))
    session.flush()


def _strikes(edge, source: str, text: str) -> list[str]:
    """Log lines (JSON) that name source and contain text."""
    out = []
    for line in edge.log_text().splitlines():
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            continue
        if source in message and text in message:
            out.append(message)
    return out


def _forged_in_dialog(peer: SipPeer, method: str, ruri: str, route: list[str]) -> str:
    """A stray in-dialog request (To-tag, made-up dialog) with forged X-CP-* headers."""
    body, ctype = "", "application/sdp"
    if method == "INVITE":
        body = SDP.format(ip=peer.ip)
    elif method == "MESSAGE":
        body, ctype = "relay me", "text/plain"
    return peer.request(method, ruri, from_=f"<sip:attacker@{peer.ip}>;tag={uuid.uuid4().hex[:8]}",
                        to=f"<{ruri}>;tag={uuid.uuid4().hex[:8]}", call_id=f"{uuid.uuid4().hex}@{peer.ip}",
                        cseq=2 if method == "ACK" else 7, extra=FORGED, body=body, route=route,
                        content_type=ctype, contact=method in ("INVITE", "MESSAGE"))


def _send(peer: SipPeer, text: str) -> str | None:
    """Send; the final response (None for an ACK, which gets none, or when nothing came back)."""
    if text.startswith("ACK "):
        peer.send(text)
        return peer.recv(1.0)
    return peer.transact(text, 3.0)


# ----- a) a Route to any host: refused, over UDP and TCP, whatever transport the Route names -----

@pytest.mark.parametrize("method", ["BYE", "MESSAGE", "INVITE", "ACK"])
def test_foreign_route_is_not_followed(edge, session, victim, method):
    edge.sync(session)
    sources = {"udp": f"127.0.0.{80 + ['BYE', 'MESSAGE', 'INVITE', 'ACK'].index(method)}",
               "tcp": f"127.0.0.{84 + ['BYE', 'MESSAGE', 'INVITE', 'ACK'].index(method)}"}
    ruri = f"sip:victim@{victim.ip}:{victim.port}"
    answers = {}
    for edge_transport, source in sources.items():
        for route_transport in ("udp", "tcp"):
            with SipPeer(source, (edge.ip, edge.sip_port), transport=edge_transport) as peer:
                text = _forged_in_dialog(peer, method, ruri, [f"<{victim.uri(route_transport)}>"])
                reply = _send(peer, text)
                answers[(edge_transport, route_transport)] = None if reply is None else status(reply)
    expected = None if method == "ACK" else 403
    assert answers == dict.fromkeys(answers, expected), answers
    assert victim.listen() == []
    # Each attempt is a strike against its source (its R-URI is no media node: refused before loose_route()).
    for source in sources.values():
        assert len(_strikes(edge, source, "non-media target")) == 2, edge.log_text()[-3000:]


def test_foreign_route_is_not_followed_even_toward_a_media_node_uri(edge, session, fs_nodes, victim):
    _media_node(session, fs_nodes[0])
    edge.sync(session)
    ruri = f"sip:fs@{fs_nodes[0].ip}:{fs_nodes[0].port}"
    with SipPeer("127.0.0.79", (edge.ip, edge.sip_port)) as peer:
        reply = _send(peer, _forged_in_dialog(peer, "BYE", ruri, [f"<{victim.uri()}>"]))
        assert reply is not None and status(reply) == 403, reply
    assert victim.listen() == []
    assert len(_strikes(edge, "127.0.0.79", "foreign Route")) == 1


# ----- b) the edge's own address in the Route, but no dialog cookie -----

def test_own_route_without_cookie_is_not_followed(edge, session, victim):
    edge.sync(session)
    source = "127.0.0.88"
    ruri = f"sip:victim@{victim.ip}:{victim.port}"
    with SipPeer(source, (edge.ip, edge.sip_port)) as peer:
        reply = _send(peer, _forged_in_dialog(peer, "BYE", ruri, [f"<sip:{edge.ip}:{edge.sip_port};lr>"]))
        assert reply is not None and status(reply) == 403, reply
        # No Route at all (strict routing toward the R-URI): not here.
        reply = _send(peer, _forged_in_dialog(peer, "BYE", ruri, []))
        assert reply is not None and status(reply) == 404, reply
        peer.send(_forged_in_dialog(peer, "ACK", ruri, [f"<sip:{edge.ip}:{edge.sip_port};lr>"]))
        assert peer.recv(1.0) is None
    assert victim.listen() == []


# ----- c) the edge's Route with a made-up dialog cookie, toward a media node -----

def test_made_up_dialog_toward_a_media_node_is_404(edge, session, fs_nodes):
    _media_node(session, fs_nodes[0])
    edge.sync(session)
    _wait_active(edge)
    # The node's own address and port (a listener beside it on another port must stay silent too).
    node = Victim(fs_nodes[0].ip)
    try:
        ruri = f"sip:fs@{fs_nodes[0].ip}:{fs_nodes[0].port}"
        route = [f"<sip:{edge.ip}:{edge.sip_port};lr;did=a1b.c2d>"]
        with SipPeer("127.0.0.89", (edge.ip, edge.sip_port)) as peer:
            for method in ("BYE", "MESSAGE", "INVITE"):
                reply = _send(peer, _forged_in_dialog(peer, method, ruri, route))
                assert reply is not None and status(reply) == 404, (method, reply)
            peer.send(_forged_in_dialog(peer, "ACK", ruri, route))
            assert peer.recv(1.0) is None
        assert node.listen() == []
    finally:
        node.close()
    assert sipp_received(fs_nodes[0].messages(), "BYE") == []
    assert not _strikes(edge, "127.0.0.89", "strike")


# ----- d) a real call: its ACK and BYE go to the node, nowhere else -----

def _call(edge, session, fs_nodes, phone: SipPeer) -> tuple[FsNode, SipDialog]:
    """A digest phone's answered call through the edge to the media node stand-in, ACKed."""
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    node = fs_nodes[0]
    _media_node(session, node)
    edge.sync(session)
    _wait_active(edge)
    invite, response = invite_with_digest(phone, "sip:2000@acme.test", "1000", "acme.test", "pw-acme-1000",
                                          extra=FORGED)
    assert response is not None and status(response) == 200, response
    dialog = SipDialog(invite, response)
    assert dialog.route and all(";did=" in r for r in dialog.route), dialog.route
    phone.send(phone.in_dialog(dialog, "ACK", extra=FORGED))
    wait_for(lambda: sipp_received(node.messages(), "ACK"), what="ACK at the media node")
    return node, dialog


@pytest.mark.parametrize(("transport", "phone_ip"), [("udp", "127.0.0.90"), ("tcp", "127.0.0.94")])
def test_phone_in_dialog_requests_go_to_the_media_node_only(edge, session, fs_nodes, victim, transport, phone_ip):
    with SipPeer(phone_ip, (edge.ip, edge.sip_port), transport=transport) as phone:
        node, dialog = _call(edge, session, fs_nodes, phone)

        # Same dialog (Call-ID, tags, the edge's Route with its cookie), R-URI at the victim: refused.
        ruri = f"sip:victim@{victim.ip}:{victim.port}"
        reinvite = phone.in_dialog(dialog, "INVITE", ruri=ruri, extra=FORGED, body=SDP.format(ip=phone_ip))
        reply = phone.transact(reinvite, 3.0)
        assert reply is not None and status(reply) == 403, reply
        reply = phone.transact(phone.in_dialog(dialog, "MESSAGE", ruri=ruri + ";transport=tcp", extra=FORGED,
                                               body="hi", content_type="text/plain"), 3.0)
        assert reply is not None and status(reply) == 403, reply
        assert victim.listen() == []
        assert len(_strikes(edge, phone_ip, "non-media target")) == 2

        bye = phone.transact(phone.in_dialog(dialog, "BYE", extra=FORGED), 3.0)
        assert bye is not None and status(bye) == 200, bye

    msgs = node.messages()
    for method in ("INVITE", "ACK", "BYE"):  # one INVITE: the re-INVITE went nowhere
        got = sipp_received(msgs, method)
        assert len(got) == 1, (method, msgs)
        assert "999999" not in got[0]
    assert cp_header_lines(sipp_received(msgs, "ACK")[0]) == []
    assert cp_header_lines(sipp_received(msgs, "BYE")[0]) == []
    assert victim.listen(0.2) == []


def test_a_refused_bye_does_not_end_the_dialog(edge, session, fs_nodes, victim):
    """The dialog module ends a dialog on its BYE inside loose_route(): the target is checked before it, so a
    BYE aimed elsewhere leaves the call up and the real BYE still reaches the node."""
    with SipPeer("127.0.0.96", (edge.ip, edge.sip_port)) as phone:
        node, dialog = _call(edge, session, fs_nodes, phone)
        ruri = f"sip:victim@{victim.ip}:{victim.port}"
        reply = phone.transact(phone.in_dialog(dialog, "BYE", ruri=ruri, extra=FORGED), 3.0)
        assert reply is not None and status(reply) == 403, reply
        bye = phone.transact(phone.in_dialog(dialog, "BYE", extra=FORGED), 3.0)
        assert bye is not None and status(bye) == 200, bye
    assert len(sipp_received(node.messages(), "BYE")) == 1
    assert victim.listen() == []


def test_phone_cannot_steer_its_dialog_past_the_media_node(edge, session, fs_nodes, victim):
    phone_ip = "127.0.0.95"
    with SipPeer(phone_ip, (edge.ip, edge.sip_port)) as phone:
        node, dialog = _call(edge, session, fs_nodes, phone)
        # The edge's Route, then one more hop to the victim (R-URI still the node): refused.
        reply = phone.transact(phone.in_dialog(dialog, "INFO", route=[*dialog.route, f"<{victim.uri()}>"],
                                               extra=FORGED), 3.0)
        assert reply is not None and status(reply) == 403, reply
        # The node's address but another port (anything else listening on that host), over TCP: refused.
        other = Victim(node.ip)
        try:
            reply = phone.transact(phone.in_dialog(dialog, "INFO", ruri=f"sip:x@{other.ip}:{other.port};transport=tcp",
                                                   extra=FORGED), 3.0)
            assert reply is not None and status(reply) == 403, reply
            assert other.listen() == []
        finally:
            other.close()
        assert victim.listen(0.2) == []
        # The dialog itself is unharmed.
        bye = phone.transact(phone.in_dialog(dialog, "BYE"), 3.0)
        assert bye is not None and status(bye) == 200, bye
    assert sipp_received(node.messages(), "INFO") == []
    assert len(sipp_received(node.messages(), "BYE")) == 1


# ----- e) a media node's in-dialog requests are still relayed -----

def test_media_node_in_dialog_requests_are_relayed(edge, session, fs_nodes, victim):
    carrier_uas = FsNode("127.0.0.40", free_port("127.0.0.40"), edge.run_dir).start()
    try:
        carrier = Carrier(name="upstream")
        carrier.trunks.append(CarrierTrunk(name="upstream", host=carrier_uas.ip, port=carrier_uas.port))
        session.add(carrier)
        _media_node(session, fs_nodes[0])
        edge.sync(session)
        _wait_active(edge)

        # "FreeSWITCH": a client on the node's address, calling out to the carrier.
        with SipPeer(fs_nodes[0].ip, (edge.ip, edge.sip_port)) as fs:
            ruri = f"sip:4930555001@{carrier_uas.ip}:{carrier_uas.port}"
            invite = fs.request("INVITE", ruri, from_=f"<sip:+4930111@fs.local>;tag=e{fs.port}", to=f"<{ruri}>",
                                call_id=f"{uuid.uuid4().hex}@{fs.ip}", cseq=1, extra=["X-CP-Route: carrier"],
                                body=SDP.format(ip=fs.ip))
            response = fs.transact(invite, 5.0)
            assert response is not None and status(response) == 200, response
            dialog = SipDialog(invite, response)
            assert dialog.route and ";did=" in dialog.route[0], dialog.route

            # Even a media node is followed only along the edge's own Record-Route.
            stray = fs.in_dialog(dialog, "INFO", route=[f"<{victim.uri()}>"], extra=FORGED)
            reply = fs.transact(stray, 3.0)
            assert reply is not None and status(reply) == 403, reply

            fs.send(fs.in_dialog(dialog, "ACK", extra=FORGED))
            bye = fs.transact(fs.in_dialog(dialog, "BYE", extra=FORGED), 3.0)
            assert bye is not None and status(bye) == 200, bye

        msgs = carrier_uas.messages()
        for method in ("ACK", "BYE"):
            got = sipp_received(msgs, method)
            assert len(got) == 1, (method, msgs)
            assert cp_header_lines(got[0]) == [], got[0]
            assert "999999" not in got[0]
        assert sipp_received(msgs, "INFO") == []
        assert victim.listen() == []
    finally:
        carrier_uas.stop()


# ----- strikes add up: the third foreign Route bans the source -----

def test_foreign_routes_get_the_source_banned(edge, session, victim):
    edge.sync(session)
    source = "127.0.0.93"
    ruri = f"sip:victim@{victim.ip}:{victim.port}"
    with SipPeer(source, (edge.ip, edge.sip_port)) as peer:
        options = peer.request("OPTIONS", f"sip:{edge.ip}:{edge.sip_port}", from_=f"<sip:p@{source}>;tag=1",
                               to=f"<sip:{edge.ip}:{edge.sip_port}>", call_id=f"{uuid.uuid4().hex}@{source}",
                               cseq=1)
        answer = peer.transact(options, 1.5)
        assert answer is not None and status(answer) == 200, answer
        for _ in range(3):
            reply = _send(peer, _forged_in_dialog(peer, "MESSAGE", ruri, [f"<{victim.uri()}>"]))
            assert reply is not None and status(reply) == 403, reply
        # Banned: not even a keepalive is answered any more.
        options = options.replace("CSeq: 1 OPTIONS", "CSeq: 2 OPTIONS").replace("branch=z9hG4bK", "branch=z9hG4bKb")
        assert peer.transact(options, 1.5) is None
    assert victim.listen(0.3) == []
