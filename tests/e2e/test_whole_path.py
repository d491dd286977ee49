"""The whole path, as a customer's phone and a carrier see it: register, call, bill; refused for credit; the first
call after a carrier is created. The media node is the stand-in with its SIP side, or a real FreeSWITCH with
CP_REAL_FREESWITCH=1 (tests/e2e/conftest.py)."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from decimal import Decimal as D

from sqlalchemy import func, select

from controlplane.core.money import round_money
from controlplane.db import session_scope
from controlplane.models import Cdr, LedgerEntry, Tenant
from controlplane.testing.lab import carrier_scenario, start_sipp_uas
from controlplane.testing.net import free_port
from tests.e2e.conftest import CARRIER_IP, PHONES, RETAIL, Stack, wait_for


def cdr_of(uuid: str) -> Cdr:
    def find() -> Cdr | None:
        with session_scope() as s:
            return s.scalar(select(Cdr).where(Cdr.uuid == uuid))

    return wait_for(find, 15, f"the CDR of {uuid}")


def rows(uuid: str) -> tuple[int, list[LedgerEntry]]:
    """How many CDR rows and which ledger rows the call has."""
    with session_scope() as s:
        count = s.scalar(select(func.count()).select_from(Cdr).where(Cdr.uuid == uuid))
        ledger = list(s.scalars(select(LedgerEntry).where(LedgerEntry.reference == f"call:{uuid}")))
        return count, ledger


def balance(tenant_id: int) -> D:
    with session_scope() as s:
        return s.get(Tenant, tenant_id).balance


def deck_cost(prefix: str, billsec: int) -> D:
    """What RETAIL's row for `prefix` charges for an answered call of `billsec` (README, rating rules; grace 0)."""
    row = next(line.split(",") for line in RETAIL.splitlines() if line.startswith(f"{prefix},"))
    rate, init, block, connect = D(row[2]), int(row[3]), int(row[4]), D(row[5])
    charged = init if billsec <= init else init + -(-(billsec - init) // block) * block
    return round_money(connect + charged * rate / 60)


def utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def pushed(stack: Stack, uuid: str) -> list[int]:
    """The node's JSON CDR POSTs for this leg as the web app answered them, once the node has posted."""
    statuses = wait_for(lambda: stack.cdr_posts(uuid), 20, f"the node's JSON CDR POST for {uuid}")
    time.sleep(0.5)  # a retry would come now, if the first one had not been accepted
    return stack.cdr_posts(uuid) or statuses


def carrier_invites(stack: Stack) -> list[str]:
    text = stack.carrier_log.read_text(errors="replace") if stack.carrier_log.exists() else ""
    return [c for c in text.split("----------------------------------------------- ")
            if "message received" in c and re.search(r"^INVITE sip:", c, re.M)]


def test_phone_call_through_the_whole_path(stack: Stack) -> None:
    """Phone (digest) -> Kamailio -> node -> controller; the node's carrier leg back through Kamailio to the
    carrier; the caller hangs up after 3 s. One CDR, priced from the deck, debited once, pushed and accepted."""
    assert stack.real == (os.environ.get("CP_REAL_FREESWITCH") == "1")  # asked for a real node: it is one
    user, password = PHONES["acme"]
    tenant = stack.tenants["acme"]
    before = balance(tenant)
    started = time.time()
    call = stack.phone(user, password, "acme", "+49891234567", hold_ms=3000)
    assert call.answered and not call.got_bye and call.returncode == 0, (call.finals, call.stderr[-2000:])
    assert stack.edge.rpc.registration(user, stack.realms["acme"]) is not None  # its REGISTER was taken

    leg = stack.node.leg(call.call_id)
    cdr = cdr_of(leg.uuid)
    # FreeSWITCH bills whole seconds of its clock: 3 s held, 2-4 s billed; the record says what the node says
    assert cdr.billsec == leg.billsec and 2 <= cdr.billsec <= 4, (cdr.billsec, leg.billsec)
    assert leg.answer_epoch and cdr.answer_at == utc(leg.answer_epoch)
    assert started - 1 <= leg.answer_epoch <= time.time()
    assert (cdr.disposition, cdr.hangup_cause, cdr.rate_prefix, cdr.node) == (
        "ANSWERED", "NORMAL_CLEARING", "49", "fs-e2e-1")
    assert (cdr.tenant_id, cdr.caller_id_number, cdr.caller_id_name) == (tenant, user, "Alice")
    assert [(a["trunk"], a["answered"]) for a in cdr.attempts] == [("carrier-a", True)]
    assert isinstance(cdr.cost, D) and cdr.cost == deck_cost("49", cdr.billsec) == D("0.01") * cdr.billsec

    count, ledger = rows(leg.uuid)
    assert count == 1 and len(ledger) == 1
    assert ledger[0].amount == -cdr.cost and ledger[0].balance_after == before - cdr.cost
    assert balance(tenant) == before - cdr.cost
    assert pushed(stack, leg.uuid) == [200]  # the node's own CDR push: one POST, accepted
    assert rows(leg.uuid)[0] == 1

    # the carrier leg went through Kamailio as a node sends it, and reached the carrier without our headers
    for invite in stack.node.carrier_invites():  # stand-in: what its SIP side sent toward Kamailio
        assert re.search(r"^Route: <sip:127\.0\.0\.1:\d+;lr>", invite, re.M)
        assert "\r\nX-CP-Route: carrier\r\n" in invite and re.search(r"^X-CP-Trunk: \d+\r$", invite, re.M)
    got = carrier_invites(stack)  # (a retransmission has the same Call-ID)
    assert len({re.search(r"^Call-ID: *(\S+)", c, re.M | re.I).group(1) for c in got}) == 1, got
    assert "X-CP-" not in got[0] and re.search(r'^From: "Alice" <sip:1000@', got[0], re.M), got[0]


def test_tenant_without_credit_gets_402(stack: Stack) -> None:
    """A prepaid tenant with nothing on its balance: the phone gets 402 through Kamailio, a FAILED CDR, no debit."""
    user, password = PHONES["broke"]
    tenant = stack.tenants["broke"]
    call = stack.phone(user, password, "broke", "+49891234567")
    assert call.finals == [402] and call.returncode == 0, (call.finals, call.stderr[-2000:])
    leg = stack.node.leg(call.call_id)
    if not stack.real:
        assert leg.sip_response == 402
    cdr = cdr_of(leg.uuid)
    assert (cdr.sip_code, cdr.disposition, cdr.cost, cdr.billsec, cdr.tenant_id) == (402, "FAILED", D(0), 0, tenant)
    assert "credit" in cdr.reason and cdr.attempts in ([], None)
    assert rows(leg.uuid) == (1, [])
    assert balance(tenant) == D(0)
    assert pushed(stack, leg.uuid) == [200]


def test_first_call_after_a_carrier_is_created_is_routed(stack: Stack, tmp_path) -> None:  # noqa: ANN001
    """No carrier sells the UK: 404. The operator adds one (buy deck, carrier, edge tables) with the CLI and the
    very next call goes out through it: the controllers' decision cache follows the config version, not a timer.
    This carrier hangs up after 2 s: the node sends the phone its BYE."""
    user, password = PHONES["acme"]
    tenant = stack.tenants["acme"]
    refused = stack.phone(user, password, "acme", "+442071234567")
    assert refused.finals == [404], refused.finals
    assert "no route" in cdr_of(stack.node.leg(refused.call_id).uuid).reason

    _, port = start_sipp_uas(stack.procs, tmp_path, "carrier-uk", carrier_scenario(hangup_after_ms=2000),
                             CARRIER_IP)
    deck = tmp_path / "buy-uk.csv"
    deck.write_text("prefix,destination,rate,initblock,billingblock,connectcharge\n44,UK,0.40,1,1,0\n")
    stack.cli("deck", "import", "--buy", "--name", "buy-uk", str(deck))
    stack.cli("carrier", "create", "--name", "carrier-uk", "--host", CARRIER_IP, "--port", str(port),
              "--buy-deck", "buy-uk")
    created = time.monotonic()

    before = balance(tenant)
    call = stack.phone(user, password, "acme", "+442071234567", hold_ms=15000)
    assert call.answered and call.got_bye, (call.finals, call.stderr[-2000:])
    leg = stack.node.leg(call.call_id)
    cdr = cdr_of(leg.uuid)
    assert time.monotonic() - created < 15  # the call came seconds after the carrier
    assert [(a["trunk"], a["answered"]) for a in cdr.attempts] == [("carrier-uk", True)]
    assert cdr.billsec == leg.billsec and 1 <= cdr.billsec <= 3, (cdr.billsec, leg.billsec)
    assert cdr.cost == deck_cost("44", cdr.billsec) == D("0.1700")  # 0.05 connect + one 6 s block at 1.20/min
    assert balance(tenant) == before - cdr.cost
    assert pushed(stack, leg.uuid) == [200]


REJECTING_CARRIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier that is down">
<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 503 Service Unavailable
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<recv request="ACK"/>
</scenario>
"""


def test_every_carrier_failing_leaves_the_media_node_in_service(stack: Stack, tmp_path) -> None:  # noqa: ANN001
    """France's only carrier answers 503: the phone gets the failure, decided by the controller. Kamailio
    used to take that 5xx as the node's own fault, mark the node down and answer the next call, to a
    number that routes, 503 "No media node available" until its next probe."""
    user, password = PHONES["acme"]
    _, port = start_sipp_uas(stack.procs, tmp_path, "carrier-fr", REJECTING_CARRIER, CARRIER_IP)
    deck = tmp_path / "buy-fr.csv"
    deck.write_text("prefix,destination,rate,initblock,billingblock,connectcharge\n33,France,0.20,1,1,0\n")
    stack.cli("deck", "import", "--buy", "--name", "buy-fr", str(deck))
    retail = tmp_path / "retail.csv"
    retail.write_text(RETAIL + "33,France,0.90,1,1,0\n")
    stack.cli("deck", "import", "--name", "retail", str(retail))
    stack.cli("carrier", "create", "--name", "carrier-fr", "--host", CARRIER_IP, "--port", str(port),
              "--buy-deck", "buy-fr")

    failed = stack.phone(user, password, "acme", "+33142685300")
    cdr = cdr_of(stack.node.leg(failed.call_id).uuid)
    # Kamailio passes a 503 upstream as 500 (RFC 3261 16.7, tm), both the carrier's and the node's.
    assert failed.finals and failed.finals[-1] in (500, 503) and not failed.answered, (failed.finals, cdr.reason)
    assert [(a["trunk"], a["sip_code"] in (500, 503)) for a in cdr.attempts] == [("carrier-fr", True)]
    assert (cdr.disposition, cdr.cost) == ("CONGESTION", D(0))
    assert [n.active for n in stack.edge.rpc.media_nodes()] == [True]  # not marked down

    after = stack.phone(user, password, "acme", "+49891234567", hold_ms=2000)
    assert after.answered, after.finals


def test_click_to_call_rings_the_phone_then_the_number(stack: Stack, tmp_path) -> None:  # noqa: ANN001
    """An operator's key asks the API for a click-to-call: the media node rings acme's registered phone through
    Kamailio's location, the phone answers, the controller bridges the leg to carrier A, the phone hangs up after
    4 s. One CDR for the call's uuid, billed from the carrier's answer with the deck's price, posted once."""
    from controlplane.models import SipAccount
    from tests.e2e.conftest import PHONE_IP

    user, password = PHONES["acme"]
    port = free_port(PHONE_IP)
    stack.register(user, password, "acme", port)
    start_sipp_uas(stack.procs, tmp_path, "phone-c2c", carrier_scenario(hangup_after_ms=4000), PHONE_IP, port,
                   trace=True)
    stack.cli("user", "ensure-admin", "--email", "ops@e2e.example")
    key = stack.cli("user", "api-key", "--email", "ops@e2e.example", "--scope", "calls:write",
                    "--name", "c2c").stdout.strip().rsplit(" ", 1)[-1]
    with session_scope() as s:
        account = s.scalar(select(SipAccount.id).where(SipAccount.tenant_id == stack.tenants["acme"],
                                                       SipAccount.username == user))
    before = balance(stack.tenants["acme"])
    status, body = stack.api("POST", "/api/v1/calls", key, {"sip_account_id": account, "destination": "+49891234567"})
    assert status == 202, body
    cdr = wait_for(lambda: _cdr(body["uuid"]), 40, "the click-to-call's CDR")
    assert (cdr.sip_account_id, cdr.number, cdr.disposition) == (account, "49891234567", "ANSWERED")
    assert [(a["trunk"], a["answered"]) for a in cdr.attempts] == [("carrier-a", True)]
    assert 3 <= cdr.billsec <= 5 and cdr.duration >= cdr.billsec, (cdr.billsec, cdr.duration)
    assert cdr.cost == deck_cost("49", cdr.billsec)
    assert balance(stack.tenants["acme"]) == before - cdr.cost
    assert rows(body["uuid"])[0] == 1
    assert pushed(stack, body["uuid"]) == [200]
    invite = (tmp_path / "phone-c2c-messages.log").read_text(errors="replace")
    assert "INVITE sip:1000@" in invite and "Click-to-call" in invite  # the phone was rung, showing who it calls


def _cdr(uuid: str) -> Cdr | None:
    with session_scope() as s:
        return s.scalar(select(Cdr).where(Cdr.uuid == uuid))


def test_an_internal_call_rings_the_registered_phone_free(stack: Stack, tmp_path) -> None:  # noqa: ANN001
    """acme's 1001 dials 1000: the node sends the leg back through Kamailio, whose location has 1000's phone
    (registered over UDP: the relay stays UDP however large the node's INVITE). Answered; nothing is charged."""
    from tests.e2e.conftest import PHONE_IP

    user, password = PHONES["acme"]
    port = free_port(PHONE_IP)
    stack.register(user, password, "acme", port)
    start_sipp_uas(stack.procs, tmp_path, "phone-1000", carrier_scenario(), PHONE_IP, port, trace=True)
    stack.cli("sip-account", "create", "--tenant", "acme", "--username", "1001", "--password", "secret-1001-e2e")
    before = balance(stack.tenants["acme"])
    call = stack.phone("1001", "secret-1001-e2e", "acme", "1000", hold_ms=2000, name="Bob")
    assert call.answered, (call.finals, call.stderr[-2000:])
    cdr = cdr_of(stack.node.leg(call.call_id).uuid)
    assert (cdr.direction, cdr.disposition, cdr.cost) == ("internal", "ANSWERED", D("0"))
    assert balance(stack.tenants["acme"]) == before
    assert "INVITE sip:1000@" in (tmp_path / "phone-1000-messages.log").read_text(errors="replace")
