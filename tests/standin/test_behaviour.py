"""Stand-in behaviour beyond the replays: time scale, failover, refusals, inbound ESL, CDR, node death."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

from esl_client import EslApp

from fs_standin import CallSpec, FarEnd, FreeSwitchStandIn
from fs_standin.farend import sip_cause_to_freeswitch

SCALE = 10.0


def _start(app: EslApp, **kw) -> FreeSwitchStandIn:
    return FreeSwitchStandIn(controller=app.addr, time_scale=SCALE, **kw).start()


def _handshake(app: EslApp, linger: bool = True) -> None:
    app.accept()
    app.send("connect\n\n")
    app.next()
    app.send("myevents\n\n")
    app.next()
    if linger:
        app.send("linger\n\n")
        app.next()


def _execute(app: EslApp, name: str, arg: str | None = None) -> None:
    extra = f"execute-app-arg: {arg}\n" if arg is not None else ""
    app.send(f"sendmsg\ncall-command: execute\nexecute-app-name: {name}\n{extra}event-lock: true\n\n")


def _exit_after_linger(app: EslApp) -> None:
    app.until(lambda m: m.kind == "notice:linger", 30)
    app.send("exit\n\n")


def test_sip_cause_table() -> None:
    assert sip_cause_to_freeswitch(486) == "USER_BUSY"
    assert sip_cause_to_freeswitch(503) == "NORMAL_TEMPORARY_FAILURE"
    assert sip_cause_to_freeswitch(404) == "UNALLOCATED_NUMBER"
    assert sip_cause_to_freeswitch(480) == "NO_USER_RESPONSE"
    assert sip_cause_to_freeswitch(408) == "RECOVERY_ON_TIMER_EXPIRE"
    assert sip_cause_to_freeswitch(403) == "CALL_REJECTED"
    assert sip_cause_to_freeswitch(500) == "NORMAL_TEMPORARY_FAILURE"


def test_gateway_failover_billsec_in_simulated_seconds() -> None:
    app = EslApp()
    fs = _start(app)
    fs.far_ends.add("gw-carrier-a", FarEnd.reject(503))
    fs.far_ends.add("gw-carrier-b", FarEnd.answer(after=0.5, hangup_after=6))
    call = fs.place_call(CallSpec(sip_headers={"X-CP-Account": "42"}))
    _handshake(app)
    t0 = time.monotonic()
    _execute(app, "set", "hangup_after_bridge=true")
    _execute(app, "bridge", "{call_timeout=20}sofia/gateway/gw-carrier-a/+4930999|sofia/gateway/gw-carrier-b/+4930999")
    _exit_after_linger(app)
    call.wait_done(20)
    assert time.monotonic() - t0 < 3  # 6.5 simulated seconds ran 10x faster
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.billsec in (6, 7)
    assert [(a.outcome, a.cause) for a in call.attempts] == [("rejected", "NORMAL_TEMPORARY_FAILURE"),
                                                            ("answered", "NORMAL_CLEARING")]
    assert call.final_vars["last_bridge_hangup_cause"] == "NORMAL_CLEARING"
    fs.stop()


def test_busy_refuses_caller_with_486() -> None:
    app = EslApp()
    fs = _start(app)
    fs.far_ends.add("busy", FarEnd.reject(486))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "bridge", "sofia/gateway/busy/123")
    _exit_after_linger(app)
    call.wait_done(10)
    assert call.hangup_cause == "USER_BUSY"
    assert call.sip_response_to_caller == 486
    assert call.final_vars["DIALSTATUS"] == "BUSY"
    assert call.final_vars["sip_hangup_disposition"] == "send_refuse"
    fs.stop()


def test_respond_402() -> None:
    app = EslApp()
    fs = _start(app)
    call = fs.place_call()
    _handshake(app)
    _execute(app, "respond", "402 Payment Required")
    _exit_after_linger(app)
    call.wait_done(10)
    assert call.sip_response_to_caller == 402
    assert call.hangup_cause == "CALL_REJECTED"
    fs.stop()


def test_sched_hangup_whole_seconds_and_caller_never_hangs_up() -> None:
    app = EslApp()
    fs = _start(app)
    fs.far_ends.add("5071", FarEnd.answer(after=0.5))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "set", "execute_on_answer=sched_hangup +3 ALLOTTED_TIMEOUT")
    _execute(app, "bridge", "sofia/external/+4930999001@127.0.0.1:5071")
    _exit_after_linger(app)
    call.wait_done(10)
    assert call.hangup_cause == "ALLOTTED_TIMEOUT"
    assert 2 <= call.billsec <= 3
    fs.stop()


def test_socket_death_parked_vs_bridged() -> None:
    app = EslApp()
    fs = _start(app)
    call = fs.place_call()
    _handshake(app)
    _execute(app, "answer")
    app.until(lambda m: m.kind == "event:CHANNEL_EXECUTE_COMPLETE")
    app.close()  # parked: hung up at once (fact 28)
    call.wait_done(5)
    assert call.hangup_cause == "NORMAL_CLEARING"

    app2 = EslApp()
    fs.controller = app2.addr
    fs.far_ends.add("5071", FarEnd.answer(after=0.5, hangup_after=5))
    call2 = fs.place_call()
    _handshake(app2)
    _execute(app2, "bridge", "sofia/external/+4930999001@127.0.0.1:5071")
    app2.until(lambda m: m.kind == "event:CHANNEL_BRIDGE")
    app2.close()  # bridged: continues until the far end hangs up
    time.sleep(2 / SCALE)
    assert not call2.done.is_set()
    call2.wait_done(5)
    assert call2.billsec >= 4
    fs.stop()


def _inbound(port: int) -> tuple[socket.socket, object]:
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    return s, f


def _read(f) -> bytes:
    data = b""
    while True:
        line = f.readline()
        if line in (b"\n", b""):
            break
        data += line
    for ln in data.split(b"\n"):
        if ln.startswith(b"Content-Length: "):
            data += b"\n" + f.read(int(ln.split(b": ")[1]))
    return data


def test_inbound_uuid_kill_and_show_channels() -> None:
    app = EslApp()
    fs = _start(app)
    fs.far_ends.add("5071", FarEnd.answer(after=0.5))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "bridge", "sofia/external/+4930999001@127.0.0.1:5071")
    app.until(lambda m: m.kind == "event:CHANNEL_BRIDGE")
    s, f = _inbound(fs.inbound_port)
    assert b"auth/request" in _read(f)
    s.sendall(b"auth wrong\n\n")
    assert b"-ERR invalid" in _read(f)
    s.close()
    s, f = _inbound(fs.inbound_port)
    _read(f)
    s.sendall(b"auth ClueCon\n\n")
    assert b"+OK accepted" in _read(f)
    s.sendall(b"api show channels as json\n\n")
    doc = json.loads(_read(f).split(b"\n\n", 1)[1])
    assert doc["row_count"] == 1 and doc["rows"][0]["uuid"] == call.uuid
    s.sendall(f"api uuid_kill {call.uuid}\n\n".encode())
    assert _read(f).endswith(b"+OK\n")
    s.sendall(b"exit\n\n")
    assert b"+OK bye" in _read(f)
    notice = _read(f)
    assert b"Controlled-Session-UUID" not in notice and b"Disconnected, goodbye." in notice
    _exit_after_linger(app)
    call.wait_done(10)
    names = call.event_names_seen
    assert names.index("CHANNEL_HANGUP") < names.index("CHANNEL_UNBRIDGE")
    fs.stop()


def test_json_cdr_b_leg_first() -> None:
    posts: list[tuple[str, dict, dict]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *a) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    app = EslApp()
    fs = _start(app, cdr_url=f"http://127.0.0.1:{srv.server_address[1]}/cdr")
    fs.far_ends.add("5071", FarEnd.answer(after=0.5, hangup_after=3))
    call = fs.place_call(CallSpec(sip_headers={"X-CP-Account": "42"}))
    _handshake(app)
    _execute(app, "bridge", "sofia/external/+4930999001@127.0.0.1:5071")
    app.until(lambda m: m.kind == "event:CHANNEL_EXECUTE_COMPLETE")
    app.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n")
    _exit_after_linger(app)
    call.wait_done(10)
    srv.shutdown()
    assert len(posts) == 2
    assert posts[0][0] == f"/cdr?uuid={call.attempts[0].uuid}"
    assert posts[1][0] == f"/cdr?uuid={call.uuid}"
    assert posts[1][1]["User-Agent"] == "freeswitch-json/1.0"
    v = posts[1][2]["variables"]
    assert v["sip_h_X-CP-Account"] == "42" and v["billsec"] == str(call.billsec)
    assert v["sip_from_user"] == "%2B4930111222"
    fs.stop()


def test_cdr_receiver_down_writes_error_file(tmp_path) -> None:
    app = EslApp()
    fs = _start(app, cdr_url="http://127.0.0.1:9/cdr", cdr_error_dir=str(tmp_path))
    call = fs.place_call()
    _handshake(app)
    _execute(app, "answer")
    app.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n")
    _exit_after_linger(app)
    call.wait_done(10)
    assert (tmp_path / f"{call.uuid}.cdr.json").exists()
    fs.stop()


def test_stop_node_and_restart() -> None:
    app = EslApp()
    fs = _start(app)
    call = fs.place_call()
    _handshake(app)
    port = fs.inbound_port
    fs.stop_node()
    assert call.done.is_set()
    assert app.next(5) is None  # socket closed
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused
    fs.restart_node()
    assert fs.inbound_port == port and not fs.channels
    fs.stop()
