"""One simulated inbound call: the A-leg channel, its application thread and its outbound ESL session.

The application thread plays the role of the FreeSWITCH session thread running ``socket ... async full``:
apps queued by ``sendmsg`` run one at a time, and the events it emits follow the transcripts' order.
"""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import wire
from .channel import Channel, Profile, initial_vars, new_uuid
from .dialstring import Leg, parse_dial_string
from .farend import SIP_PHRASES, dialstatus, sip_cause_to_freeswitch

if TYPE_CHECKING:  # pragma: no cover
    from .node import FreeSwitchStandIn

# Which SIP final response the caller gets when FreeSWITCH hangs up an unanswered call.
CAUSE_TO_SIP = {
    "UNALLOCATED_NUMBER": 404, "NO_ROUTE_DESTINATION": 404, "USER_BUSY": 486, "NO_USER_RESPONSE": 408,
    "NO_ANSWER": 480, "CALL_REJECTED": 603, "NORMAL_TEMPORARY_FAILURE": 503, "DESTINATION_OUT_OF_ORDER": 502,
    "INVALID_NUMBER_FORMAT": 484, "RECOVERY_ON_TIMER_EXPIRE": 504, "ORIGINATOR_CANCEL": 487,
    "NETWORK_OUT_OF_ORDER": 502, "SERVICE_UNAVAILABLE": 503, "INCOMPATIBLE_DESTINATION": 488,
    "EXCHANGE_ROUTING_ERROR": 483, "SERVICE_NOT_IMPLEMENTED": 501, "NUMBER_CHANGED": 410,
}

CHANNEL_EVENTS = {
    "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_UNPARK",
    "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE",
}


@dataclass
class CallSpec:
    """The SIP caller. caller_hangs_up_after: caller sends BYE this many seconds after being answered."""

    caller_number: str = "+4930111222"
    caller_name: str = "Alice"
    destination: str = "+4930555001"
    sip_headers: dict[str, str] = field(default_factory=dict)
    caller_hangs_up_after: float | None = None
    # The caller's ACK races with CHANNEL_BRIDGE in reality (c:1340 before it, b:984 after it).
    ack_before_bridge: bool = False
    caller_host: str = "127.0.0.1"
    caller_port: int = 5070


@dataclass
class Attempt:
    """One far end tried by a bridge."""

    endpoint: str
    uuid: str
    outcome: str = "pending"  # answered / rejected / timeout / cancelled
    sip_code: int | None = None
    cause: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None


@dataclass
class Broadcast:
    """One ``uuid_broadcast`` to this call (``at`` in simulated seconds; ``response`` once it ended on A)."""

    path: str
    legs: str
    at: float
    on_a_leg: bool
    response: str | None = None
    played_ms: int | None = None


class _Hangup(Exception):
    pass


class Call:
    def __init__(self, node: FreeSwitchStandIn, spec: CallSpec) -> None:
        self.node = node
        self.spec = spec
        self.clock = node.clock
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.uuid = new_uuid()
        now = self.clock.now()
        self.t_start = now
        host, port = node.controller
        self.socket_arg = f"{host}:{port} async full"
        chan_name = f"sofia/internal/{spec.caller_number}@{spec.caller_host}:{spec.caller_port}"
        prof = Profile("inbound", "inbound", spec.caller_number, spec.caller_name, spec.caller_number,
                       spec.caller_host, spec.destination, self.uuid, chan_name, now)
        self.chan = Channel(node.info, prof, self.socket_arg)
        self.chan.init_vars(initial_vars(self.uuid, node.next_session_id(), spec.caller_number, spec.caller_name,
                                         spec.destination, spec.sip_headers, host, self.socket_arg, now,
                                         spec.caller_host, spec.caller_port))
        self.times: dict[str, float | None] = {"start": now, "answer": None, "bridge": None, "progress": None,
                                               "progress_media": None, "end": None}
        self.queue: deque[dict[str, str]] = deque()
        self.hungup = False
        self.caller_bye = False
        self.bridged = False
        self.b_hangup = False
        self.current_app: str | None = None
        self.last_app: tuple[str, str | None] | None = None
        self.attempts: list[Attempt] = []
        self.broadcasts: list[Broadcast] = []
        self.app_log: list[tuple[str, str | None]] = []
        self.events: list[tuple[float, str, dict[str, str]]] = []
        self.transcript: list[str] = []
        self.sip_response_to_caller: int | None = None
        self.hangup_cause: str | None = None
        self.billsec: int | None = None
        self.duration: int | None = None
        self.final_vars: dict[str, str] = {}
        self.done = threading.Event()
        self.vanished = False
        # outbound session state
        self.sock: socket.socket | None = None
        self.send_lock = threading.Lock()
        self.connected = False
        self.session_dead = False
        self.exited = False
        self.myevents = False
        self.event_names: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.linger: int | None = None  # None = no linger; -1 forever; N seconds
        self.linger_notified = False
        self.channel_destroyed = False

    # ----------------------------------------------------------------------------- public inspection
    def wait_done(self, timeout: float = 30.0) -> bool:
        """Wait (real seconds) until the call is over and its ESL session closed."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"call {self.uuid} not done after {timeout}s")
        return True

    @property
    def event_names_seen(self) -> list[str]:
        return [e[1] for e in self.events]

    @property
    def transcript_text(self) -> str:
        return "\n".join(self.transcript)

    # ----------------------------------------------------------------------------- wire I/O
    def _record(self, direction: str, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        with self.lock:
            for ln in lines:
                self.transcript.append(direction if ln == "" else f"{direction} {ln}")

    def send(self, data: bytes) -> None:
        with self.send_lock:
            if self.sock is None or self.session_dead:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.session_dead = True
                return
        self._record("<<", data)

    def _close_socket(self) -> None:
        with self.send_lock:
            s, self.sock = self.sock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # ----------------------------------------------------------------------------- events
    def _wants(self, name: str, headers: list[tuple[str, str]]) -> bool:
        if not self.connected or self.session_dead:
            return False
        uid = next((v for k, v in headers if k == "Unique-ID"), None)
        if self.myevents and uid is not None and uid != self.uuid:
            return False
        wanted = ("ALL" in self.event_names or name in self.event_names
                  or (self.myevents and name in CHANNEL_EVENTS))
        if not wanted:
            return False
        for fk, fv in self.filters:
            val = next((v for k, v in headers if k == fk), None)
            if val != fv:
                return False
        return True

    def emit(self, name: str, headers: list[tuple[str, str]], body: str | None = None) -> None:
        """Record an event and deliver it to the outbound session and inbound listeners."""
        key = {k: v for k, v in headers if k in ("Unique-ID", "Hangup-Cause", "Application", "Application-Data",
                                                  "Application-Response", "Channel-State", "Job-UUID")}
        with self.lock:
            self.events.append((self.clock.now(), name, key))
        data = wire.event_plain(headers, body)
        if self._wants(name, headers):
            self.send(data)
        self.node.publish(name, headers, body)

    def chan_event(self, name: str, pre: list[tuple[str, str]] | None = None,
                   tail: list[tuple[str, str]] | None = None, with_vars: bool = True) -> None:
        with self.lock:
            hdrs = self.chan.event_headers(name, self.clock.now(), pre, tail, with_vars)
        self.emit(name, hdrs)

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        threading.Thread(target=self._session_main, name=f"fs-call-{self.uuid[:8]}", daemon=True).start()

    def _session_main(self) -> None:
        try:
            self.sock = socket.create_connection(self.node.controller, timeout=5)
            self.sock.settimeout(None)
        except OSError:
            # socket app failed: FreeSWITCH hangs the call up (DESTINATION_OUT_OF_ORDER).
            self.sock = None
            self.session_dead = True
            threading.Thread(target=self._app_main, daemon=True).start()
            return
        threading.Thread(target=self._app_main, name=f"fs-app-{self.uuid[:8]}", daemon=True).start()
        reader = wire.MessageReader(self.sock)
        while True:
            try:
                msg = reader.read()
            except OSError:
                msg = None
            if msg is None:
                break
            headers, body, raw = msg
            self._record(">>", raw)
            try:
                self.node.handle_outbound_command(self, headers, body, raw)
            except Exception:  # noqa: BLE001 - a bug in the stand-in must not hang the tests
                import traceback

                traceback.print_exc()
            if self.exited:
                break
        with self.cond:
            if not self.exited:
                self.session_dead = True
            self.cond.notify_all()
        if not self.exited:
            self._close_socket()

    def after_connect(self) -> None:
        with self.cond:
            self.connected = True
            self.cond.notify_all()

    # ----------------------------------------------------------------------------- app thread
    def _app_main(self) -> None:
        try:
            with self.cond:
                while not self.connected and not self.session_dead and not self.vanished:
                    self.cond.wait(0.05)
            if self.session_dead and not self.connected:
                self.request_hangup("DESTINATION_OUT_OF_ORDER")
            while True:
                with self.cond:
                    while not self.queue and not self.hungup and not self.session_dead and not self.vanished:
                        self.cond.wait(0.5)
                    if self.vanished:
                        return
                    if self.hungup:
                        break
                    if self.queue:
                        cmd = self.queue.popleft()
                    else:  # socket gone while parked (fact 28, g2obs:1242)
                        cmd = None
                if cmd is None:
                    self.request_hangup("NORMAL_CLEARING")
                    break
                self._run_command(cmd)
                if self.hungup:
                    break
            self._finish()
        except Exception:  # noqa: BLE001 - report, then let wait_done() return
            import traceback

            traceback.print_exc()
            self.done.set()

    def _run_command(self, cmd: dict[str, str]) -> None:
        kind = cmd.get("call-command")
        if kind == "hangup":
            self.request_hangup(cmd.get("hangup-cause") or "NORMAL_CLEARING")
            return
        if kind == "execute":
            app = cmd.get("execute-app-name", "")
            arg = cmd.get("execute-app-arg")
            if arg is None and cmd.get("_body"):
                arg = cmd["_body"]
            self.execute(app, arg, cmd.get("Event-UUID"))

    def sleep_sim(self, seconds: float) -> None:
        """Sleep in simulated time; wakes early on hangup (raises _Hangup)."""
        deadline = time.monotonic() + self.clock.real(seconds)
        with self.cond:
            while not self.hungup:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)
        raise _Hangup()

    # ----------------------------------------------------------------------------- hangup
    def request_hangup(self, cause: str, caller_bye: bool = False, refuse_code: int | None = None) -> bool:
        """Hang up A: CHANNEL_HANGUP now; the app thread emits the rest (fact 10, 22)."""
        with self.cond:
            if self.hungup:
                return False
            self.hungup = True
            ch = self.chan
            v = ch.vars
            if self.bridged and self.attempts:
                b = self.attempts[-1]
                v.set("bridge_to", b.uuid)
                v.set("last_bridge_to", b.uuid)
                v.set("bridge_channel", b.endpoint)
                v.set("bridge_uuid", b.uuid)
                v.set("signal_bond", b.uuid)
                ch.ack_vars()
                v.set("last_sent_callee_id_name", "Outbound Call")
                v.set("last_sent_callee_id_number", self._leg_number(b.endpoint))
            if caller_bye:
                self.caller_bye = True
                v.set("sip_term_status", "200")
                v.set("proto_specific_hangup_cause", "sip:200")
                v.set("sip_term_cause", "16")
            if self.bridged:
                v.set("last_bridge_role", "originator")
            if self.times["answer"] is None and not caller_bye:
                code = refuse_code or CAUSE_TO_SIP.get(cause, 480)
                self.sip_response_to_caller = code
            now = self.clock.now()
            ch.hangup_cause = cause
            ch.answer_state = "hangup"
            ch.profile.hangup = now
            self.hangup_cause = cause
            self.times["end"] = now
            self.cond.notify_all()
        self.chan_event("CHANNEL_HANGUP")
        self._linger_notice_at("after_hangup")  # f1:1451, before the running app's EXECUTE_COMPLETE
        return True

    def _finish(self) -> None:
        """Unwind after hangup: UNPARK, socket's EXECUTE_COMPLETE, states, HANGUP_COMPLETE (a:1301-1759),
        with the linger notice where `node.linger_notice` puts it (node.LINGER_NOTICE)."""
        v = self.chan.vars
        with self.lock:
            v.set("current_loop", None)
            v.set("total_loops", None)
        self.chan_event("CHANNEL_UNPARK")
        resp = v.get("current_application_response") or "_none_"
        self.chan_event("CHANNEL_EXECUTE_COMPLETE", tail=[
            ("Application", "socket"), ("Application-Data", self.socket_arg),
            ("Application-Response", resp), ("Application-UUID", new_uuid())])
        with self.lock:
            self.chan.state = "CS_HANGUP"
        self.chan_event("CHANNEL_STATE", with_vars=False)
        self._linger_notice_at("after_cs_hangup")
        with self.lock:
            self.chan.state = "CS_REPORTING"
            self.chan.call_state = "HANGUP"
        self.chan_event("CHANNEL_STATE", with_vars=False)
        with self.lock:
            la = self.last_app
            self.chan.cdr_vars(self.times, la[0] if la else None, la[1] if la else None)
            self.final_vars = dict(v.items())
            self.billsec = int(v.get("billsec") or 0)
            self.duration = int(v.get("duration") or 0)
        self.node.post_cdr(self)  # mod_json_cdr posts in CS_REPORTING: HANGUP_COMPLETE waits for it (j2:1757-1765)
        cause = self.hangup_cause or "NORMAL_CLEARING"
        with self.lock:
            hdrs = self.chan.event_headers("CHANNEL_HANGUP_COMPLETE", self.clock.now(), pre=[("Hangup-Cause", cause)])
        self.emit("CHANNEL_HANGUP_COMPLETE", hdrs)
        self.node.channel_gone(self)
        self._end_session()

    def _linger_notice_at(self, point: str) -> None:
        """Send the linger notice now if this is where the node puts it (once, lingering sockets only)."""
        with self.cond:
            due = (self.node.linger_notice == point and self.linger is not None and not self.linger_notified
                   and self.sock is not None and not self.session_dead and not self.exited)
            if due:
                self.linger_notified = True
        if due:
            self.send(self._notice("linger"))

    def _end_session(self) -> None:
        with self.cond:
            self.channel_destroyed = True
            linger = self.linger
        if self.sock is None or self.session_dead or self.exited:
            self._close_socket()
            self.done.set()
            return
        if linger is None:
            self.send(self._notice("disconnect"))
            self._close_socket()
            self.done.set()
            return
        with self.cond:
            notified, self.linger_notified = self.linger_notified, True
        if not notified:
            self.send(self._notice("linger"))
        if linger >= 0:
            deadline = time.monotonic() + self.clock.real(linger)
            with self.cond:
                while not self.exited and not self.session_dead and time.monotonic() < deadline:
                    self.cond.wait(deadline - time.monotonic())
            if not self.exited:
                self.send(self._notice("disconnect"))
                self._close_socket()
        else:
            with self.cond:
                while not self.exited and not self.session_dead and not self.vanished:
                    self.cond.wait(0.5)
        self.done.set()

    def _notice(self, disposition: str) -> bytes:
        """text/disconnect-notice: linger (a:2002) or disconnect (a:2017)."""
        hdrs = [("Content-Type", "text/disconnect-notice"), ("Controlled-Session-UUID", self.uuid),
                ("Content-Disposition", disposition)]
        if disposition == "linger":
            hdrs += [("Channel-Name", self.chan.profile.channel_name), ("Linger-Time", str(self.linger)),
                     ("Content-Length", "0")]
            return wire.disconnect_notice(hdrs)
        hdrs.append(("Content-Length", str(len(wire.GOODBYE))))
        return wire.disconnect_notice(hdrs, wire.GOODBYE)

    def do_exit(self) -> None:
        self.send(wire.command_reply("+OK bye"))
        self.send(self._notice("disconnect"))
        with self.cond:
            self.exited = True
            self.cond.notify_all()
        self._close_socket()
        with self.cond:
            if not self.hungup:
                pass  # FreeSWITCH treats the socket end like a lost socket; the app thread sees it below
            self.session_dead = True
            self.cond.notify_all()

    # ----------------------------------------------------------------------------- answer / media
    def _answer(self, for_bridge: bool = False) -> None:
        ch = self.chan
        port = 16384 + (hash(self.uuid) % 16000) * 2 % 16000
        if not ch.media:
            with self.lock:
                ch.media_vars(for_bridge, port)
                now = self.clock.now()
                self.times["progress_media"] = now
                ch.profile.progress_media = now
            self.chan_event("CHANNEL_PROGRESS_MEDIA")
            with self.lock:
                ch.call_state = "EARLY"
        with self.lock:
            ch.local_sdp(port)
            now = self.clock.now()
            self.times["answer"] = now
            ch.profile.answered = now
            ch.answer_state = "answered"
        self.chan_event("CHANNEL_ANSWER")
        with self.lock:
            ch.call_state = "ACTIVE"
            ch.vars.set("endpoint_disposition", "ANSWER")
        if self.spec.caller_hangs_up_after is not None:
            self.node.schedule(self.spec.caller_hangs_up_after,
                               lambda: self.request_hangup("NORMAL_CLEARING", caller_bye=True))

    # ----------------------------------------------------------------------------- apps
    def execute(self, app: str, arg: str | None, event_uuid: str | None, on_answer: bool = False) -> None:
        known = {"answer", "set", "export", "playback", "bridge", "sched_hangup", "hangup", "respond", "sleep",
                 "pre_answer", "ring_ready", "park", "echo", "unset"}
        if app not in known:  # fact 30: no CHANNEL_EXECUTE, hangup DESTINATION_OUT_OF_ORDER (l:283)
            with self.lock:
                self.chan.vars.set("current_loop", "1")
                self.chan.vars.set("total_loops", "1")
                self.last_app = (app, arg)
            self.request_hangup("DESTINATION_OUT_OF_ORDER")
            return
        app_uuid = event_uuid or new_uuid()
        ch = self.chan
        with self.lock:
            if self.times["answer"] is not None and not on_answer:
                ch.ack_vars()
            if not on_answer:  # loops come from mod_event_socket's sendmsg, not execute_on_answer (f2:1052)
                ch.vars.set("current_loop", "1")
                ch.vars.set("total_loops", "1")
            ch.vars.set("current_application", app)
            ch.vars.set("current_application_data", arg)
            ch.vars.set("current_application_response", None)
            self.current_app = app
            self.last_app = (app, arg)
            self.app_log.append((app, arg))
        tail_exec = [("Application", app)]
        if arg is not None:
            tail_exec.append(("Application-Data", arg))
        self.chan_event("CHANNEL_EXECUTE", tail=tail_exec + [("Application-UUID", app_uuid)])
        if app != "answer":  # every app but answer re-sets it first (a:965, c:336, b:332)
            with self.lock:
                ch.vars.set("current_application", ch.vars.get("current_application"))
        response = "_none_"
        try:
            response = getattr(self, "_app_" + app)(arg or "")
        except _Hangup:
            response = ch.vars.get("current_application_response") or "_none_"
        with self.lock:
            self.current_app = None
        self.chan_event("CHANNEL_EXECUTE_COMPLETE",
                        tail=tail_exec + [("Application-Response", response), ("Application-UUID", app_uuid)])
        if not on_answer:
            with self.lock:
                ch.vars.set("current_loop", None)
                ch.vars.set("total_loops", None)

    def _check(self) -> None:
        if self.hungup:
            raise _Hangup()

    def _app_answer(self, arg: str) -> str:
        self._check()
        if self.times["answer"] is None:
            self._answer()
        return "_none_"

    def _app_pre_answer(self, arg: str) -> str:
        return "_none_"

    _app_ring_ready = _app_pre_answer
    _app_echo = _app_pre_answer

    def _app_park(self, arg: str) -> str:
        with self.cond:
            while not self.hungup:
                self.cond.wait(0.5)
        return "_none_"

    def _app_set(self, arg: str) -> str:
        with self.lock:
            if "=" in arg:
                k, val = arg.split("=", 1)
                self.chan.vars.set(k, val if val != "" else None)
        return "_none_"

    def _app_export(self, arg: str) -> str:
        """export k=v: set k here (unless ``nolocal:``) and append k to ``export_vars``
        (switch_channel_export_variable_var_check in switch_channel.c)."""
        if "=" not in arg:
            return "_none_"
        k, val = arg.split("=", 1)
        name, local = k, True
        for pre in ("nolocal:", "_nolocal_"):
            if k.lower().startswith(pre):
                name, local = k[len(pre):], False
        with self.lock:
            v = self.chan.vars
            # switch_channel_export_variable_var_check sets the name as given, so a nolocal: variable is kept
            # under its prefixed name and only reaches the B leg.
            v.set(name if local else k, val if val != "" else None)
            if val != "":
                exports = v.get("export_vars")
                v.set("export_vars", f"{exports},{k}" if exports else k)
        return "_none_"

    def set_var(self, name: str, value: str | None) -> None:
        """uuid_setvar / uuid_setvar_multi: an empty value unsets, like switch_channel_set_variable."""
        with self.lock:
            self.chan.vars.set(name, value if value else None)

    def broadcast(self, path: str, legs: str, start: bool = True) -> Broadcast:
        """uuid_broadcast <uuid> <path> [aleg|bleg|holdb|both]: the A leg plays ``path`` as a playback
        (CHANNEL_EXECUTE / EXECUTE_COMPLETE) alongside whatever it is doing (e.g. while bridged).
        No argument means aleg + hold the B leg (mod_commands.c)."""
        legs = legs or "aleg"
        on_a = "aleg" in legs or "both" in legs
        b = Broadcast(path, legs, self.clock.now(), on_a)
        with self.lock:
            self.broadcasts.append(b)
        if start:
            self.start_broadcast(b)
        return b

    def start_broadcast(self, b: Broadcast) -> None:
        if b.on_a_leg:
            threading.Thread(target=self._play_broadcast, args=(b,), daemon=True).start()

    def _play_broadcast(self, b: Broadcast) -> None:
        app, sep, arg = b.path.partition("::")  # "app::arg" runs that app, else it is a playback
        if not sep:
            app, arg = "playback", b.path
        app_uuid = new_uuid()
        tail = [("Application", app), ("Application-Data", arg)]
        if self.hungup:
            return
        self.chan_event("CHANNEL_EXECUTE", tail=tail + [("Application-UUID", app_uuid)])
        total = self.playback_ms(arg) if app == "playback" else 0
        start = self.clock.now()
        try:
            self.sleep_sim(total / 1000.0)
        except _Hangup:
            pass
        played = min(total, int((self.clock.now() - start) * 1000))
        resp = "FILE PLAYED" if app == "playback" else "_none_"
        with self.lock:
            b.played_ms, b.response = played, resp
            if app == "playback":
                v = self.chan.vars
                v.set("playback_seconds", str(math.ceil(played / 1000)))
                v.set("playback_ms", str(played))
            destroyed = self.channel_destroyed
        if not destroyed:
            self.chan_event("CHANNEL_EXECUTE_COMPLETE",
                            tail=tail + [("Application-Response", resp), ("Application-UUID", app_uuid)])

    def _app_unset(self, arg: str) -> str:
        with self.lock:
            self.chan.vars.set(arg.strip(), None)
        return "_none_"

    def _app_sleep(self, arg: str) -> str:
        try:
            ms = int(arg.strip() or "0")
        except ValueError:
            ms = 0
        self.sleep_sim(ms / 1000.0)
        return "_none_"

    def _app_hangup(self, arg: str) -> str:
        self.request_hangup(arg.strip() or "NORMAL_CLEARING")
        return "_none_"

    def _app_sched_hangup(self, arg: str) -> str:
        self.node.sched_hangup(self, arg)
        return "_none_"

    def _app_respond(self, arg: str) -> str:
        """respond <code> [reason]: a final >=300 reply refuses the call (mod_sofia RESPOND indication)."""
        m = re.match(r"\s*(\d{3})", arg)
        code = int(m.group(1)) if m else 500
        if code >= 300 and self.times["answer"] is None:
            with self.lock:
                self.chan.vars.set("sip_hangup_disposition", "send_refuse")
            self.request_hangup(sip_cause_to_freeswitch(code), refuse_code=code)
        elif code == 200:
            self._answer()
        return "_none_"

    @staticmethod
    def playback_ms(arg: str) -> int:
        """Length of a tone_stream: (on+off)*loops, e.g. %(1000,500,440);loops=2 = 3000 ms (a:965)."""
        m = re.search(r"%\((\d+),(\d+)", arg)
        if not m:
            return 1000
        loops = re.search(r"loops=(-?\d+)", arg)
        n = int(loops.group(1)) if loops else 1
        if n < 0:
            n = 10**6
        return (int(m.group(1)) + int(m.group(2))) * max(n, 1)

    def _app_playback(self, arg: str) -> str:
        self._check()
        total = self.playback_ms(arg)
        start = self.clock.now()
        interrupted = False
        try:
            self.sleep_sim(total / 1000.0)
        except _Hangup:
            interrupted = True
        played = min(total, int((self.clock.now() - start) * 1000))
        with self.lock:
            v = self.chan.vars
            if interrupted and self.caller_bye:
                v.set("sip_hangup_disposition", "recv_bye")
            v.set("playback_last_offset_pos", str(played * 8))
            v.set("playback_seconds", str(math.ceil(played / 1000)))
            v.set("playback_ms", str(played))
            v.set("playback_samples", str(played * 8))
            resp = "PLAYBACK ERROR" if (interrupted and self.caller_bye) else "FILE PLAYED"
            v.set("current_application_response", resp)
        return resp

    # ----------------------------------------------------------------------------- bridge
    @staticmethod
    def _leg_number(endpoint: str) -> str:
        return Leg(endpoint).number

    def _legs_items(self, uuids: list[tuple[str, str]], suffixes: list[str]) -> list[str]:
        return [f"{u};{s}" for (u, _), s in zip(uuids, suffixes, strict=True)]

    def _app_bridge(self, arg: str) -> str:
        self._check()
        v = self.chan.vars
        with self.lock:
            glob, groups = parse_dial_string(arg)
            try:
                call_timeout = int(glob.get("call_timeout") or v.get("call_timeout") or 60)
            except ValueError:
                call_timeout = 60
        legs_so_far: list[tuple[str, str]] = []  # (uuid, endpoint) of every leg tried
        causes: list[str] = []
        rang = False
        final: tuple[str, int | None] | None = None
        for gi, group in enumerate(groups):
            leg = self._pick_leg(group)
            fe = self.node.far_ends.lookup(leg.endpoint)
            b_uuid = self._next_uuid or new_uuid()
            self._next_uuid = None
            att = Attempt(leg.endpoint, b_uuid)
            with self.lock:
                self.attempts.append(att)
            legs_so_far.append((b_uuid, leg.endpoint))
            leg_timeout = leg.vars.get("leg_timeout") or glob.get("leg_timeout")
            timeout = int(leg_timeout) if leg_timeout else call_timeout
            timeout_cause = "ALLOTTED_TIMEOUT" if leg_timeout else "NO_ANSWER"
            t0 = self.clock.now()
            deadline = math.floor(t0) + timeout  # whole-second timers (fact 23)
            ring_at = t0 + fe.ring_after if fe.ring_after is not None else None
            answer_at = t0 + fe.answer_after if fe.answer_after is not None else None
            reject_at = t0 + fe.reject_after if fe.reject_code is not None else None
            reject_code = fe.reject_code
            if fe.unreachable:
                reject_at, reject_code = t0 + 32.0, 408
            leg_rang = False
            outcome: str | None = None
            while outcome is None:
                now = self.clock.now()
                if self.hungup:
                    outcome = "cancelled"
                    break
                if ring_at is not None and not leg_rang and now >= ring_at and (answer_at is None or now < answer_at):
                    leg_rang = True
                    self._on_ring(b_uuid, leg, first=not rang and gi == 0, legs=legs_so_far)
                    rang = True
                    continue
                if answer_at is not None and now >= answer_at and now < deadline:
                    outcome = "answered"
                    break
                if reject_at is not None and now >= reject_at and now < deadline:
                    outcome = "rejected"
                    break
                if now >= deadline:
                    outcome = "timeout"
                    break
                nxt = [t for t in (ring_at if not leg_rang else None, answer_at, reject_at, float(deadline))
                       if t is not None and t > now]
                wait = min(nxt) - now if nxt else 0.05
                with self.cond:
                    if not self.hungup:
                        self.cond.wait(self.clock.real(max(wait, 0.001)))
            att.ended_at = self.clock.now()
            if outcome == "answered":
                att.outcome = "answered"
                att.answered_at = self.clock.now()
                att.cause = "NORMAL_CLEARING"
                return self._bridged(att, fe, leg, legs_so_far, causes)
            if outcome == "cancelled":
                att.outcome, att.cause = "cancelled", "ORIGINATOR_CANCEL"
                raise _Hangup()
            if outcome == "rejected":
                assert reject_code is not None
                cause = sip_cause_to_freeswitch(reject_code)
                att.outcome, att.sip_code, att.cause = "rejected", reject_code, cause
                final = (cause, reject_code)
            else:
                att.outcome, att.cause = "timeout", timeout_cause
                final = (timeout_cause, None)
            causes.append(final[0])
            self.node.post_b_leg_cdr(self, att)
            if gi < len(groups) - 1:
                next_uuid = new_uuid()
                with self.lock:
                    self._nonfinal_failure(final, legs_so_far + [(next_uuid, groups[gi + 1][0].endpoint)], causes)
                self._next_uuid = next_uuid
            else:
                break
        assert final is not None
        return self._bridge_failed(final, legs_so_far, causes, leg_rang=rang)

    _next_uuid: str | None = None

    def _pick_leg(self, group: list[Leg]) -> Leg:
        """Simultaneous legs (','): take the first whose far end answers, else the last."""
        best, best_t = group[-1], None
        for leg in group:
            fe = self.node.far_ends.lookup(leg.endpoint)
            if fe.answer_after is not None and (best_t is None or fe.answer_after < best_t):
                best, best_t = leg, fe.answer_after
        return best

    def _on_ring(self, b_uuid: str, leg: Leg, first: bool, legs: list[tuple[str, str]]) -> None:
        """Far end's 180 -> A's CHANNEL_PROGRESS (b:332; c:868 on the second leg)."""
        with self.lock:
            self.chan.profile.callee_name = "Outbound Call"
            self.chan.profile.callee_number = leg.number
            now = self.clock.now()
            if self.times["progress"] is None:
                self.times["progress"] = now
                self.chan.profile.progress = now
            if self.times["answer"] is not None:  # i1: A already answered, the 180 changes nothing on A
                return
            v = self.chan.vars
            if first:
                v.set("originate_disposition", "failure")
                v.set("DIALSTATUS", "INVALIDARGS")
            v.set("originate_signal_bond", b_uuid)
            if first and len(legs) == 1:
                v.set("originated_legs", f"{b_uuid};Outbound Call;{leg.number}")
            v.set("sip_to_tag", self.chan.to_tag)
            now = self.clock.now()
            if self.times["progress"] is None:
                self.times["progress"] = now
                self.chan.profile.progress = now
        self.chan_event("CHANNEL_PROGRESS")

    def _nonfinal_failure(self, final: tuple[str, int | None], legs: list[tuple[str, str]],
                          causes: list[str]) -> None:
        """A failed '|' attempt shows only in A variables (fact 21, c:990-999)."""
        cause, code = final
        v = self.chan.vars
        v.set("originated_legs", "ARRAY::" + "|:".join(f"{u};Outbound Call;{self._leg_number(e)}" for u, e in legs))
        if code is not None:
            v.set("sip_hangup_phrase", SIP_PHRASES.get(code, ""))
        v.set("last_bridge_hangup_cause", cause)
        if code is not None:
            v.set("last_bridge_proto_specific_hangup_cause", f"sip:{code}")
        v.set("originate_disposition", cause)
        v.set("DIALSTATUS", dialstatus(cause))
        v.set_array("originate_causes", self._legs_items(legs[:len(causes)], causes))

    def _bridge_failed(self, final: tuple[str, int | None], legs: list[tuple[str, str]], causes: list[str],
                       leg_rang: bool) -> str:
        """Final failure: d1:331 (486), d2:725 (NO_ANSWER), d4:460 (leg_timeout)."""
        cause, code = final
        with self.lock:
            v = self.chan.vars
            last_uuid, last_ep = legs[-1]
            if code is not None:
                if "originate_signal_bond" not in v:
                    v.set("originate_signal_bond", last_uuid)
                if len(legs) == 1 and not leg_rang:
                    v.set("originated_legs", f"{last_uuid};Outbound Call;{self._leg_number(last_ep)}")
                v.set("sip_invite_failure_status", str(code))
                v.set("sip_invite_failure_phrase", SIP_PHRASES.get(code, ""))
                v.set("sip_hangup_phrase", SIP_PHRASES.get(code, ""))
            v.set("last_bridge_hangup_cause", cause)
            if code is not None:
                v.set("last_bridge_proto_specific_hangup_cause", f"sip:{code}")
            v.set("originate_disposition", cause)
            v.set("DIALSTATUS", dialstatus(cause))
            v.set_array("originate_causes", self._legs_items(legs, causes))
            v.set("originate_failed_cause", cause)
            cof = (v.get("continue_on_fail") or "").strip()
        keep = cause == "NO_ANSWER" or cof.lower() == "true" or cause in [c.strip() for c in cof.split(",")]
        if not keep:  # fact 22/24: HANGUP before the bridge's EXECUTE_COMPLETE
            with self.lock:
                self.chan.vars.set("sip_hangup_disposition", None)
            self.request_hangup(cause)
        return "_none_"

    def _bridged(self, att: Attempt, fe, leg: Leg, legs: list[tuple[str, str]], causes: list[str]) -> str:
        ch = self.chan
        v = ch.vars
        with self.lock:
            ch.profile.callee_name = "Outbound Call"
            ch.profile.callee_number = leg.number
        pre_answered = self.times["answer"] is not None
        if not pre_answered:
            self._answer(for_bridge=True)
        else:  # i1:1647 answered before the bridge: only the far end's SDP arrives
            with self.lock:
                if len(legs) == 1:
                    v.set("originated_legs", f"{att.uuid};Outbound Call;{leg.number}")
                v.set("switch_m_sdp", v.get("switch_r_sdp"))
                v.set("video_media_flow", "inactive")
                v.set("text_media_flow", "inactive")
                v.set("audio_media_flow", v.get("audio_media_flow"))
        eoa = v.get("execute_on_answer")
        if eoa:
            app, _, a = eoa.partition(" ")
            saved = (self.current_app, self.last_app)
            self.execute(app, a or None, None, on_answer=True)
            with self.lock:
                self.current_app = saved[0]
                self.last_app = saved[1]
        if self.hungup:
            raise _Hangup()
        now = self.clock.now()
        with self.lock:
            v.set("originate_disposition", "SUCCESS")
            v.set("DIALSTATUS", "SUCCESS")
            v.set_array("originate_causes", self._legs_items(legs, causes + ["NONE"]))
            v.set("signal_bond", att.uuid)
            v.set("originate_signal_bond", None)
            if self.spec.ack_before_bridge:
                ch.ack_vars()
            self.times["bridge"] = now
            ch.profile.bridged = now
            a = ch.profile
            ch.other = Profile("outbound", "inbound", a.username, a.caller_id_name, a.caller_id_number,
                               a.network_addr, leg.number, att.uuid, leg.endpoint, att.ended_at or now,
                               "Outbound Call", leg.number, answered=att.answered_at,
                               progress=(att.ended_at or now) if fe.ring_after is not None else None)
            self.bridged = True
            self.node.register_b_leg(self, att)
        bridge_ids = [("Bridge-A-Unique-ID", self.uuid), ("Bridge-B-Unique-ID", att.uuid)]
        self.chan_event("CHANNEL_BRIDGE", pre=bridge_ids)
        b_end = None if fe.hangup_after is None else time.monotonic() + self.clock.real(fe.hangup_after)
        with self.cond:
            while not self.hungup and not self.b_hangup:
                if b_end is not None and time.monotonic() >= b_end:
                    self.b_hangup = True
                    break
                self.cond.wait(0.5 if b_end is None else max(0.001, b_end - time.monotonic()))
            b_first = self.b_hangup and not self.hungup
            att.ended_at = self.clock.now()
            if b_first:  # b:984 far end's BYE
                v.set("last_bridge_to", att.uuid)
                v.set("bridge_channel", att.endpoint)
                v.set("bridge_uuid", att.uuid)
                v.set("signal_bond", att.uuid)
                ch.ack_vars()
                v.set("last_sent_callee_id_name", "Outbound Call")
                v.set("last_sent_callee_id_number", leg.number)
                v.set("sip_hangup_phrase", "OK")
                v.set("last_bridge_hangup_cause", "NORMAL_CLEARING")
                v.set("last_bridge_proto_specific_hangup_cause", "sip:200")
                v.set("bridge_hangup_cause", "NORMAL_CLEARING")
            else:  # e1:1199 A went first
                if self.caller_bye:
                    v.set("sip_hangup_disposition", "recv_bye")
                v.set("bridge_hangup_cause", "NORMAL_CLEARING")
                v.set("bridge_to", None)
            self.bridged = False
        self.node.post_b_leg_cdr(self, att)
        self.chan_event("CHANNEL_UNBRIDGE", pre=bridge_ids)
        if b_first and (v.get("hangup_after_bridge") or "").lower() == "true":
            self.request_hangup("NORMAL_CLEARING")  # c:1754
        return "_none_"
