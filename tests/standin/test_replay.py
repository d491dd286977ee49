"""Replay the ESL application's script of each reference transcript against the stand-in and compare.

Checked: the sequence of message kinds (reply texts, event names, notices) and, for each event, the
header names in order. The linger notice falls where the recording has it (README facts 13/14): the
stand-in is told which of its LINGER_NOTICE points that was.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from esl_client import EslApp

from controlplane.testing.fs_standin import CallSpec, FarEnd, FreeSwitchStandIn
from controlplane.testing.fs_standin.transcripts import parse_transcript

REF = Path("/work/shared/freeswitch-reference")
SCALE = 8.0

# scenario -> (file, far ends {match: FarEnd}, caller hangs up after answer)
ACK_BEFORE_BRIDGE = {"c", "e1"}  # the ACK/BRIDGE race went this way in these recordings
SCENARIOS = {
    "a": ("a_answer_playback_hangup.txt", {}, None),
    "b": ("b_bridge_answered_farend_hangs_up.txt", {"5071": FarEnd.answer(0.5, 3)}, None),
    "c": ("c_bridge_failover_503_then_answer.txt", {"5071": FarEnd.answer(0.5, 3), "5072": FarEnd.reject(503)}, None),
    "d1": ("d1_bridge_486_busy_no_continue_on_fail.txt", {"5073": FarEnd.reject(486)}, None),
    "d2": ("d2_bridge_no_answer_call_timeout.txt", {"5073": FarEnd.ring_forever()}, None),
    "d3": ("d3_bridge_486_busy_continue_on_fail.txt", {"5073": FarEnd.reject(486)}, None),
    "d4": ("d4_bridge_no_answer_leg_timeout.txt", {"5073": FarEnd.ring_forever()}, None),
    "e1": ("e1_caller_hangs_up_during_bridge.txt", {"5071": FarEnd.answer(0.5)}, 3.0),
    "e2": ("e2_caller_hangs_up_during_playback.txt", {}, 2.0),
    "f1": ("f1_sched_hangup_app.txt", {}, None),
    "f2": ("f2_sched_hangup_execute_on_answer.txt", {"5071": FarEnd.answer(0.5)}, None),
    "f3": ("f3_api_bgapi_sched_hangup_api.txt", {"5071": FarEnd.answer(0.5)}, None),
    "h": ("h_uuid_kill_from_inbound_esl_outbound_side.txt", {"5071": FarEnd.answer(0.5)}, None),
    "i1": ("i1_events_myevents.txt", {"5071": FarEnd.answer(0.5, 2)}, None),
    "k": ("k_no_linger.txt", {}, None),
    "l": ("l_errors_and_edge_replies.txt", {}, None),
}

ORDER_FLEX: set[str] = set()


def linger_point(ref) -> str:
    """The stand-in's LINGER_NOTICE point for where the recording's linger notice fell."""
    before = None
    for m in ref.messages:
        if m.direction != "<<":
            continue
        if m.kind == "notice:linger":
            break
        if m.content_type == "text/event-plain":
            before = m.event_name if m.event_name != "CHANNEL_STATE" else dict(m.event_headers).get("Channel-State")
    return {"CHANNEL_HANGUP": "after_hangup", "CS_HANGUP": "after_cs_hangup"}.get(before, "after_hangup_complete")


def _kind(m) -> str:
    k = m.kind
    if k == "reply":
        text = m.header("Reply-Text") if hasattr(m, "header") else m.h.get("Reply-Text")
        return "reply:" + _norm(text or "")
    return k


def _norm(text: str) -> str:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    return text


def _api_kind(m) -> str:
    body = m.body.decode(errors="replace")
    return "api:" + _norm(body)


def ref_kind(m) -> str:
    if m.content_type == "api/response":
        return _api_kind(m)
    return _kind(m)


def got_kind(m) -> str:
    if m.content_type == "api/response":
        return _api_kind(m)
    return _kind(m)


def inbound_kill(port: int, uuid: str) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")

    def read_msg() -> bytes:
        data = b""
        while True:
            line = f.readline()
            if line in (b"\n", b""):
                break
            data += line
        m = re.search(rb"Content-Length: (\d+)", data)
        if m:
            data += f.read(int(m.group(1)))
        return data

    assert b"auth/request" in read_msg()
    s.sendall(b"auth ClueCon\n\n")
    assert b"+OK accepted" in read_msg()
    s.sendall(b"api show calls count\n\n")
    assert b"1 total." in read_msg()
    s.sendall(f"api uuid_kill {uuid}\n\n".encode())
    assert read_msg().endswith(b"+OK\n")
    s.sendall(b"exit\n\n")
    read_msg()
    s.close()


def run_scenario(name: str):
    fname, far_ends, caller_bye = SCENARIOS[name]
    ref = parse_transcript(REF / fname)
    ref_uuid = None
    for m in ref.messages:
        if m.direction == "<<" and m.kind == "reply" and m.header("Event-Name") == "CHANNEL_DATA":
            ref_uuid = m.header("Unique-ID")
            break
    app = EslApp()
    fs = FreeSwitchStandIn(controller=app.addr, time_scale=SCALE, linger_notice=linger_point(ref)).start()
    for k, fe in far_ends.items():
        fs.far_ends.add(k, fe)
    call = fs.place_call(CallSpec(destination="+4930555001", caller_hangs_up_after=caller_bye,
                                  ack_before_bridge=name in ACK_BEFORE_BRIDGE,
                                  sip_headers={"X-CP-Account": "42", "X-CP-Tenant": "7", "X-CP-Auth": "digest"}))
    app.accept()
    got_kinds: list[str] = []
    counts: dict[str, int] = {}

    def consume_until(kind: str, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while counts.get(kind, 0) < n:
            m = app.next(max(0.01, deadline - time.monotonic()))
            if m is None:
                raise EOFError(f"closed while waiting for {kind} #{n}; got {got_kinds}")
            k = got_kind(m)
            got_kinds.append(k)
            counts[k] = counts.get(k, 0) + 1
            if name == "h" and k == "event:CHANNEL_BRIDGE":
                threading.Timer(2.0 / SCALE, inbound_kill, args=(fs.inbound_port, call.uuid)).start()

    ref_counts: dict[str, int] = {}
    last_kind = None
    for m in ref.messages:
        if m.direction == "<<":
            last_kind = ref_kind(m)
            ref_counts[last_kind] = ref_counts.get(last_kind, 0) + 1
            continue
        if last_kind is not None:  # everything the reference received before this command
            for k, n in ref_counts.items():
                consume_until(k, n)
        raw = m.raw.decode()
        if ref_uuid:
            raw = raw.replace(ref_uuid, call.uuid)
        app.send(raw)
    # drain until the stand-in closes
    while True:
        try:
            m = app.next(15)
        except queue.Empty:
            break
        if m is None:
            break
        got_kinds.append(got_kind(m))
    call.wait_done(10)
    fs.stop()
    app.close()
    return ref, [ref_kind(m) for m in ref.messages if m.direction == "<<"], got_kinds, app.received, call


def _strip(kinds: list[str]) -> list[str]:
    return [k for k in kinds if k not in ORDER_FLEX]


def _names(headers) -> tuple[list[str], list[str]]:
    names = [k for k, _ in headers]
    return [k for k in names if not k.startswith("variable_")], [k for k in names if k.startswith("variable_")]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_replay(name: str) -> None:
    if not (REF / SCENARIOS[name][0]).exists():
        pytest.skip("reference transcripts not available")
    ref, ref_kinds, got_kinds, received, _call = run_scenario(name)
    assert _strip(got_kinds) == _strip(ref_kinds)
    assert [k for k in got_kinds if k in ORDER_FLEX] == [k for k in ref_kinds if k in ORDER_FLEX]
    ref_events = [m for m in ref.messages if m.direction == "<<" and m.content_type == "text/event-plain"]
    got_events = [m for m in received if m.content_type == "text/event-plain"]
    assert len(ref_events) == len(got_events)
    for r, g in zip(ref_events, got_events, strict=True):
        rn, rv = _names(r.event_headers)
        gn, gv = _names(g.event)
        ctx = f"{name} {r.event_name} (ref line {r.line})"
        assert gn == rn, ctx
        assert set(gv) == set(rv), f"{ctx}: missing {sorted(set(rv) - set(gv))} extra {sorted(set(gv) - set(rv))}"
        assert gv == rv, f"{ctx}: variable order differs"
