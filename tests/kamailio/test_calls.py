"""Calls through the edge: trusted headers, IP trunks, carriers, dispatcher over FreeSWITCH nodes."""

from __future__ import annotations

import re
import socket
import time

from controlplane.models import Carrier, CarrierTrunk, MediaNode, TrunkAddress
from controlplane.services.scope import Scope
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
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.31")
    edge.sync(session)
    assert edge.rpc.media_nodes() == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.31", 0))
        s.settimeout(3.0)
        port = s.getsockname()[1]
        s.sendto((f"INVITE sip:4930555@{edge.ip}:{edge.sip_port} SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.31:{port};branch=z9hG4bKnomedia{time.time_ns()}\r\n"
                  "Max-Forwards: 70\r\nFrom: <sip:pbx@pbx.example>;tag=nm1\r\nTo: <sip:4930555@pbx.example>\r\n"
                  f"Call-ID: nomedia-{time.time_ns()}\r\nCSeq: 1 INVITE\r\n"
                  f"Contact: <sip:pbx@127.0.0.31:{port}>\r\nContent-Length: 0\r\n\r\n").encode(),
                 (edge.ip, edge.sip_port))
        started, finals = time.monotonic(), []
        while not finals and time.monotonic() - started < 3.0:
            status = int(s.recvfrom(65535)[0].decode(errors="replace").split(" ", 2)[1])
            if status >= 200:
                finals.append(status)
    assert finals == [503]  # at once, not after the caller's own timeout
    assert time.monotonic() - started < 1.0


def test_freeswitch_to_carrier_is_relayed_without_trusted_headers(edge, session, fs_nodes):
    from tests.kamailio.conftest import FsNode, free_port

    carrier_uas = FsNode("127.0.0.40", free_port("127.0.0.40"), edge.run_dir).start()
    try:
        carrier = Carrier(name="upstream")
        carrier.trunks.append(CarrierTrunk(name="upstream", host="127.0.0.40", port=carrier_uas.port))
        session.add(carrier)
        _nodes(session, fs_nodes[:1])
        edge.sync(session)
        _wait_active(edge, 1)
        fs = fs_nodes[0]

        target = f"127.0.0.40:{carrier_uas.port}"
        run = edge.sipp("fs_outbound.xml", source_ip=fs.ip, user="+4930111", realm="fs.local", dest="4930555001",
                        keys={"target": target, "route": "carrier"})
        assert run.returncode == 0, run.stdout[-3000:]
        msg = wait_for(carrier_uas.invites, what="INVITE at the carrier")[-1]
        assert not [line for line in msg.splitlines() if line.lower().startswith("x-cp-")]
        # The carrier sees the edge (Record-Route and top Via), not the FreeSWITCH node.
        assert _headers(msg, "Record-Route")[0].startswith(f"<sip:{edge.ip}:{edge.sip_port}")
        assert f"SIP/2.0/UDP {edge.ip}:{edge.sip_port}" in _headers(msg, "Via")[0]

        # Not a known carrier trunk: refused, nothing leaves.
        run = edge.sipp("fs_outbound_refused.xml", source_ip=fs.ip, user="+4930111", realm="fs.local",
                        dest="4930555001", keys={"target": "127.0.0.99:5060", "route": "carrier"})
        assert run.returncode == 0, run.stdout[-3000:]
        # Only FreeSWITCH nodes may ask for a carrier: a phone asking gets challenged/refused instead.
        run = edge.sipp("fs_outbound_refused.xml", source_ip="127.0.0.43", user="+4930111", realm="fs.local",
                        dest="4930555001", keys={"target": target, "route": "carrier"})
        assert run.returncode == 0, run.stdout[-3000:]
        assert len(carrier_uas.invites()) == 1
    finally:
        carrier_uas.stop()


def test_freeswitch_to_registered_phone_by_location(edge, session, fs_nodes):
    from tests.kamailio.conftest import FsNode, free_port

    acme = make_tenant(session, "acme", "acme.test")
    beta = make_tenant(session, "beta", "beta.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    make_account(session, beta, "1000", "pw-beta-1000")
    _nodes(session, fs_nodes[:1])
    edge.sync(session)
    _wait_active(edge, 1)

    # Two phones with the same extension in two realms, on two addresses.
    phones = {}
    for realm, ip, pw in (("acme.test", "127.0.0.51", "pw-acme-1000"), ("beta.test", "127.0.0.52", "pw-beta-1000")):
        port = free_port(ip)
        run = edge.sipp("register.xml", source_ip=ip, local_port=port, user="1000", realm=realm, password=pw)
        assert run.returncode == 0, run.stdout[-3000:]
        phones[realm] = FsNode(ip, port, edge.run_dir).start()  # the phone answers calls
    try:
        fs = fs_nodes[0]
        run = edge.sipp("fs_outbound.xml", source_ip=fs.ip, user="+4930111", realm="fs.local", dest="1000",
                        keys={"target": "beta.test", "route": "local"})
        assert run.returncode == 0, run.stdout[-3000:]
        msg = wait_for(phones["beta.test"].invites, what="INVITE at the beta phone")[-1]
        assert not [line for line in msg.splitlines() if line.lower().startswith("x-cp-")]
        assert phones["acme.test"].invites() == []
    finally:
        for phone in phones.values():
            phone.stop()


def _challenging_carrier(edge, ip: str):  # noqa: ANN001, ANN202
    import subprocess

    from tests.kamailio.conftest import SCENARIOS, SIPP, free_port

    port = free_port(ip)
    log = edge.run_dir / f"carrier-challenge-{port}.log"
    proc = subprocess.Popen(
        [SIPP, "-sf", str(SCENARIOS / "carrier_challenge.xml"), "-i", ip, "-p", str(port), "-t", "u1", "-m", "1",
         "-nostdin", "-trace_msg", "-message_file", str(log),
         "-timeout", "20s", "-timeout_error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return proc, port, log


def test_carrier_that_challenges_our_invite_gets_the_trunks_credentials(edge, session, fs_nodes):
    """uac_auth: a 401/407 from the carrier is answered once with the trunk's username and password."""
    from controlplane.services.carriers import create_carrier

    carrier_proc, port, log = _challenging_carrier(edge, "127.0.0.44")
    try:
        create_carrier(session, Scope.operator(), name="strict-carrier", host="127.0.0.44", port=port,
                       username="cp-account", password="s3cret-at-carrier")
        _nodes(session, fs_nodes[:1])
        edge.sync(session)
        _wait_active(edge, 1)
        run = edge.sipp("fs_outbound.xml", source_ip=fs_nodes[0].ip, user="+4930111", realm="fs.local",
                        dest="4930555002", keys={"target": f"127.0.0.44:{port}", "route": "carrier"})
        assert run.returncode == 0, run.stdout[-3000:]
        assert carrier_proc.wait(timeout=20) == 0  # the carrier's verifyauth accepted the credentials
    finally:
        if carrier_proc.poll() is None:
            carrier_proc.kill()
    invites = [m for m in log.read_text().split("----------------------------------------------- ")
               if "message received" in m and "\nINVITE sip:" in m]
    assert len(invites) == 2
    assert "Authorization" not in invites[0]
    assert re.search(r'(?im)^Authorization: Digest username="cp-account", realm="carrier.example"', invites[1])
    cseqs = [int(re.search(r"(?im)^CSeq:\s*(\d+)", m).group(1)) for m in invites]
    assert cseqs[1] == cseqs[0] + 1  # a new request for the carrier, in step with the dialog
    assert "s3cret" not in invites[1]


def test_carrier_challenge_without_credentials_goes_back_to_freeswitch(edge, session, fs_nodes):
    carrier_proc, port, log = _challenging_carrier(edge, "127.0.0.46")
    try:
        carrier = Carrier(name="strict-no-creds")
        carrier.trunks.append(CarrierTrunk(name="strict-no-creds", host="127.0.0.46", port=port))
        session.add(carrier)
        _nodes(session, fs_nodes[:1])
        edge.sync(session)
        _wait_active(edge, 1)
        run = edge.sipp("fs_outbound_refused.xml", source_ip=fs_nodes[0].ip, user="+4930111", realm="fs.local",
                        dest="4930555003", keys={"target": f"127.0.0.46:{port}", "route": "carrier"})
        assert run.returncode != 0  # it expected a 403: the carrier's 401 came back to FreeSWITCH instead
    finally:
        carrier_proc.kill()
    assert log.read_text().count("\nINVITE sip:") == 1  # no second, authenticated INVITE
    assert "challenged INVITE but the trunk has no credentials" in edge.log_text()


def test_a_call_the_controller_refused_neither_fails_the_node_over_nor_leaks_its_marker(edge, session):
    """A 5xx with X-CP-Decided: the node is fine (another would decide the same); the caller gets the reply as
    it is, without the internal header."""
    from tests.kamailio.conftest import FsNode, free_port

    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "acme-pbx", trunk_ip="127.0.0.32")
    decided = FsNode("127.0.0.23", free_port("127.0.0.23"), edge.run_dir, scenario="fs_node_decided.xml").start()
    try:
        session.add(MediaNode(name="fs-decided", host=decided.ip, port=decided.port))
        session.flush()
        edge.sync(session)
        _wait_active(edge, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.32", 0))
            s.settimeout(3.0)
            port = s.getsockname()[1]
            s.sendto((f"INVITE sip:4930555@{edge.ip}:{edge.sip_port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP 127.0.0.32:{port};branch=z9hG4bKdecided{time.time_ns()}\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:pbx@pbx.example>;tag=d1\r\nTo: <sip:4930555@pbx.example>\r\n"
                      f"Call-ID: decided-{time.time_ns()}\r\nCSeq: 1 INVITE\r\n"
                      f"Contact: <sip:pbx@127.0.0.32:{port}>\r\nContent-Length: 0\r\n\r\n").encode(),
                     (edge.ip, edge.sip_port))
            final = None
            while final is None:
                text = s.recvfrom(65535)[0].decode(errors="replace")
                if int(text.split(" ", 2)[1]) >= 200:
                    final = text
        assert final.startswith("SIP/2.0 502 Bad Gateway")
        assert "X-CP-" not in final
        assert len(decided.invites()) == 1
        time.sleep(0.5)
        assert [n.active for n in edge.rpc.media_nodes()] == [True]
    finally:
        decided.stop()
