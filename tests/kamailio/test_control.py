"""Carrier registrations (uac), the JSON-RPC client's failure modes, and the pure derivation rules."""

from __future__ import annotations

import time

import pytest

from controlplane.kamailio.rpc import KamailioRpc, KamailioUnreachable
from controlplane.kamailio.tables import (
    GRP_CARRIER,
    GRP_DENY,
    GRP_TRUNK,
    AccountRow,
    IpRow,
    ModelRows,
    NodeRow,
    TenantRow,
    TrunkRow,
    derive,
)
from controlplane.models import AuthMode, Carrier, CarrierTrunk
from tests.kamailio.conftest import FsNode, free_port, wait_for


def test_carrier_registration_state_readable(edge, session):
    port = free_port("127.0.0.45")
    registrar = FsNode("127.0.0.45", port, edge.run_dir)
    registrar_proc_scenario = "carrier_registrar.xml"
    import subprocess

    from tests.kamailio.conftest import SCENARIOS, SIPP

    registrar.proc = subprocess.Popen(
        [SIPP, "-sf", str(SCENARIOS / registrar_proc_scenario), "-i", registrar.ip, "-p", str(port), "-t", "u1",
         "-nostdin", "-trace_msg", "-message_file", str(registrar.msg_log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        carrier = Carrier(name="regcarrier")
        trunk = CarrierTrunk(name="regcarrier", host="127.0.0.45", port=port, auth_mode=AuthMode.REGISTER,
                             username="cp-edge", password="carrier-secret")
        carrier.trunks.append(trunk)
        session.add(carrier)
        report = edge.sync(session)
        assert "uacreg" in report.reloaded
        uuid = f"trunk-{trunk.id}"
        state = wait_for(lambda: (r := edge.rpc.carrier_registration(uuid)) and r.registered and r,
                         timeout=40, interval=0.5, what="carrier registration online")
        assert state.state == "registered" and state.r_domain == "127.0.0.45"
        assert [r.l_uuid for r in edge.rpc.carrier_registrations()] == [uuid]
        log = registrar.messages()
        assert 'Authorization: Digest username="cp-edge"' in log
        assert "carrier-secret" not in log
    finally:
        registrar.stop()


def test_rpc_unreachable_is_a_clear_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(KamailioUnreachable, match="127.0.0.1:9"):
        KamailioRpc("http://127.0.0.1:9/RPC", timeout=1).ping()
    # An address that drops packets: bounded by the timeout.
    with pytest.raises(KamailioUnreachable):
        KamailioRpc("http://192.0.2.1:5071/RPC", timeout=1).ping()
    assert time.monotonic() - start < 10


def test_sync_reports_unreachable_kamailio(session):
    from controlplane.kamailio.tables import sync
    from tests.kamailio.conftest import make_account, make_tenant

    acme = make_tenant(session, "acme-down", "down.test")
    make_account(session, acme, "1000")
    session.commit()
    report = sync(session, rpc=KamailioRpc("http://127.0.0.1:9/RPC", timeout=1))
    assert not report.ok and "unreachable" in report.errors[0]
    assert "subscriber" in report.changed  # the tables are written all the same


def _rows():
    tenants = [TenantRow(1, None, True, None), TenantRow(2, "reseller.test", True, 1),
               TenantRow(3, "acme.test", True, 2), TenantRow(4, "beta.test", True, 2),
               TenantRow(5, "gone.test", False, 1), TenantRow(6, "child.test", True, 5)]
    accounts = [AccountRow(10, 3, "1000", "account", True, "a" * 32, "b" * 32, None),
                AccountRow(11, 4, "1000", "account", True, "c" * 32, "d" * 32, None),
                AccountRow(12, 3, "off", "account", False, "e" * 32, "f" * 32, None),
                AccountRow(13, 3, "pbx", "trunk", True, "0" * 32, "0" * 32, "10.1.1.1"),
                AccountRow(14, 6, "1000", "account", True, "1" * 32, "1" * 32, None)]
    trunks = [TrunkRow(20, 7, True, "203.0.113.5", 5060, "udp", "ip", None, None, (("203.0.113.0", 28),)),
              TrunkRow(21, 8, True, "198.51.100.9", 5080, "tcp", "register", "u", "p"),
              TrunkRow(22, 9, False, "198.51.100.10", 5060, "udp", "ip", None, None)]
    nodes = [NodeRow(30, "fs1", "10.0.0.1", 5060, "udp", 50, True), NodeRow(31, "fs2", "10.0.0.2", 5060, "udp", 50,
                                                                          False)]
    ips = [IpRow("deny", "192.0.2.0", 24)]
    return ModelRows(tenants, accounts, trunks, nodes, ips)


def test_derive_tenancy_rules():
    t = derive(_rows(), fs_setid=3, resolve=lambda h: [h])
    # Same username in two realms: two subscribers; disabled account and disabled parent left out.
    assert t.subscriber == {
        10: ("1000", "acme.test", "a" * 32, "b" * 32), 11: ("1000", "beta.test", "c" * 32, "d" * 32),
    }
    assert t.domain == {("reseller.test", "2"), ("acme.test", "3"), ("beta.test", "4")}
    assert (GRP_TRUNK, "10.1.1.1", 32, 0, "13:3") in t.address
    assert (GRP_CARRIER, "203.0.113.5", 32, 0, "7") in t.address
    assert (GRP_CARRIER, "203.0.113.0", 28, 0, "7") in t.address
    assert not [a for a in t.address if a[1] == "198.51.100.10"]
    assert (GRP_DENY, "192.0.2.0", 24, 0, "deny") in t.address
    assert t.dispatcher == {(3, "sip:10.0.0.1:5060", 0, 0, "weight=50;duid=node-30", "fs1")}
    assert [u[0] for u in t.uacreg] == ["trunk-21"]
    assert next(iter(t.uacreg))[8] == "sip:198.51.100.9:5080;transport=tcp"
    assert ("198.51.100.9:5080", 0, 1, "8") in t.htable
    # Pure: same input, same output.
    assert derive(_rows(), fs_setid=3, resolve=lambda h: [h]) == t


def test_node_commands_reload_kamailios_dispatcher(edge, session):
    """`controlplane node add/disable` run the edge sync: a running Kamailio picks the change up."""
    from click.testing import CliRunner

    from controlplane.cli import main

    def run(*args: str):  # noqa: ANN202
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0 and not result.stderr, result.output
        return result

    session.commit()
    run("node", "add", "--name", "fs-live", "--sip", "127.0.0.1:5098")
    uris = wait_for(lambda: [n.uri for n in edge.rpc.media_nodes()] or None, what="the node in dispatcher.list")
    assert uris == ["sip:127.0.0.1:5098"]
    run("node", "disable", "fs-live")
    wait_for(lambda: edge.rpc.media_nodes() == [], what="the disabled node out of dispatcher.list")
