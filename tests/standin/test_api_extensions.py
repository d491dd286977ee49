"""api commands the controller needs beyond the recorded transcripts: sched_del, uuid_broadcast,
uuid_setvar, uuid_setvar_multi; set/export reaching the JSON CDR. Reply texts follow mod_commands.c."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from esl_client import EslApp

from fs_standin import CallSpec, FarEnd, FreeSwitchStandIn

SCALE = 10.0
FAR = "sofia/external/+4930999001@127.0.0.1:5071"
TONE = "tone_stream://%(500,500,800);loops=1"  # 1 simulated second


class CdrSink:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/cdr"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def doc(self, uuid: str) -> dict:
        return next(d for p, d in self.posts if p.endswith(f"uuid={uuid}"))


@pytest.fixture
def env() -> Iterator[tuple[EslApp, FreeSwitchStandIn, CdrSink]]:
    app = EslApp()
    sink = CdrSink()
    fs = FreeSwitchStandIn(controller=app.addr, time_scale=SCALE, cdr_url=sink.url).start()
    yield app, fs, sink
    fs.stop()
    sink.srv.shutdown()
    app.close()


def _handshake(app: EslApp) -> None:
    app.accept()
    for cmd in ("connect", "myevents", "linger"):
        app.send(f"{cmd}\n\n")
        app.next()


def _execute(app: EslApp, name: str, arg: str) -> None:
    app.send(f"sendmsg\ncall-command: execute\nexecute-app-name: {name}\nexecute-app-arg: {arg}\nevent-lock: true\n\n")


def _api(app: EslApp, line: str) -> str:
    app.send(f"api {line}\n\n")
    return app.until(lambda m: m.content_type == "api/response").body.decode()


def _hangup_and_exit(app: EslApp, uuid: str | None = None) -> None:
    """Hang up with uuid_kill while bridged (a sendmsg hangup waits behind the event-locked bridge)."""
    if uuid:
        app.send(f"api uuid_kill {uuid}\n\n")
    else:
        app.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n")
    # exit only once HANGUP_COMPLETE is in too: the linger notice may come first (before the CDR POST), and
    # after exit nothing more is delivered
    seen: set[str] = set()
    app.until(lambda m: bool(seen.add(m.kind)) or {"notice:linger", "event:CHANNEL_HANGUP_COMPLETE"} <= seen, 30)
    app.send("exit\n\n")


def _bridged_call(app: EslApp, fs: FreeSwitchStandIn, hangup_after: float | None = None):
    fs.far_ends.add("5071", FarEnd.answer(after=0.5, hangup_after=hangup_after))
    call = fs.place_call(CallSpec(sip_headers={"X-CP-Account": "42"}))
    _handshake(app)
    _execute(app, "bridge", FAR)
    app.until(lambda m: m.kind == "event:CHANNEL_BRIDGE")
    return call


# --------------------------------------------------------------------------------------------- sched_del
def test_sched_del_by_uuid_removes_every_scheduled_hangup_of_the_channel(env) -> None:
    app, fs, _ = env
    call = _bridged_call(app, fs, hangup_after=6)
    assert _api(app, f"sched_hangup +2 {call.uuid} ALLOTTED_TIMEOUT") == "+OK\n"
    assert _api(app, f"sched_hangup +3 {call.uuid} ALLOTTED_TIMEOUT") == "+OK\n"
    assert len(fs.scheduled_tasks(call.uuid)) == 2
    assert _api(app, f"sched_del {call.uuid}") == "+OK Deleted: 2\n"
    assert _api(app, f"sched_del {call.uuid}") == "+OK Deleted: 0\n"  # no -ERR for nothing deleted
    app.until(lambda m: m.kind == "event:CHANNEL_UNBRIDGE", 10)  # the far end's BYE at 6 s, not a cut at 2-3 s
    _hangup_and_exit(app)
    call.wait_done(10)
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.billsec >= 5


def test_sched_del_removes_execute_on_answer_cap_and_task_ids(env) -> None:
    app, fs, _ = env
    fs.far_ends.add("5071", FarEnd.answer(after=0.5, hangup_after=5))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "set", "execute_on_answer=sched_hangup +2 ALLOTTED_TIMEOUT")
    _execute(app, "bridge", FAR)
    app.until(lambda m: m.kind == "event:CHANNEL_BRIDGE")
    ids = fs.scheduled_tasks(call.uuid)
    assert len(ids) == 1
    assert _api(app, "sched_del 999999") == "+OK Deleted: 0\n"
    assert _api(app, f"sched_del {ids[0]}") == "+OK Deleted: 1\n"  # a digit string is a task id
    assert _api(app, "sched_del") == "-ERR Invalid syntax\n"
    app.until(lambda m: m.kind == "event:CHANNEL_UNBRIDGE", 10)
    _hangup_and_exit(app)
    call.wait_done(10)
    assert call.hangup_cause == "NORMAL_CLEARING" and call.billsec >= 4


def test_sched_hangup_still_fires_when_not_deleted_and_leaves_no_task(env) -> None:
    app, fs, _ = env
    call = _bridged_call(app, fs)
    assert _api(app, f"sched_hangup +2 {call.uuid} ALLOTTED_TIMEOUT") == "+OK\n"
    app.until(lambda m: m.kind == "notice:linger", 10)
    app.send("exit\n\n")
    call.wait_done(10)
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"
    assert fs.scheduled_tasks(call.uuid) == []


# --------------------------------------------------------------------------------------------- uuid_broadcast
def test_uuid_broadcast_plays_on_the_a_leg_while_bridged(env) -> None:
    app, fs, _ = env
    call = _bridged_call(app, fs)
    assert _api(app, f"uuid_broadcast {call.uuid} {TONE} aleg") == "+OK Message Sent\n"
    ex = app.until(lambda m: m.kind == "event:CHANNEL_EXECUTE")
    assert dict(ex.event)["Application"] == "playback"
    done = app.until(lambda m: m.kind == "event:CHANNEL_EXECUTE_COMPLETE")
    assert dict(done.event)["Application-Response"] == "FILE%20PLAYED"
    assert call.bridged  # the bridge goes on
    assert [(b.path, b.legs, b.on_a_leg, b.response) for b in call.broadcasts] == [(TONE, "aleg", True, "FILE PLAYED")]
    _hangup_and_exit(app, call.uuid)
    call.wait_done(10)


def test_uuid_broadcast_replies_like_freeswitch(env) -> None:
    app, fs, _ = env
    call = _bridged_call(app, fs)
    assert _api(app, "uuid_broadcast 00000000-0000-0000-0000-000000000000 x.wav") == "+OK Message Sent\n"
    assert _api(app, f"uuid_broadcast {call.uuid}") == "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    assert _api(app, f"uuid_broadcast {call.uuid} /tmp/warn.wav bleg") == "+OK Message Sent\n"
    assert [(b.legs, b.on_a_leg) for b in call.broadcasts] == [("bleg", False)]
    _hangup_and_exit(app, call.uuid)
    call.wait_done(10)
    assert "playback" not in [e[2].get("Application") for e in call.events]


# --------------------------------------------------------------------------------------------- uuid_setvar
def test_uuid_setvar_shows_in_later_events_and_the_cdr(env) -> None:
    app, fs, sink = env
    call = _bridged_call(app, fs)
    assert _api(app, f"uuid_setvar {call.uuid} cp_rate 0.0125 per min") == "+OK\n"  # value = rest of the line
    assert _api(app, f"uuid_setvar_multi {call.uuid} cp_call=abc;cp_blocks=3;cp_unset") == "+OK\n"
    assert _api(app, f"uuid_getvar {call.uuid} cp_rate") == "0.0125 per min"
    assert _api(app, f"uuid_setvar {call.uuid} cp_call") == "+OK\n"  # no value: unset
    assert _api(app, f"uuid_getvar {call.uuid} cp_call") == "_undef_"
    assert _api(app, "uuid_setvar 00000000-0000-0000-0000-000000000000 a 1") == "-ERR No such channel!\n"
    assert _api(app, f"uuid_setvar {call.uuid}") == "-USAGE: <uuid> <var> [value]\n"
    assert _api(app, "uuid_setvar_multi nope a=1").startswith("-ERR No such channel!\n")
    _hangup_and_exit(app, call.uuid)
    call.wait_done(10)
    ev = dict(next(m for m in app.received if m.kind == "event:CHANNEL_HANGUP_COMPLETE").event)
    assert ev["variable_cp_rate"] == "0.0125%20per%20min" and ev["variable_cp_blocks"] == "3"
    assert "variable_cp_call" not in ev
    v = sink.doc(call.uuid)["variables"]
    assert v["cp_rate"] == "0.0125%20per%20min" and v["cp_blocks"] == "3" and "cp_call" not in v


def test_set_and_export_reach_the_json_cdr(env) -> None:
    app, fs, sink = env
    fs.far_ends.add("5071", FarEnd.answer(after=0.5, hangup_after=2))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "set", "cp_account=42")
    _execute(app, "export", "cp_tenant=7")
    _execute(app, "export", "nolocal:cp_trunk=carrier-a")
    _execute(app, "bridge", FAR)
    app.until(lambda m: m.kind == "event:CHANNEL_UNBRIDGE", 10)
    _hangup_and_exit(app)
    call.wait_done(10)
    a = sink.doc(call.uuid)["variables"]
    assert a["cp_account"] == "42" and a["cp_tenant"] == "7"
    assert "cp_trunk" not in a
    assert a["export_vars"] == "RFC2822_DATE,cp_tenant,nolocal%3Acp_trunk"
    b = sink.doc(call.attempts[0].uuid)["variables"]
    assert b["cp_tenant"] == "7" and b["cp_trunk"] == "carrier-a" and "cp_account" not in b


# --------------------------------------------------------------------------------------------- inbound server
def _inbound_api(port: int, password: str, lines: list[str]) -> list[str]:
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")

    def read() -> tuple[dict[str, str], bytes]:
        hdrs: dict[str, str] = {}
        while (line := f.readline()) not in (b"\n", b""):
            k, _, v = line.decode().rstrip("\n").partition(": ")
            hdrs[k] = v
        body = f.read(int(hdrs["Content-Length"])) if "Content-Length" in hdrs else b""
        return hdrs, body

    read()
    s.sendall(f"auth {password}\n\n".encode())
    read()
    out = []
    for line in lines:
        s.sendall(f"api {line}\n\n".encode())
        out.append(read()[1].decode())
    s.close()
    return out


def test_the_same_commands_on_the_inbound_server(env) -> None:
    app, fs, _ = env
    call = _bridged_call(app, fs, hangup_after=6)
    replies = _inbound_api(fs.inbound_port, fs.password, [
        f"sched_hangup +2 {call.uuid}", f"sched_del {call.uuid}", f"uuid_setvar {call.uuid} cp_x 1",
        f"uuid_setvar_multi {call.uuid} cp_y=2;cp_z=3", f"uuid_broadcast {call.uuid} {TONE}",
    ])
    assert replies == ["+OK\n", "+OK Deleted: 1\n", "+OK\n", "+OK\n", "+OK Message Sent\n"]
    assert call.broadcasts[0].legs == "aleg" and call.broadcasts[0].on_a_leg
    time.sleep(3.5 / SCALE)
    assert not call.hungup  # the scheduled cut was deleted
    _hangup_and_exit(app, call.uuid)
    call.wait_done(10)
    assert call.final_vars["cp_x"] == "1" and call.final_vars["cp_z"] == "3"
