"""The controller end to end: real controller process, FreeSWITCH stand-in, MariaDB, Redis."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from controlplane.models import Cdr, LedgerEntry
from controlplane.services.scope import Scope
from fs_standin import CallSpec, FarEnd
from tests.esl.conftest import balance, headers


def wait_cdr(session, uuid: str, timeout: float = 15.0) -> Cdr:
    deadline = time.time() + timeout
    while time.time() < deadline:
        session.expire_all()
        cdr = session.scalar(select(Cdr).where(Cdr.uuid == uuid))
        if cdr is not None:
            return cdr
        time.sleep(0.1)
    raise AssertionError(f"no CDR for {uuid}")


def test_prepaid_call_answered_and_charged_exactly(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=30))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    # FreeSWITCH bills whole seconds of its clock: a 30 s call is 30 s, or 31 when it straddles a tick.
    assert cdr.billsec == call.billsec and cdr.billsec in (30, 31)
    assert (cdr.disposition, cdr.rate_prefix, cdr.rate_source) == ("ANSWERED", "49", "plan")
    assert cdr.cost == D("0.01") * cdr.billsec  # 0.60/min in per-second blocks
    assert cdr.billing_blocks == cdr.billsec
    assert cdr.attempts[0]["trunk"] == "carrier-a" and cdr.attempts[0]["answered"]
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.reference == f"call:{call.uuid}")) == 1


def from_carrier(rig, session, carrier_name: str, destination: str) -> object:
    """An inbound call as Kamailio hands it over from a carrier's address."""
    from controlplane.models import Carrier

    carrier = session.scalar(select(Carrier).where(Carrier.name == carrier_name))
    return rig.fs.place_call(CallSpec(destination=destination, caller_number="+441234567",
                                      sip_headers={"X-CP-Auth": "carrier", "X-CP-Carrier": str(carrier.id)}))


def wait_answered(call, timeout: float = 30.0) -> None:
    """Until the controller has seen the call answered (its live state), on either node's clock."""
    from controlplane.state.live_calls import LiveCalls

    live = LiveCalls.connect()
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (live.get(call.uuid) or {}).get("answered_at"):
            return
        time.sleep(0.05)
    raise AssertionError(f"call {call.uuid} not answered within {timeout} s")


def place(rig, world, destination: str, account_id: int | None = None, **spec) -> object:
    return rig.fs.place_call(CallSpec(destination=destination, sip_headers=headers(world, account_id), **spec))


def test_failover_first_trunk_congested_second_answers(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.reject(503))
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.answer(after=0.5, hangup_after=10))
    call = place(rig, world, "+442071234567")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert [(a["trunk"], a["sip_code"], a["answered"]) for a in cdr.attempts] == [
        ("carrier-a", 503, False), ("carrier-b", None, True)]
    assert cdr.attempts[0]["cause"] == "NORMAL_TEMPORARY_FAILURE"
    assert [a.endpoint.split("@")[1].split(";")[0] for a in call.attempts] == ["127.0.0.1:5071", "127.0.0.1:5072"]
    if not rig.real:  # the real node here has no Kamailio in front: its legs go straight to the far ends
        assert all("fs_path=sip:" in a.endpoint for a in call.attempts)  # legs leave through Kamailio
    # UK: 1.20/min in 6 s blocks + 0.05 connect: 10 (or 11) s -> 12 s charged = 0.05 + 0.24
    assert (cdr.disposition, cdr.charged_seconds, cdr.cost) == ("ANSWERED", 12, D("0.2900"))
    assert cdr.billsec in (10, 11)
    assert cdr.trunk_id is not None


def test_busy_does_not_fail_over(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.reject(486))
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.answer(after=0.5, hangup_after=10))
    call = place(rig, world, "+442071234567")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert (cdr.disposition, cdr.sip_code, len(cdr.attempts), cdr.cost) == ("BUSY", 486, 1, D(0))
    assert call.hangup_cause == "USER_BUSY"


def test_all_trunks_fail_is_congestion_with_every_attempt_recorded(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.reject(503))
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.reject(502))
    call = place(rig, world, "+12125550100")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert cdr.disposition == "CONGESTION"
    assert [a["sip_code"] for a in cdr.attempts] == [503, 502]
    assert balance(session, world.tenant_id) == D("1.00")


def test_block_boundary_is_not_charged_an_extra_block(rig, world, session) -> None:
    from controlplane.models import LedgerKind
    from controlplane.services.ledger import post

    post(session, world.tenant_id, D("-0.40"), LedgerKind.CORRECTION, note="leave 0.60: one Berlin minute")
    session.commit()
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))
    call = place(rig, world, "+4930123456")  # Berlin: 0.60 per whole minute
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    # The credit pays exactly one block: the call is cut at 60 s, on the boundary, and charged one block.
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"
    assert (cdr.billsec, cdr.billing_blocks, cdr.charged_seconds, cdr.cost) == (60, 1, 60, D("0.6000"))
    assert balance(session, world.tenant_id) == D("0")


def refused(rig, world, session, destination: str, code: int, sip_headers=None, account_id=None) -> Cdr:
    spec = CallSpec(destination=destination,
                    sip_headers=headers(world, account_id) if sip_headers is None else sip_headers)
    call = rig.fs.place_call(spec)
    assert call.wait_done(30)
    assert call.sip_response_to_caller == code, (call.sip_response_to_caller, call.hangup_cause)
    assert call.attempts == []  # nothing was dialled
    cdr = wait_cdr(session, call.uuid)
    assert (cdr.sip_code, cdr.disposition, cdr.cost, cdr.billsec) == (code, "FAILED", D(0), 0)
    return cdr


def test_call_without_trusted_headers_is_refused(rig, world, session) -> None:
    cdr = refused(rig, world, session, "+49891234567", 403, sip_headers={"X-CP-Account": str(world.account_id)})
    assert "untrusted" in cdr.reason
    assert cdr.tenant_id is None


def test_refusals_with_their_sip_codes(rig, world, session) -> None:
    from controlplane.models import SipAccount, Status

    assert "no rate" in refused(rig, world, session, "+33123456789", 404).reason
    account = session.get(SipAccount, world.account_id)
    account.restricted_prefixes = "4989"
    session.commit()
    assert "restricted" in refused(rig, world, session, "+49891234567", 403).reason
    account.restricted_prefixes = ""
    account.status = Status.DISABLED
    session.commit()
    assert "account disabled" in refused(rig, world, session, "+49891234567", 403).reason
    assert balance(session, world.tenant_id) == D("1.00")


def test_credit_below_the_first_block_is_refused(rig, world, session) -> None:
    from controlplane.models import LedgerKind
    from controlplane.services.ledger import post

    post(session, world.tenant_id, D("-0.50"), LedgerKind.CORRECTION, note="test")
    session.commit()
    cdr = refused(rig, world, session, "+4930123456", 402)  # Berlin's first block is a whole minute: 0.60
    assert "first billing block" in cdr.reason
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=5))
    call = place(rig, world, "+49891234567")  # per-second Germany still fits in 0.50
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert cdr.cost == D("0.01") * cdr.billsec and cdr.billsec in (5, 6)


def test_concurrent_call_limit_answers_486(rig, world, session) -> None:
    from controlplane.models import SipAccount

    session.get(SipAccount, world.account_id).max_concurrent_calls = 1
    session.commit()
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2, hangup_after=20))
    first = place(rig, world, "+49891234567")
    time.sleep(0.5)
    cdr = refused(rig, world, session, "+49891234568", 486)
    assert "concurrent" in cdr.reason
    assert first.wait_done(30)
    assert wait_cdr(session, first.uuid).disposition == "ANSWERED"


def test_carrier_channel_limit_skips_a_full_trunk(rig, world, session) -> None:
    from controlplane.models import CarrierTrunk

    trunk_a = session.scalar(select(CarrierTrunk).where(CarrierTrunk.name == "carrier-a"))
    trunk_a.max_channels = 1
    session.commit()
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2, hangup_after=20))
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.answer(after=0.2, hangup_after=5))
    first = place(rig, world, "+49891234567")
    time.sleep(0.5)
    second = place(rig, world, "+49891234567", account_id=world.account2_id)
    assert second.wait_done(30) and first.wait_done(30)
    cdr = wait_cdr(session, second.uuid)
    assert [(a["trunk"], a["cause"]) for a in cdr.attempts] == [("carrier-a", "CHANNEL_LIMIT"), ("carrier-b", None)]
    assert cdr.disposition == "ANSWERED"


def test_call_is_cut_at_the_second_credit_runs_out(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))  # nobody hangs up
    call = place(rig, world, "+49891234567")  # 0.01/s with 1.00 credit: 100 s
    assert call.wait_done(40)
    cdr = wait_cdr(session, call.uuid)
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"
    assert (cdr.billsec, cdr.cost) == (100, D("1.0000"))
    assert balance(session, world.tenant_id) == D("0.0000")


def test_three_concurrent_calls_share_the_balance_within_one_block_each(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2))
    calls = []
    for n in range(3):
        calls.append(place(rig, world, f"+4989123456{n}", account_id=world.account_id if n % 2 else world.account2_id))
        time.sleep(1.0)  # ten call-seconds apart
    for call in calls:
        assert call.wait_done(40)
    cdrs = [wait_cdr(session, c.uuid) for c in calls]
    total = sum(c.cost for c in cdrs)
    assert all(c.billsec > 0 for c in cdrs)
    assert {c.hangup_cause for c in calls} == {"ALLOTTED_TIMEOUT"}
    # 1.00 shared: (100 + 10 + 20) / 3 = about 43 s each from the last answer.
    assert D("1.00") - D("0.03") <= total <= D("1.00") + D("0.03"), [c.billsec for c in cdrs]
    assert balance(session, world.tenant_id) == D("1.00") - total


@pytest.mark.controller_env(CP_WARN_SECONDS="10")
def test_warning_tone_before_the_cut(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2))
    call = place(rig, world, "+49891234567")
    assert call.wait_done(40)
    assert wait_cdr(session, call.uuid).billsec == 100
    tones = tone_times(call)
    assert len(tones) == 1, tones
    # The tone comes CP_WARN_SECONDS (10 call-seconds) before the cut, not merely at some point.
    before_cut = int(call.final_vars["end_uepoch"]) / 1e6 - tones[0]
    assert 8.5 <= before_cut <= 11.5, before_cut


def tone_times(call) -> list[float]:
    """Start times of the warning tones played on the call's A leg, in the node's (call-)seconds."""
    if hasattr(call, "broadcasts"):  # the stand-in records every uuid_broadcast
        return [b.at for b in call.broadcasts if b.path.startswith("tone_stream://")]
    return call.tone_times()


def test_internal_call_is_free_and_rings_the_other_account(rig, world, session) -> None:
    rig.require_standin("rings a registered user through Kamailio's location; no Kamailio fronts this node")
    rig.fs.far_ends.add("1001@acme.voice.example.com", FarEnd.answer(after=0.5, hangup_after=50))
    call = place(rig, world, "1001")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert (cdr.direction, cdr.disposition, cdr.cost) == ("internal", "ANSWERED", D(0))
    assert cdr.billsec in (50, 51)
    assert call.attempts[0].endpoint.startswith("sofia/controlplane/1001@acme.voice.example.com;fs_path=")
    assert balance(session, world.tenant_id) == D("1.00")


def test_inbound_did_rings_its_sip_account(rig, world, session) -> None:
    from controlplane.models import Tenant
    from controlplane.services.dids import add_did

    rig.require_standin("rings a registered user through Kamailio's location; no Kamailio fronts this node")
    tenant = session.get(Tenant, world.tenant_id)
    add_did(session, Scope.operator(), tenant, "+4930555000", to_account="1000")
    session.commit()
    rig.fs.far_ends.add("1000@acme.voice.example.com", FarEnd.answer(after=0.5, hangup_after=20))
    call = from_carrier(rig, session, "carrier-a", "+4930555000")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert (cdr.direction, cdr.tenant_id, cdr.disposition, cdr.cost) == ("inbound", world.tenant_id, "ANSWERED", D(0))
    assert cdr.billsec in (20, 21)
    unknown = from_carrier(rig, session, "carrier-a", "+4930555999")
    assert unknown.wait_done(30)
    assert unknown.sip_response_to_caller == 404


def test_calls_in_flight_are_listed_and_hung_up_from_another_process(rig, world, session) -> None:
    import subprocess
    import sys

    from controlplane.services.call_control import list_calls
    from controlplane.state.live_calls import LiveCalls

    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2))
    call = place(rig, world, "+49891234567")
    wait_answered(call)
    live = LiveCalls.connect()
    [row] = list_calls(live, Scope.operator(), {world.tenant_id})
    assert (row.uuid, row.state, row.caller, row.destination, row.node) == (
        call.uuid, "answered", "+4930111222", "49891234567", rig.node_name)
    assert row.trunk == "carrier-a" and row.answered_at is not None
    assert list_calls(live, Scope.operator(), {world.tenant_id + 999}) == []
    env = dict(rig.env, CP_FS_NODES=f"{rig.node_name}=127.0.0.1:{rig.fs.inbound_port}:ClueCon")
    listed = subprocess.run([sys.executable, "-m", "controlplane.cli", "calls", "list"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert call.uuid in listed.stdout and "1 call(s) in flight" in listed.stdout
    killed = subprocess.run([sys.executable, "-m", "controlplane.cli", "calls", "hangup", call.uuid], env=env,
                            capture_output=True, text=True, timeout=30)
    assert killed.returncode == 0, killed.stderr
    assert call.wait_done(10)
    cdr = wait_cdr(session, call.uuid)
    assert cdr.disposition == "ANSWERED" and cdr.cost == D("0.01") * cdr.billsec
    time.sleep(0.5)
    assert list_calls(live, Scope.operator(), {world.tenant_id}) == []
    missing = subprocess.run([sys.executable, "-m", "controlplane.cli", "calls", "hangup", call.uuid], env=env,
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 3 and "no call" in missing.stderr


def test_inbound_did_to_an_external_number_is_routed_and_billed_to_the_did_tenant(rig, world, session) -> None:
    from controlplane.models import Did, DidDestination, Tenant
    from controlplane.services.dids import add_did

    did = add_did(session, Scope.operator(), session.get(Tenant, world.tenant_id), "+4930555111")
    did.destination_type, did.destination_value = DidDestination.EXTERNAL, "+12125550100"
    session.commit()
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.3, hangup_after=30))
    call = from_carrier(rig, session, "carrier-b", "+4930555111")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert (cdr.direction, cdr.tenant_id, cdr.number, cdr.rate_prefix) == ("inbound", world.tenant_id,
                                                                           "12125550100", "1")
    assert cdr.cost == D("0.001") * cdr.billsec  # USA 0.06/min, per second
    assert session.get(Did, did.id).destination_value == "+12125550100"


def test_a_cut_that_the_socket_cannot_deliver_is_escalated_to_the_node(rig, world, session) -> None:
    """The balance cut normally goes over the call's own socket; when that fails it is retried
    and sent to the media node over inbound ESL (uuid_kill), whichever process runs it."""
    from types import SimpleNamespace

    from controlplane.esl.nodes import NodeAddress
    from controlplane.esl.timers import BalanceTimers

    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.2))
    call = place(rig, world, "+49891234567")
    wait_answered(call)
    dead_socket = SimpleNamespace(hung_up=False, hangup=lambda cause: False)  # every socket command fails
    flow = SimpleNamespace(state=SimpleNamespace(uuid=call.uuid), channel=dead_socket, node=rig.node_name)
    nodes = {rig.node_name: NodeAddress(rig.node_name, "127.0.0.1", rig.fs.inbound_port, "ClueCon")}
    timers = BalanceTimers(SimpleNamespace(live=None), nodes)
    timers.cut(flow)  # returns after its retries: the socket never reports the hang-up here
    assert call.wait_done(10)
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"
    assert wait_cdr(session, call.uuid).disposition == "ANSWERED"


@pytest.mark.controller_env(CP_LEG_TIMEOUT="20")
def test_no_answer_tries_the_next_trunk_then_records_no_answer_free(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.ring_forever())
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.ring_forever())
    call = place(rig, world, "+49891234567")
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    # leg_timeout ends each leg with ALLOTTED_TIMEOUT (reference fact 24): the next trunk is tried.
    assert [(a["trunk"], a["cause"], a["answered"]) for a in cdr.attempts] == [
        ("carrier-a", "ALLOTTED_TIMEOUT", False), ("carrier-b", "ALLOTTED_TIMEOUT", False)]
    assert (cdr.disposition, cdr.billsec, cdr.cost) == ("NO ANSWER", 0, D(0))
    assert balance(session, world.tenant_id) == D("1.00")


def test_caller_hangs_up_the_call_is_charged_to_the_second(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))  # the far end would talk on
    call = place(rig, world, "+49891234567", caller_hangs_up_after=12)
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert cdr.billsec == call.billsec and cdr.billsec in (12, 13)  # the node's whole-second billsec
    assert (cdr.disposition, cdr.hangup_cause) == ("ANSWERED", "NORMAL_CLEARING")
    assert cdr.cost == D("0.01") * cdr.billsec
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost
