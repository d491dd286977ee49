"""The controller's core scenarios on whatever media node is available.

By default the FreeSWITCH stand-in; with `freeswitch` on PATH (or FREESWITCH_BIN) and
CP_REAL_FREESWITCH=1, a real FreeSWITCH rendered from freeswitch-conf/ with sipp far ends and
callers. The `real` parametrization says plainly why it is skipped otherwise.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal as D

import pytest

from controlplane.services.accounts import create_sip_account
from controlplane.services.carriers import create_carrier
from controlplane.services.decks import import_deck
from controlplane.services.ledger import add_credit
from controlplane.services.plans import create_plan
from controlplane.services.scope import Scope
from controlplane.services.tenants import create_tenant, ensure_operator
from controlplane.testing.freeswitch import NOT_INSTALLED
from tests.esl.conftest import ControllerProcess, WebServer, free_port
from tests.esl.media import CallSpec, FarEnd, real_freeswitch_wanted
from tests.esl.test_calls import wait_cdr

MODES = ["standin", pytest.param("real", marks=pytest.mark.skipif(
    not real_freeswitch_wanted(), reason=f"real FreeSWITCH scenarios need CP_REAL_FREESWITCH=1 and FreeSWITCH; "
                                        f"{NOT_INSTALLED}" if not real_freeswitch_wanted() else ""))]


@pytest.fixture(params=MODES)
def node_and_world(request, session, media_node_factory, tmp_path):
    if request.param == "standin" and os.environ.get("CP_REAL_FREESWITCH") == "1":
        pytest.skip("CP_REAL_FREESWITCH=1: only the real node runs")
    web = WebServer()
    port = free_port()
    scale = 1.0 if request.param == "real" else 10.0
    node = media_node_factory(("127.0.0.1", port), scale, web.cdr_url, str(tmp_path / "cdr-errors"))
    node.far_ends.add("answer", FarEnd.answer(after=0.5, hangup_after=3))
    node.far_ends.add("congested", FarEnd.reject(503))
    ensure_operator(session)
    import_deck(session, Scope.operator(), "retail", ["49,Germany,0.60,1,1,0\n"])
    import_deck(session, Scope.operator(), "buy", ["49,Germany,0.30,1,1,0\n"])
    create_plan(session, Scope.operator(), name="basic", decks=["retail"])
    host, fe_port = node.far_end_address("congested").split(":")
    create_carrier(session, Scope.operator(), name="first", host=host, port=int(fe_port), buy_deck="buy", priority=1)
    host, fe_port = node.far_end_address("answer").split(":")
    create_carrier(session, Scope.operator(), name="second", host=host, port=int(fe_port), buy_deck="buy", priority=2)
    tenant = create_tenant(session, Scope.operator(), name="acme", realm="acme.example.com", plan="basic")
    account = create_sip_account(session, Scope.operator(), tenant, "1000", "secret-1000").account
    add_credit(session, Scope.operator(), tenant, D("1.00"), "test")
    session.commit()
    env = dict(os.environ, CP_CONTROLLER_PORT=str(port), CP_TIME_SCALE=str(scale), CP_KAMAILIO_SIP="direct",
               CP_FS_NODES=f"fs-node-1=127.0.0.1:{node.inbound_port}:{node.password}", CP_DECISION_CACHE_TTL="0",
               CP_DECK_CHECK_INTERVAL="0", CP_SPOOL_DIR=str(tmp_path / "spool"))
    controller = ControllerProcess(port, env, tmp_path / "controller.log")
    controller.start()
    headers = {"X-CP-Account": str(account.id), "X-CP-Tenant": str(tenant.id), "X-CP-Auth": "digest"}
    yield node, headers
    controller.stop()
    web.stop()


def test_failover_then_answered_and_charged(node_and_world, session) -> None:
    node, headers = node_and_world
    call = node.place_call(CallSpec(destination="+49891234567", sip_headers=headers))
    assert call.wait_done(60)
    cdr = wait_cdr(session, call.uuid, timeout=30)
    assert [a["trunk"] for a in cdr.attempts] == ["first", "second"]
    assert cdr.attempts[0]["sip_code"] == 503 and cdr.attempts[1]["answered"]
    assert cdr.disposition == "ANSWERED" and cdr.billsec in (3, 4)
    assert cdr.cost == D("0.01") * cdr.billsec


def test_refused_without_credit_for_the_first_block(node_and_world, session) -> None:
    from controlplane.models import LedgerKind, Tenant
    from controlplane.services.ledger import post

    node, headers = node_and_world
    tenant = session.get(Tenant, int(headers["X-CP-Tenant"]))
    post(session, tenant.id, D("-1.00"), LedgerKind.CORRECTION, note="empty")
    session.commit()
    call = node.place_call(CallSpec(destination="+49891234567", sip_headers=headers))
    assert call.wait_done(60)
    assert call.sip_response_to_caller == 402
    assert wait_cdr(session, call.uuid, timeout=30).reason.startswith("insufficient credit")


def test_click_to_call_rings_the_phone_then_bills_from_the_far_ends_answer(node_and_world, session) -> None:
    """POST /api/v1/calls' service against the node's inbound ESL: the node rings the phone, the answered leg
    reaches the controller, which fails over to the answering carrier; the bill counts from that answer (the
    carrier rings 3 s after the phone picked up), not from the phone's."""
    from controlplane.esl.nodes import NodeAddress
    from controlplane.freeswitch import esl_client
    from controlplane.models import SipAccount
    from controlplane.services.call_control import click_to_call

    node, headers = node_and_world
    node.far_ends.add("phone", FarEnd.answer(after=0.5))
    phone = node.far_end_address("phone")
    node.far_ends.add(node.far_end_address("answer"), FarEnd.answer(after=3, hangup_after=2))
    account = session.get(SipAccount, int(headers["X-CP-Account"]))
    inbound = NodeAddress("fs-node-1", "127.0.0.1", node.inbound_port, node.password)
    started = click_to_call(session, Scope.operator(), account.id, "+49891234567", esl_client.bgapi,
                            lambda user, realm: f"sofia/controlplane/{user}@{phone}", nodes=[inbound])
    session.commit()
    cdr = wait_cdr(session, started.uuid, timeout=60)
    assert (cdr.tenant_id, cdr.sip_account_id, cdr.number) == (account.tenant_id, account.id, "49891234567")
    assert [a["trunk"] for a in cdr.attempts] == ["first", "second"] and cdr.attempts[1]["answered"]
    assert cdr.disposition == "ANSWERED" and cdr.billsec in (2, 3), cdr.billsec
    assert cdr.duration >= cdr.billsec + 3  # the phone and the carrier rang first: not billed
    assert cdr.cost == D("0.01") * cdr.billsec
    assert cdr.caller_id_number == "1000"  # the account's own number went to the carrier, not the destination


def test_a_ringing_click_to_call_is_listed_and_stops_by_itself(node_and_world, session, monkeypatch) -> None:
    """Until the phone answers, the click-to-call is listed (state `ringing account`). Hanging it up then is
    refused (409, said why): a real node does not find the leg an originate rings by its uuid. It stops by itself
    after the ring time (the phone gets CANCEL), nothing is billed, and it leaves the list."""
    from controlplane.errors import Conflict
    from controlplane.esl.nodes import NodeAddress
    from controlplane.freeswitch import esl_client
    from controlplane.models import Cdr, SipAccount
    from controlplane.services.call_control import click_to_call, hangup_call, list_calls
    from controlplane.state.live_calls import LiveCalls

    node, headers = node_and_world
    monkeypatch.setenv("CP_C2C_RING_SECONDS", "3")
    node.far_ends.add("ringer", FarEnd.ring_forever())
    phone = node.far_end_address("ringer")
    account = session.get(SipAccount, int(headers["X-CP-Account"]))
    inbound = NodeAddress("fs-node-1", "127.0.0.1", node.inbound_port, node.password)
    live = LiveCalls.connect()
    started = click_to_call(session, Scope.operator(), account.id, "+49891234567", esl_client.bgapi,
                            lambda user, realm: f"sofia/controlplane/{user}@{phone}", live, nodes=[inbound])
    session.commit()
    listed = {c.uuid: c for c in list_calls(live, Scope.operator(), {account.tenant_id})}
    assert listed[started.uuid].state == "ringing account" and listed[started.uuid].node == "fs-node-1"
    time.sleep(1.0)  # the phone is ringing now
    with pytest.raises(Conflict, match="still ringing"):
        hangup_call(live, Scope.operator(), started.uuid, esl_client.api, nodes={"fs-node-1": inbound})
    deadline = time.time() + 20
    while time.time() < deadline and started.uuid in {c.uuid for c in list_calls(live, Scope.operator(),
                                                                                   {account.tenant_id})}:
        time.sleep(0.5)
    assert started.uuid not in {c.uuid for c in list_calls(live, Scope.operator(), {account.tenant_id})}
    session.expire_all()
    # It never reached the controller. A real node posts the unanswered leg's CDR all the same: the tenant's, free,
    # saying so (the stand-in posts none for an originate that failed: not modelled).
    for cdr in session.query(Cdr).filter_by(uuid=started.uuid):
        assert (cdr.tenant_id, cdr.sip_account_id, cdr.billsec, cdr.cost) == (account.tenant_id, account.id, 0, 0)
        assert cdr.disposition != "ANSWERED" and cdr.reason == "click-to-call: the phone did not answer"
