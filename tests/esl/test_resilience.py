"""No call or CDR is lost, and none is charged twice: duplicates, outages, crashes, lost nodes."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal as D
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from controlplane.core.cdr import CallRecord
from controlplane.freeswitch.cdr_variables import record_from_variables
from controlplane.models import Cdr, LedgerEntry
from controlplane.state.spool import Spool
from fs_standin import CallSpec, FarEnd
from tests.esl.conftest import CDR_PASSWORD, CDR_USER, balance, headers
from tests.esl.test_calls import wait_cdr


def debits(session, uuid: str) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.reference == f"call:{uuid}"))


def post_json(url: str, document: dict) -> dict:
    token = base64.b64encode(f"{CDR_USER}:{CDR_PASSWORD}".encode()).decode()
    req = urllib.request.Request(url, data=json.dumps(document).encode(),
                                 headers={"Content-Type": "application/json", "User-Agent": "freeswitch-json/1.0",
                                          "Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_cdr_push_before_and_after_the_controller_and_duplicates_charge_once(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=20))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    time.sleep(1.0)  # the controller's own write has happened by now too
    assert cdr.written_by == "freeswitch"  # FreeSWITCH posts before its hang-up event reaches us (j1)
    # The node posted once for the call (one A leg; B legs are not posted: log-b-leg=false), with its
    # credentials, labelled as curl labels it under disable-100-continue.
    assert list(rig.web.cdr_requests) == [call.uuid], list(rig.web.cdr_requests)
    [(sent, _body)] = rig.web.cdr_requests[call.uuid]
    assert sent["Content-Type"] == "application/x-www-form-urlencoded" and sent["Authorization"].startswith("Basic ")
    assert sent["User-Agent"] == "freeswitch-json/1.0"
    # FreeSWITCH retrying its post, and a late duplicate of the A-leg document, change nothing.
    document = rig.web.cdr_document(call.uuid)
    for _ in range(3):
        assert post_json(rig.web.cdr_url, document)["result"] == "duplicate"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Cdr).where(Cdr.uuid == call.uuid)) == 1
    assert debits(session, call.uuid) == 1
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost


@pytest.mark.rig(cdr_capture_only=True)
def test_controller_writes_alone_and_a_late_push_is_a_duplicate(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=20))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    assert call.wait_done(30)
    cdr = wait_cdr(session, call.uuid)
    assert cdr.written_by == "controller"
    # The node's own document (kept, not written, when it was posted), late: it carries the call's
    # price (cp_rating), so a second charge would show.
    document = rig.web.cdr_document(call.uuid)
    assert document["variables"].get("cp_rating")
    rig.web.write = True  # the receiver writes again from now on
    for _ in range(2):
        assert post_json(rig.web.cdr_url, document)["result"] == "duplicate"
    assert debits(session, call.uuid) == 1
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost


@pytest.mark.rig(no_cdr_push=True, db_proxy=True)
def test_mariadb_gone_at_hangup_the_record_waits_and_is_written_once(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=30))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    time.sleep(15 / rig.scale)  # answered, timers armed
    rig.db_proxy.cut()
    assert call.wait_done(30)
    time.sleep(1.0)
    session.expire_all()
    early = session.scalar(select(Cdr).where(Cdr.uuid == call.uuid))
    assert early is None, (early.written_by, rig.env["DATABASE_URL"], rig.controller.output()[-3000:])
    spool = Spool.default()
    assert spool.size() == 1
    env = os.environ.copy()
    drained = subprocess.run([sys.executable, "-m", "controlplane.cli", "worker", "--once"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert drained.returncode == 0, drained.stderr
    assert "1 written" in drained.stdout
    cdr = wait_cdr(session, call.uuid)
    assert cdr.cost == D("0.01") * cdr.billsec and cdr.billsec in (30, 31)
    assert debits(session, call.uuid) == 1
    again = subprocess.run([sys.executable, "-m", "controlplane.cli", "worker", "--once"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "0 written" in again.stdout and spool.size() == 0
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost


def test_controller_killed_mid_call_freeswitch_cap_cuts_and_the_cdr_arrives(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))  # nobody hangs up
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    time.sleep(20 / rig.scale)  # 20 call-seconds in: answered, cap armed on FreeSWITCH
    rig.controller.kill()
    assert call.wait_done(40)
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"  # FreeSWITCH's own sched_hangup
    cdr = wait_cdr(session, call.uuid)
    assert cdr.written_by == "freeswitch"
    # Credit 1.00 pays 100 s; without the controller the cap is FreeSWITCH's whole-second timer. On the
    # stand-in's scaled clock a tenth of a real second of scheduling delay is one more call-second.
    slack = 0 if rig.scale == 1 else 1
    assert 100 <= cdr.billsec <= 102 + slack
    assert cdr.cost == D("0.01") * cdr.billsec
    assert debits(session, call.uuid) == 1


def test_media_node_that_vanishes_has_its_calls_closed_and_billed(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    time.sleep(20 / rig.scale)
    uuid = call.uuid  # while the node can still be asked
    rig.fs.stop_node()
    lost_at = time.time()
    cdr = wait_cdr(session, uuid, timeout=200 / rig.scale)
    closed_after = (time.time() - lost_at) * rig.scale  # call-seconds
    assert cdr.written_by == "sync" and "lost" in cdr.reason
    # Bound: node_lost_after (10 call-s) + two sync intervals (5 call-s each) = 20 call-s, and some slack.
    assert closed_after < 40
    # Billed for the usage known: answer to the last time a sync saw the call alive.
    assert 5 <= cdr.billsec <= 21
    assert cdr.cost == D("0.01") * cdr.billsec
    assert debits(session, uuid) == 1


@pytest.mark.rig(cdr_blackhole=True)
def test_late_hangup_complete_the_controller_records_freeswitchs_own_times(rig, world, session) -> None:
    """Seen on a real node: its CDR POSTs hung (400s then, a hung portal here), so CS_REPORTING and with it
    CHANNEL_HANGUP_COMPLETE came long after the linger notice. The controller recorded billsec as the time
    it had waited (10 s for a 5 s call) and no timestamps. It must record FreeSWITCH's own figures."""
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=37))
    call = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    cdr = wait_cdr(session, call.uuid, timeout=20 + 50 / rig.scale)
    assert cdr.written_by == "controller"
    assert call.wait_done(60)  # the node reports once its tries time out
    v = call.final_vars
    assert cdr.billsec == int(v["billsec"]) == call.billsec
    assert cdr.duration == int(v["duration"])
    epoch = lambda name: int(v[name])  # noqa: E731
    assert [int(t.replace(tzinfo=dt.UTC).timestamp()) for t in (cdr.start_at, cdr.answer_at, cdr.end_at)] == \
        [epoch("start_epoch"), epoch("answer_epoch"), epoch("end_epoch")]
    assert cdr.cost == D("0.01") * cdr.billsec  # Germany 0.60/min, 1 s blocks
    session.expire_all()
    assert debits(session, call.uuid) == 1
    assert balance(session, world.tenant_id) == D("1.00") - cdr.cost


@pytest.mark.rig(cdr_capture_only=True)
def test_the_controllers_record_is_the_one_freeswitchs_own_cdr_makes(rig, world, session) -> None:
    """Two paths lead to a call's CDR; whichever arrives first is the one kept, so they must agree field
    by field. Here the receiver keeps FreeSWITCH's document without writing: the controller's record is
    written, then set beside the record the push would have made from the node's own document."""
    from controlplane.models import SipAccount

    # Every character FreeSWITCH's uuid_setvar_multi parser would eat: paired quotes, backslash escapes,
    # the separator, trailing blanks (switch_utils.c cleanup_separated_string).
    name = "O'Brien's \\n 'Bar'; No.1  "
    session.get(SipAccount, world.account_id).caller_id_name = name
    session.commit()
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.reject(503))
    rig.fs.far_ends.add("127.0.0.1:5072", FarEnd.answer(after=0.5, hangup_after=17))
    call = rig.fs.place_call(CallSpec(destination="+442071234567", sip_headers=headers(world)))
    assert call.wait_done(30)
    row = wait_cdr(session, call.uuid)
    assert row.written_by == "controller"
    document = rig.web.cdr_document(call.uuid)
    variables = {k: unquote(str(v)) for k, v in document["variables"].items()}
    pushed, _, _ = record_from_variables(variables, "freeswitch", document.get("switchname"))
    fields = [f.name for f in dataclasses.fields(CallRecord) if f.name not in ("written_by",)]
    mine = {name: getattr(row, name) for name in fields}
    theirs = {name: getattr(pushed, name) for name in fields}
    differ = {name: (mine[name], theirs[name]) for name in fields if mine[name] != theirs[name]}
    assert not differ, differ
    assert row.billsec == int(variables["billsec"]) and row.disposition == "ANSWERED"
    assert [a["trunk"] for a in row.attempts] == ["carrier-a", "carrier-b"]
    assert row.caller_id_name == name  # through uuid_setvar_multi and the node's own CDR, unchanged


def test_node_restarting_mid_call_its_call_is_billed_and_the_next_call_goes_through(rig, world, session) -> None:
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5))
    first = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    time.sleep(20 / rig.scale)
    uuid = first.uuid
    rig.fs.restart_node()  # the process dies with its calls and comes back empty
    lost = wait_cdr(session, uuid, timeout=200 / rig.scale)
    assert lost.written_by == "sync" and 5 <= lost.billsec <= 21 and lost.cost == D("0.01") * lost.billsec
    rig.fs.far_ends.add("127.0.0.1:5071", FarEnd.answer(after=0.5, hangup_after=7))
    second = rig.fs.place_call(CallSpec(destination="+49891234567", sip_headers=headers(world)))
    assert second.wait_done(30)
    cdr = wait_cdr(session, second.uuid)
    assert (cdr.disposition, cdr.written_by) == ("ANSWERED", "freeswitch") and cdr.billsec in (7, 8)
    assert debits(session, uuid) == 1 and debits(session, second.uuid) == 1
    assert balance(session, world.tenant_id) == D("1.00") - lost.cost - cdr.cost
