"""rtpengine on (WITH_RTPENGINE) but not running: Kamailio starts all the same and calls still go through.

The edge is rendered pointing at an ng address nothing answers (EDGE_RTPENGINE = False). A call that would have been
anchored goes on with its media unanchored, and only the first one waits for the relay's timeout: after that the
rtpengine module leaves the relay alone (rtpengine_disable_tout).
"""

from __future__ import annotations

import time

import pytest

from controlplane.models import MediaNode
from tests.kamailio.conftest import make_account, make_tenant, wait_for
from tests.kamailio.sipclient import SipDialog, SipPeer, headers, invite_with_digest, status
from tests.kamailio.test_rtpengine import NAT_PHONE, NAT_SDP, PRIVATE, media, sdp_of

EDGE_RTPENGINE = False


@pytest.fixture()
def node(edge, session, fs_nodes):  # noqa: ANN001, ANN201
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.30")
    session.add(MediaNode(name="fs1", host=fs_nodes[0].ip, port=fs_nodes[0].port))
    session.flush()
    edge.sync(session)
    wait_for(lambda: any(n.active for n in edge.rpc.media_nodes()), what="the media node active")
    return fs_nodes[0]


def nat_call(edge) -> tuple[str, str, float]:  # noqa: ANN001
    """A call from a phone behind NAT, answered, ACKed and hung up: (INVITE sent, 200 received, seconds to 200)."""
    with SipPeer(NAT_PHONE, (edge.ip, edge.sip_port), timeout=5) as phone:
        started = time.monotonic()
        invite, ok = invite_with_digest(phone, "sip:2000@acme.test", "1000", "acme.test", "pw-acme-1000",
                                        body=NAT_SDP, contact=f"sip:1000@{PRIVATE}:5060")
        took = time.monotonic() - started
        assert ok is not None and status(ok) == 200, ok
        dialog = SipDialog(invite, ok)
        phone.send(phone.in_dialog(dialog, "ACK"))
        bye = phone.transact(phone.in_dialog(dialog, "BYE"))
        assert bye is not None and status(bye) == 200, bye
    return invite, ok, took


def test_kamailio_runs_and_calls_go_through_unanchored(edge, node):
    assert edge.media is None and edge.alive()

    # A call that would be anchored goes through with its SDP as it was; at worst it waited once for the relay.
    invite, ok, took = nat_call(edge)
    assert took < 2.5, took
    at_node = sdp_of(wait_for(node.invites, what="INVITE at the node")[-1])
    assert media(at_node)[:2] == (PRIVATE, 4000), at_node
    assert media(sdp_of(ok))[0] == node.ip
    assert "rtpengine: no offer for INVITE " + headers(invite, "Call-ID")[0] in edge.log_text()

    # Now the relay is known to be down: the next call is not held up by it at all.
    [relay] = edge.rpc.media_relays()
    assert relay.url == f"udp:{edge.env['CP_RTPENGINE_NG']}" and relay.disabled
    _, ok, took = nat_call(edge)
    assert took < 0.5, took
    assert media(sdp_of(ok))[0] == node.ip
    assert not edge.rpc.ping_media_relays()

    # Plain calls never ask the relay anything.
    run = edge.sipp("invite.xml", source_ip="127.0.0.30", user="pbx", realm="pbx.example", dest="4930555")
    assert run.returncode == 0, run.stdout[-3000:]
    assert edge.alive()
