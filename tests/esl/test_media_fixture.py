"""The media-node fixture on the stand-in (default here), driven by a tiny outbound-ESL application; the sipp
scenarios of the real-FreeSWITCH path checked against each other (sipp is installed, FreeSWITCH is not)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest
from esl_client import EslApp
from media import FINAL_FAILURES, CallSpec, FarEnd, media_node, real_freeswitch_wanted, uac_scenario, uas_scenario

SCALE = 10.0
pytestmark = pytest.mark.skipif(real_freeswitch_wanted(), reason="drives the stand-in's outbound ESL directly")


def _handshake(app: EslApp) -> None:
    app.accept()
    for cmd in ("connect", "myevents", "linger"):
        app.send(f"{cmd}\n\n")
        app.next()


def _execute(app: EslApp, name: str, arg: str) -> None:
    app.send(f"sendmsg\ncall-command: execute\nexecute-app-name: {name}\nexecute-app-arg: {arg}\nevent-lock: true\n\n")


def _exit_after_linger(app: EslApp) -> None:
    app.until(lambda m: m.kind == "notice:linger", 30)
    app.send("exit\n\n")


def test_failover_through_far_end_addresses(media_node_factory) -> None:
    app = EslApp()
    node = media_node_factory(app.addr, time_scale=SCALE)
    assert node.kind == "standin" and node.inbound_port and node.password == "ClueCon"
    node.far_ends.add("carrier-a", FarEnd.reject(503))
    node.far_ends.add("carrier-b", FarEnd.answer(after=0.5, hangup_after=4))
    a, b = node.far_end_address("carrier-a"), node.far_end_address("carrier-b")
    assert a != b and a.startswith("127.0.0.1:")
    call = node.place_call(CallSpec(destination="+4930555001", sip_headers={"X-CP-Account": "42"}))
    _handshake(app)
    _execute(app, "set", "hangup_after_bridge=true")
    _execute(app, "bridge", f"sofia/controlplane/+4930999001@{a}|sofia/controlplane/+4930999001@{b}")
    _exit_after_linger(app)
    call.wait_done(20)
    assert [x.cause for x in call.attempts] == ["NORMAL_TEMPORARY_FAILURE", "NORMAL_CLEARING"]
    assert call.hangup_cause == "NORMAL_CLEARING" and call.billsec in (4, 5)
    assert call.sip_response_to_caller is None  # answered
    app.close()


def test_refusal_and_node_restart() -> None:
    app = EslApp()
    with media_node(app.addr, time_scale=SCALE) as node:
        call = node.place_call()
        _handshake(app)
        _execute(app, "respond", "402 Payment Required")
        _exit_after_linger(app)
        call.wait_done(10)
        assert call.sip_response_to_caller == 402
        port = node.inbound_port
        node.stop_node()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        node.restart_node()
        assert node.inbound_port == port
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        node.require_standin("a no-op here")
    app.close()


def test_sipp_scenarios_are_well_formed() -> None:
    for fe in (FarEnd.answer(0.5, 2), FarEnd.answer(0.5), FarEnd.reject(486), FarEnd.ring_forever()):
        ET.fromstring(uas_scenario(fe).encode("iso-8859-1"))
    xml = uac_scenario(CallSpec(sip_headers={"X-CP-Account": "42"}), "cid-1", "127.0.0.1", 5080)
    root = ET.fromstring(xml.encode("iso-8859-1"))
    assert "X-CP-Account: 42" in root[0].text
    assert len([r for r in root.iter("recv") if r.get("next") == "refused"]) == len(FINAL_FAILURES)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed (Debian package sip-tester)")
@pytest.mark.parametrize("far_end,caller_bye", [(FarEnd.answer(0.2, 0.3), None), (FarEnd.answer(0.2), 0.3),
                                                (FarEnd.reject(486), None)])
def test_sipp_caller_against_sipp_far_end(tmp_path, far_end, caller_bye) -> None:
    """The real path's caller and far-end scenarios complete a call with each other (no FreeSWITCH needed)."""
    uas_port, uac_port = _free_udp_port(), _free_udp_port()
    (tmp_path / "uas.xml").write_text(uas_scenario(far_end))
    (tmp_path / "uac.xml").write_text(uac_scenario(CallSpec(caller_hangs_up_after=caller_bye,
                                                            sip_headers={"X-CP-Account": "42"}),
                                                   "cid-test", "127.0.0.1", uas_port))
    uas = subprocess.Popen(["sipp", "-sf", "uas.xml", "-i", "127.0.0.1", "-p", str(uas_port), "-m", "1",
                            "-nostdin"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uac = subprocess.run(["sipp", f"127.0.0.1:{uas_port}", "-sf", "uac.xml", "-i", "127.0.0.1", "-p",
                              str(uac_port), "-m", "1", "-nostdin", "-cid_str", "cid-test", "-trace_msg",
                              "-message_file", "msgs.log"],
                             cwd=tmp_path, capture_output=True, timeout=30)
        assert uac.returncode == 0, uac.stderr.decode()[-2000:]
        assert uas.wait(10) == 0
        log = (tmp_path / "msgs.log").read_text()
        assert "X-CP-Account: 42" in log
        if far_end.reject_code:
            assert "SIP/2.0 486" in log
    finally:
        if uas.poll() is None:
            uas.kill()
