"""Media through rtpengine (WITH_RTPENGINE): a real Kamailio and a real rtpengine (RELAY_IP), sipp media nodes.

Phones behind NAT (a private address in Contact and SDP) get their RTP anchored, WebRTC clients (over WebSocket) get
ICE/DTLS-SRTP/rtcp-mux from rtpengine while the node sees plain RTP/AVP, and calls of plain phones and trunks keep
their SDP untouched. BYE ends the rtpengine session.

Phones and browsers here are on 127.0.0.6x, never on the edge's own 127.0.0.1: a contact there would be "myself"
to Kamailio (alias=127.0.0.1 covers every port), and loose_route takes an in-dialog request whose R-URI is myself
for strict-routed, so a node's ACK and BYE toward such a contact were refused as a foreign Route.
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest

from controlplane.models import MediaNode
from controlplane.testing.net import free_port
from tests.kamailio.conftest import RELAY_IP, FsNode, make_account, make_tenant, wait_for
from tests.kamailio.sipclient import (
    SipDialog,
    SipPeer,
    WsSip,
    headers,
    invite_over_ws,
    invite_with_digest,
    register_over_ws,
    sipp_received,
    status,
    ws_final,
    ws_in_dialog,
)

PRIVATE = "10.1.2.3"  # what a phone behind NAT puts in its Contact and SDP
NAT_PHONE = "127.0.0.61"  # where it really sends from (its NAT's public address)
BROWSER = "127.0.0.62"
NAT_SDP = (f"v=0\r\no=phone 1 1 IN IP4 {PRIVATE}\r\ns=-\r\nc=IN IP4 {PRIVATE}\r\nt=0 0\r\n"
           "m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
FINGERPRINT = ":".join(f"{b:02X}" for b in range(32))
# A browser's offer (Chrome's shape): DTLS-SRTP over ICE, rtcp-mux, BUNDLE, host candidate only.
WEBRTC_OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS\r\nm=audio 50000 UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n"
    "a=ice-ufrag:Wb1x\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n"
    f"a=fingerprint:sha-256 {FINGERPRINT}\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
WEBRTC_ANSWER = WEBRTC_OFFER.replace("a=setup:actpass", "a=setup:active").replace("a=group:BUNDLE 0\r\n", "")
WEBRTC_LINES = ("a=ice-", "a=candidate", "a=fingerprint", "a=setup", "a=rtcp-mux", "a=crypto")


def sdp_of(message: str) -> str:
    """The body of a SIP message (as received, or a chunk of a sipp -trace_msg log), lines ending in LF."""
    text = message.replace("\r\n", "\n")
    start = re.search(r"(?m)^(?:SIP/2\.0 \d{3} |[A-Z]+ \S+ SIP/2\.0$)", text)
    assert start, message
    return text[start.start():].partition("\n\n")[2]


def media(sdp: str) -> tuple[str, int, str]:
    """(c= address, first m= port, its transport) of an SDP."""
    conn = re.findall(r"(?m)^c=IN IP4 ([0-9.]+)", sdp)
    m = re.search(r"(?m)^m=audio (\d+) (\S+)", sdp)
    assert conn and m, sdp
    return conn[-1], int(m.group(1)), m.group(2)


def assert_relayed(edge, sdp: str) -> None:  # noqa: ANN001
    """The SDP names rtpengine: its address in o= and c=, a port of its range in m=."""
    address, port, _ = media(sdp)
    low, high = edge.media.ports
    assert address == RELAY_IP and low <= port <= high, sdp
    assert re.search(rf"(?m)^o=.* IN IP4 {re.escape(RELAY_IP)}\s*$", sdp), sdp


def relay_calls(edge) -> list[str]:  # noqa: ANN001
    return edge.media.ng_client.calls()


def serve(edge, session, node: FsNode) -> FsNode:  # noqa: ANN001
    """The tenant's phone, browser and trunk accounts, `node` the one media node, synced and active."""
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    make_account(session, acme, "web1", "pw-acme-web1")
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.30")
    session.add(MediaNode(name="fs1", host=node.ip, port=node.port))
    session.flush()
    edge.sync(session)
    wait_for(lambda: any(n.active for n in edge.rpc.media_nodes()), what="the media node active")
    return node


@pytest.fixture()
def node(edge, session, fs_nodes):  # noqa: ANN001, ANN201
    return serve(edge, session, fs_nodes[0])


@pytest.fixture()
def own_node(edge, request):  # noqa: ANN001, ANN201
    """A node stand-in on 127.0.0.23 playing the scenario the test is parametrized with (indirect)."""
    node = FsNode("127.0.0.23", free_port("127.0.0.23"), edge.run_dir, scenario=request.param).start()
    yield node
    node.stop()


def test_kamailio_sees_rtpengine(edge):
    """rtpengine module loaded, pointed at this edge's relay, which answers its ping (RPC rtpengine.*)."""
    relays = edge.rpc.media_relays()
    assert [(r.url, r.disabled) for r in relays] == [(f"udp:{edge.media.ng}", False)]
    assert edge.rpc.ping_media_relays()


def test_phone_behind_nat_gets_its_media_anchored(edge, node):
    with SipPeer(NAT_PHONE, (edge.ip, edge.sip_port)) as phone:
        invite, ok = invite_with_digest(phone, "sip:2000@acme.test", "1000", "acme.test", "pw-acme-1000",
                                        body=NAT_SDP, contact=f"sip:1000@{PRIVATE}:5060")
        assert ok is not None and status(ok) == 200, ok
        call_id = headers(invite, "Call-ID")[0]

        # Toward the node: rtpengine's address and port, nothing of the phone's private address.
        at_node = wait_for(node.invites, what="INVITE at the node")[-1]
        assert_relayed(edge, sdp_of(at_node))
        assert PRIVATE not in sdp_of(at_node)
        # Back to the phone: rtpengine again, not the node's media address.
        assert_relayed(edge, sdp_of(ok))
        assert node.ip not in sdp_of(ok)
        assert call_id in relay_calls(edge)

        dialog = SipDialog(invite, ok)
        phone.send(phone.in_dialog(dialog, "ACK"))
        bye = phone.transact(phone.in_dialog(dialog, "BYE"))
        assert bye is not None and status(bye) == 200, bye
    wait_for(lambda: call_id not in relay_calls(edge), timeout=5, what="the rtpengine session gone after BYE")


def reply_to(request: str, code: str, body: str, contact: str) -> str:
    """A UAS's response to request: its Via, Record-Route, From, Call-ID, CSeq; a To-tag; `body` as SDP."""
    head = request.split("\r\n\r\n", 1)[0]
    lines = [f"SIP/2.0 {code}"]
    lines += [f"Via: {v}" for v in headers(head, "Via")]
    lines += [f"Record-Route: {r}" for r in headers(head, "Record-Route")]
    to = headers(head, "To")[0]
    lines += [f"From: {headers(head, 'From')[0]}", f"To: {to}" + ("" if ";tag=" in to else ";tag=uas1"),
              f"Call-ID: {headers(head, 'Call-ID')[0]}", f"CSeq: {headers(head, 'CSeq')[0]}",
              f"Contact: <{contact}>"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def received(trace_path, first_line: str) -> list[str]:  # noqa: ANN001
    """Messages starting with first_line in a sipp -trace_msg log."""
    if not trace_path.exists():
        return []
    out = []
    for chunk in trace_path.read_text(errors="replace").split("----------------------------------------------- "):
        m = re.search(r"message received \[\d+\] bytes :\s*\n(.*)", chunk, re.S)
        if m and m.group(1).lstrip().startswith(first_line):
            out.append(m.group(1).lstrip().replace("\r\n", "\n").replace("\n", "\r\n"))
    return out


def node_calls(edge, node, dest: str, trace) -> tuple[threading.Thread, list]:  # noqa: ANN001
    """The node (a sipp UAC from its address) calls dest@acme.test through the edge, in the background."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(edge.sipp(
        "fs_outbound.xml", source_ip=node.ip, user="+4930111", realm="fs.local", dest=dest, timeout=20,
        keys={"target": "acme.test", "route": "local"}, extra=["-trace_msg", "-message_file", str(trace)])))
    thread.start()
    return thread, result


def test_webrtc_caller_reaches_the_node_as_plain_rtp_and_gets_webrtc_back(edge, node):
    client = WsSip(edge.ip, edge.ws_port, source=BROWSER)
    try:
        code, response = register_over_ws(client, "web1", "acme.test", "pw-acme-web1")
        assert code == 200, response
        invite, ok = invite_over_ws(client, "sip:2000@acme.test", "web1", "acme.test", "pw-acme-web1",
                                    WEBRTC_OFFER)
        assert ok is not None and status(ok) == 200, ok
        call_id = headers(invite, "Call-ID")[0]

        # The node gets plain RTP from rtpengine: RTP/AVP, no ICE, no DTLS, no rtcp-mux.
        offer = sdp_of(wait_for(node.invites, what="INVITE at the node")[-1])
        assert_relayed(edge, offer)
        assert media(offer)[2] == "RTP/AVP", offer
        assert not [line for line in offer.splitlines() if line.startswith(WEBRTC_LINES)], offer

        # The browser gets WebRTC from rtpengine: DTLS-SRTP over ICE with its candidates, rtcp-mux.
        answer = sdp_of(ok)
        assert_relayed(edge, answer)
        assert media(answer)[2] == "UDP/TLS/RTP/SAVPF", answer
        for line in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:sha-256 ", "a=setup:passive", "a=rtcp-mux",
                     "a=candidate:"):
            assert line in answer, (line, answer)
        assert re.search(rf"(?m)^a=candidate:\S+ 1 UDP \d+ {re.escape(RELAY_IP)} \d+ typ host", answer), answer
        assert "a=crypto" not in answer and node.ip not in answer
        assert call_id in relay_calls(edge)

        dialog = SipDialog(invite, ok)
        client.send(ws_in_dialog(client, dialog, "ACK"))
        client.send(ws_in_dialog(client, dialog, "BYE"))
        bye = ws_final(client)
        assert bye is not None and status(bye) == 200, bye
    finally:
        client.close()
    wait_for(lambda: call_id not in relay_calls(edge), timeout=5, what="the rtpengine session gone after BYE")


def test_call_to_a_webrtc_client_offers_webrtc_and_answers_the_node_plain(edge, node):
    client = WsSip(edge.ip, edge.ws_port, source=BROWSER)
    trace = edge.run_dir / f"node-to-web-{uuid.uuid4().hex[:6]}.log"
    try:
        code, response = register_over_ws(client, "web1", "acme.test", "pw-acme-web1")
        assert code == 200, response
        thread, result = node_calls(edge, node, "web1", trace)
        client.sock.settimeout(10)
        invite = client.recv()
        while not invite.startswith("INVITE "):
            invite = client.recv()
        offer = sdp_of(invite)
        assert_relayed(edge, offer)
        assert media(offer)[2] == "UDP/TLS/RTP/SAVPF", offer
        for line in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:", "a=rtcp-mux", "a=mid:",
                     "a=candidate:"):
            assert line in offer, (line, offer)
        call_id = headers(invite, "Call-ID")[0]
        assert call_id in relay_calls(edge)

        # The browser answers (active DTLS role, the offered media ID).
        mid = re.search(r"(?m)^a=mid:(\S+)", offer).group(1)
        client.send(reply_to(invite, "200 OK", WEBRTC_ANSWER.replace("a=mid:0", f"a=mid:{mid}"),
                             f"sip:web1@{client.local_host};transport=ws"))
        ack = client.recv()
        assert ack.startswith("ACK "), ack
        bye = client.recv()
        assert bye.startswith("BYE "), bye
        client.send(reply_to(bye, "200 OK", "", f"sip:web1@{client.local_host};transport=ws"))
        thread.join(30)
        assert result and result[0].returncode == 0, result and result[0].stdout[-3000:]
    finally:
        client.close()
    # The node got the browser's answer as plain RTP through rtpengine.
    answer = sdp_of(received(trace, "SIP/2.0 200")[0])
    assert_relayed(edge, answer)
    assert media(answer)[2] == "RTP/AVP", answer
    assert not [line for line in answer.splitlines() if line.startswith(WEBRTC_LINES)], answer
    wait_for(lambda: call_id not in relay_calls(edge), timeout=5, what="the rtpengine session gone after BYE")


def register_peer(peer: SipPeer, username: str, realm: str, password: str, contact: str) -> str:
    """REGISTER from a SipPeer with its own Contact (a NATed phone names its private address)."""
    from tests.kamailio.sipclient import digest_header

    call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    args = {"from_": f"<sip:{username}@{realm}>;tag={tag}", "to": f"<sip:{username}@{realm}>", "call_id": call_id,
            "contact": False}
    extra = [f"Contact: <{contact}>;expires=300"]
    response = peer.transact(peer.request("REGISTER", f"sip:{realm}", cseq=1, extra=extra, **args))
    assert response is not None and status(response) == 401, response
    auth = digest_header(headers(response, "WWW-Authenticate")[0], "REGISTER", f"sip:{realm}", username, password)
    response = peer.transact(peer.request("REGISTER", f"sip:{realm}", cseq=2,
                                          extra=[*extra, f"Authorization: {auth}"], **args))
    assert response is not None and status(response) == 200, response
    return response


def test_call_to_a_phone_behind_nat_is_anchored_both_ways(edge, node):
    trace = edge.run_dir / f"node-to-nat-{uuid.uuid4().hex[:6]}.log"
    with SipPeer(NAT_PHONE, (edge.ip, edge.sip_port), timeout=10) as phone:
        register_peer(phone, "1000", "acme.test", "pw-acme-1000", f"sip:1000@{PRIVATE}:5060")
        thread, result = node_calls(edge, node, "1000", trace)
        invite = phone.recv()
        while invite is not None and not invite.startswith("INVITE "):
            invite = phone.recv()
        assert invite is not None, "no INVITE at the phone"
        assert_relayed(edge, sdp_of(invite))
        assert node.ip not in sdp_of(invite)
        call_id = headers(invite, "Call-ID")[0]
        phone.send(reply_to(invite, "200 OK", NAT_SDP, f"sip:1000@{PRIVATE}:5060"))
        for method in ("ACK", "BYE"):
            msg = phone.recv()
            while msg is not None and not msg.startswith(f"{method} "):
                msg = phone.recv()
            assert msg is not None, f"no {method} at the phone"
        phone.send(reply_to(msg, "200 OK", "", f"sip:1000@{PRIVATE}:5060"))
        thread.join(30)
        assert result and result[0].returncode == 0, result and result[0].stdout[-3000:]
    answer = sdp_of(received(trace, "SIP/2.0 200")[0])
    assert_relayed(edge, answer)
    assert PRIVATE not in answer
    wait_for(lambda: call_id not in relay_calls(edge), timeout=5, what="the rtpengine session gone after BYE")


def test_plain_calls_keep_their_media_end_to_end(edge, node):
    """A trunk and a phone with public addresses: no rtpengine session, the SDP the node gets is the caller's."""
    before = set(relay_calls(edge))
    run = edge.sipp("invite.xml", source_ip="127.0.0.30", user="pbx", realm="pbx.example", dest="4930555")
    assert run.returncode == 0, run.stdout[-3000:]
    run = edge.sipp("invite_digest.xml", user="1000", realm="acme.test", password="pw-acme-1000", dest="2000")
    assert run.returncode == 0, run.stdout[-3000:]
    invites = wait_for(lambda: len(node.invites()) >= 2 and node.invites(), what="2 INVITEs at the node")
    assert [media(sdp_of(m))[0] for m in invites] == ["127.0.0.30", "127.0.0.1"]
    assert not [m for m in invites if re.search(rf"IN IP4 {re.escape(RELAY_IP)}\s", m)]
    assert set(relay_calls(edge)) - before == set()


def test_rendered_only_with_the_switch_on(tmp_path):
    from controlplane.kamailio.render import settings_block
    from controlplane.kamailio.rtpengine import command
    from controlplane.settings import Settings

    assert "\n#!define WITH_RTPENGINE\n" in settings_block(Settings(kamailio_rtpengine=True))
    off = settings_block(Settings(kamailio_rtpengine=False, rtpengine_ng="127.0.0.1:2223"))
    assert "\n##!define WITH_RTPENGINE  (off)\n" in off and "\n#!define WITH_RTPENGINE" not in off
    assert '#!substdef "!CP_RTPENGINE_NG!127.0.0.1:2223!g"' in off
    argv = command(Settings(rtpengine_ng="127.0.0.9:2300", rtpengine_ip="10.0.0.5", rtpengine_advertise="203.0.113.7",
                            rtpengine_port_min=30000, rtpengine_port_max=30999), pid_file=tmp_path / "r.pid")
    assert argv[1:] == ["--config-file=none", "--table=-1", "--foreground", "--log-stderr",
                        "--interface=10.0.0.5!203.0.113.7", "--listen-ng=127.0.0.9:2300", "--port-min=30000",
                        "--port-max=30999", f"--pidfile={tmp_path / 'r.pid'}"]


def nat_call(edge, body: str = NAT_SDP):  # noqa: ANN001, ANN201
    """A phone behind NAT calls 2000: (its SipPeer, still open, the INVITE sent, the final response)."""
    phone = SipPeer(NAT_PHONE, (edge.ip, edge.sip_port))
    invite, final = invite_with_digest(phone, "sip:2000@acme.test", "1000", "acme.test", "pw-acme-1000", body=body,
                                       contact=f"sip:1000@{PRIVATE}:5060")
    assert final is not None, "no final response"
    return phone, invite, final


@pytest.mark.parametrize("own_node", ["fs_node_reinvite.xml"], indirect=True)
def test_reinvite_of_an_anchored_call_is_anchored_too(edge, session, own_node):
    """The dialog remembers the call's kind: a re-INVITE (hold) from the phone goes through rtpengine again, as the
    same session (the same relayed port toward the node)."""
    serve(edge, session, own_node)
    phone, invite, ok = nat_call(edge)
    with phone:
        assert status(ok) == 200, ok
        call_id = headers(invite, "Call-ID")[0]
        dialog = SipDialog(invite, ok)
        phone.send(phone.in_dialog(dialog, "ACK"))
        hold = NAT_SDP.replace("o=phone 1 1", "o=phone 1 2") + "a=sendonly\r\n"
        ok2 = phone.transact(phone.in_dialog(dialog, "INVITE", body=hold))
        assert ok2 is not None and status(ok2) == 200, ok2
        phone.send(phone.in_dialog(dialog, "ACK"))
        first, second = (sdp_of(m) for m in wait_for(lambda: len(own_node.invites()) == 2 and own_node.invites(),
                                                         what="INVITE and re-INVITE at the node"))
        assert_relayed(edge, second)
        assert "a=sendonly" in second and PRIVATE not in second
        assert media(second)[1] == media(first)[1]  # the same relayed port toward the node
        assert_relayed(edge, sdp_of(ok2))
        assert "a=recvonly" in sdp_of(ok2) and own_node.ip not in sdp_of(ok2)
        bye = phone.transact(phone.in_dialog(dialog, "BYE"))
        assert bye is not None and status(bye) == 200, bye
    wait_for(lambda: call_id not in relay_calls(edge), timeout=5, what="the rtpengine session gone after BYE")


def test_late_offer_is_offered_in_the_reply_and_answered_in_the_ack(edge, node):
    """An INVITE without SDP: the node's 200 carries the offer (relayed toward the phone), the phone's ACK the
    answer (relayed toward the node)."""
    phone, invite, ok = nat_call(edge, body="")
    with phone:
        assert status(ok) == 200, ok
        assert_relayed(edge, sdp_of(ok))
        assert node.ip not in sdp_of(ok)
        dialog = SipDialog(invite, ok)
        phone.send(phone.in_dialog(dialog, "ACK", body=NAT_SDP))
        ack = wait_for(lambda: sipp_received(node.messages(), "ACK"), what="ACK at the node")[-1]
        assert_relayed(edge, sdp_of(ack))
        assert PRIVATE not in sdp_of(ack)
        bye = phone.transact(phone.in_dialog(dialog, "BYE"))
        assert bye is not None and status(bye) == 200, bye


@pytest.mark.parametrize("own_node", ["fs_node_decided.xml"], indirect=True)
def test_a_call_that_fails_leaves_rtpengine(edge, session, own_node):
    """The controller refused the call (502, X-CP-Decided): the edge tells rtpengine to drop the session."""
    serve(edge, session, own_node)
    phone, invite, final = nat_call(edge)
    with phone:
        assert status(final) == 502, final
        phone.ack_negative(invite, final)
    call_id = headers(invite, "Call-ID")[0]
    deleted = re.compile(rf"\[{re.escape(call_id)}\]: \[control\] Received command 'delete'")
    wait_for(lambda: deleted.search(edge.media.log_text()), timeout=5, what="rtpengine told to delete the session")
