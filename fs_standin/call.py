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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import wire
from .channel import Channel, Profile, dialplan_apps, initial_vars, new_uuid, originated_vars
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

# FreeSWITCH's session threads and the originate loop act on 20 ms ticks: a queued sendmsg takes effect
# one tick after its +OK (fact 7; a:202-206, k:1126-1130), the A leg reacts to a far end's 180/200/4xx one
# tick after the B leg got it (b:786 Other-Leg-Channel-Answered-Time .771431, A's BRIDGE at .791402), and a
# session thread woken by another thread's hang-up goes on a tick later (f1:1293 HANGUP .451, f1:1459 .471).
TICK = 0.020
DISPATCH_LAG = TICK
# mod_event_socket's listener loop, which notices a channel that is down (see Call._report)
LISTENER_LOOP = TICK
LISTENER_LOOP_REAL = 0.05

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
    # The caller's signalling (sip_side.py): called with (call, event name) for every event the A leg emits.
    on_event: Callable[[Call, str], None] | None = None
    # Set for a leg the node originated (`originate {vars}<phone> <exten> XML <context>`): the originate's
    # variables. The phone (`phone_endpoint`) answered, then the leg entered the dialplan with `destination`
    # as its number; `caller_*` are its origination caller ID, `caller_hangs_up_after` the phone's BYE.
    originated: dict[str, str] | None = None
    phone_endpoint: str = ""
    originate_context: str = "default"


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
    created_at: float | None = None  # the INVITE (b:786 Other-Leg-Channel-Created-Time = the bridge's EXECUTE)
    rang_at: float | None = None  # its 180 (Other-Leg-Channel-Progress-Time)
    live: Any = None  # the farend.LiveLeg of a far end that is a real UA (FarEnd.live)


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
    def __init__(self, node: FreeSwitchStandIn, spec: CallSpec, at: float | None = None) -> None:
        self.node = node
        self.spec = spec
        self.clock = node.clock
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.uuid = (spec.originated or {}).get("origination_uuid") or new_uuid()
        now = self.clock.now() if at is None else at
        self.t_start = now
        host, port = node.controller
        self.socket_arg = f"{host}:{port} async full"
        if spec.originated is not None:
            # After the transfer into the dialplan the caller ID is flipped: the phone shows as the caller,
            # the origination caller ID as the callee (real node, channel_cid_flipped=yes).
            chan_name = spec.phone_endpoint.split(";", 1)[0]
            phone_user = chan_name.rsplit("/", 1)[-1].split("@", 1)[0]
            prof = Profile("outbound", "outbound", phone_user, "Outbound Call", phone_user, spec.caller_host,
                           spec.destination, self.uuid, chan_name, now, callee_name=spec.caller_name,
                           callee_number=spec.caller_number, context=spec.originate_context)
            variables = originated_vars(self.uuid, node.next_session_id(), chan_name, spec.originated, phone_user,
                                        spec.destination, spec.originate_context, now)
        else:
            chan_name = f"sofia/internal/{spec.caller_number}@{spec.caller_host}:{spec.caller_port}"
            prof = Profile("inbound", "inbound", spec.caller_number, spec.caller_name, spec.caller_number,
                           spec.caller_host, spec.destination, self.uuid, chan_name, now)
            variables = initial_vars(self.uuid, node.next_session_id(), spec.caller_number, spec.caller_name,
                                     spec.destination, spec.sip_headers, now, spec.caller_host, spec.caller_port)
        self.chan = Channel(node.info, prof, self.socket_arg)
        self.chan.init_vars(variables)
        self.times: dict[str, float | None] = {"start": now, "answer": None, "bridge": None, "progress": None,
                                               "progress_media": None, "end": None}
        self.queue: deque[dict[str, str]] = deque()
        self.hangup_started = False
        self.hungup = False  # set once CHANNEL_HANGUP is out, so the session thread's events follow it
        # Simulated instants: `vnow` is where the session (app) thread is; `resume_at` where it goes on
        # after a hang-up.
        self.vnow = now
        self.resume_at = now
        self.app_thread: threading.Thread | None = None
        self.session_dead_at: float | None = None
        self.caller_bye = False
        self.bridged = False
        self.b_hangup = False
        self.current_app: str | None = None
        # the dialplan's socket app is the last app until another one runs (l:772 last_app socket)
        self.last_app: tuple[str, str | None] | None = ("socket", self.socket_arg)
        self.attempts: list[Attempt] = []
        self.broadcasts: list[Broadcast] = []
        self.app_log: list[tuple[str, str | None, float]] = []  # (app, data, when) for the JSON CDR
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
        self.media_out_ms = 0  # milliseconds of audio played to the caller
        self.socket_app_uuid = new_uuid()
        self.ack_pending = False  # the answer app answered: the caller's ACK follows its EXECUTE_COMPLETE
        self.ack_due = False  # the caller's ACK to the answer app's 200 OK is in (applied before the next event)

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

    def emit(self, name: str, headers: list[tuple[str, str]], body: str | None = None,
             at: float | None = None) -> None:
        """Record an event and deliver it to the outbound session and inbound listeners."""
        key = {k: v for k, v in headers if k in ("Unique-ID", "Hangup-Cause", "Application", "Application-Data",
                                                  "Application-Response", "Channel-State", "Job-UUID")}
        with self.lock:
            self.events.append((self.clock.now() if at is None else at, name, key))
        data = wire.event_plain(headers, body)
        if self._wants(name, headers):
            self.send(data)
        self.node.publish(name, headers, body)
        if self.spec.on_event is not None:
            self.spec.on_event(self, name)

    def chan_event(self, name: str, pre: list[tuple[str, str]] | None = None,
                   tail: list[tuple[str, str]] | None = None, with_vars: bool = True,
                   at: float | None = None) -> None:
        """A channel event at simulated instant `at` (default: now)."""
        at = self.clock.now() if at is None else at
        with self.lock:
            if self.ack_due:  # g2obs:1084: the ACK's variables show on the first event after the answer
                self.ack_due = False
                self.chan.ack_vars()
            hdrs = self.chan.event_headers(name, at, pre, tail, with_vars)
        self.emit(name, hdrs, at=at)

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        threading.Thread(target=self._session_main, name=f"fs-call-{self.uuid[:8]}", daemon=True).start()

    def _dialplan(self) -> None:
        """The dialplan's apps up to the socket, seen only by inbound listeners (g1obs:50-655): each EXECUTE
        shows current_application then its data; before the app runs they are set again, data first, so
        EXECUTE_COMPLETE shows data, application, then what the app set (g1obs:169, g1obs:410)."""
        v = self.chan.vars
        at = self.vnow
        for app, data, sets in dialplan_apps(self.socket_arg, at):
            with self.lock:
                v.set("current_application", app)
                v.set("current_application_data", data)
                self.app_log.append((app, data, at))
            app_uuid = new_uuid()
            tail = [("Application", app), ("Application-Data", data)]
            self.chan_event("CHANNEL_EXECUTE", tail=tail + [("Application-UUID", app_uuid)], at=at)
            if app == "socket":  # its EXECUTE_COMPLETE at the end carries the same uuid (g1obs:533, g1obs:2235)
                self.socket_app_uuid = app_uuid
                break
            with self.lock:
                v.set("current_application_data", data)
                v.set("current_application", app)
                for k, val in sets:
                    v.set(k, val)
            self.chan_event("CHANNEL_EXECUTE_COMPLETE",
                            tail=tail + [("Application-Response", "_none_"), ("Application-UUID", app_uuid)], at=at)
        with self.lock:  # the socket app (mod_event_socket) sets them again, then socket_host (a:174-176)
            v.set("current_application_data", self.socket_arg)
            v.set("current_application", "socket")
            v.set("socket_host", self.node.controller[0])

    def _session_main(self) -> None:
        if self.spec.originated is not None:  # the phone answered before the leg entered the dialplan
            self._answer()
        self._dialplan()
        try:
            self.sock = socket.create_connection(self.node.controller, timeout=5)
            self.sock.settimeout(None)
            # No Nagle: a reply followed by an event would otherwise wait for the peer's delayed ACK (40 ms)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
                self.session_dead_at = self.clock.now()
            self.cond.notify_all()
        if not self.exited:
            self._close_socket()

    def after_connect(self) -> None:
        with self.cond:
            self.connected = True
            self.cond.notify_all()

    # ----------------------------------------------------------------------------- app thread
    def _app_main(self) -> None:
        self.app_thread = threading.current_thread()
        try:
            with self.cond:
                while not self.connected and not self.session_dead and not self.vanished:
                    self.cond.wait(0.05)
            if self.session_dead and not self.connected:
                self.vnow = self.clock.now()
                self.request_hangup("DESTINATION_OUT_OF_ORDER", at=self.vnow)
            socket_done = False
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
                    else:  # socket gone (fact 28): parked (g2obs:1084) or after a bridge (g1obs:2235)
                        cmd = None
                if cmd is None:
                    self._socket_gone()
                    socket_done = True
                    break
                # the session thread takes a queued sendmsg on its next tick (DISPATCH_LAG)
                at = max(self.vnow, float(cmd.get("_at") or self.clock.now()) + DISPATCH_LAG)
                if not self.wait_until(at):
                    break
                self.vnow = at
                self._run_command(cmd)
                if self.hungup:
                    break
            self._finish(socket_done)
        except Exception:  # noqa: BLE001 - report, then let wait_done() return
            import traceback

            traceback.print_exc()
            self.done.set()

    def wait_until(self, instant: float, interruptible: bool = True) -> bool:
        """Wait for a simulated instant; False if the call was hung up (or vanished) first."""
        with self.cond:
            while True:
                if self.vanished or (interruptible and self.hungup):
                    return False
                left = self.clock.real(instant - self.clock.now())
                if left <= 0:
                    return True
                self.cond.wait(min(left, 0.5))

    def _socket_gone(self) -> None:
        """The ESL application is gone: the socket app returns (UNPARK, its EXECUTE_COMPLETE), the dialplan has
        nothing after it, so A is hung up NORMAL_CLEARING (g2obs:1084-1242: EXECUTE_COMPLETE socket, then HANGUP)."""
        dead = self.session_dead_at if self.session_dead_at is not None else self.clock.now()
        self.vnow = max(self.vnow, dead + TICK)
        self.wait_until(self.vnow, interruptible=False)
        self._socket_complete(self.vnow)
        self.request_hangup("NORMAL_CLEARING", at=self.vnow)

    def _socket_complete(self, at: float) -> None:
        v = self.chan.vars
        with self.lock:
            v.set("current_loop", None)
            v.set("total_loops", None)
        self.chan_event("CHANNEL_UNPARK", at=at)
        resp = v.get("current_application_response") or "_none_"
        self.chan_event("CHANNEL_EXECUTE_COMPLETE", tail=[
            ("Application", "socket"), ("Application-Data", self.socket_arg),
            ("Application-Response", resp), ("Application-UUID", self.socket_app_uuid)], at=at)

    def _run_command(self, cmd: dict[str, str]) -> None:
        kind = cmd.get("call-command")
        if kind == "hangup":
            self.request_hangup(cmd.get("hangup-cause") or "NORMAL_CLEARING", at=self.vnow)
            return
        if kind == "execute":
            app = cmd.get("execute-app-name", "")
            arg = cmd.get("execute-app-arg")
            if arg is None and cmd.get("_body"):
                arg = cmd["_body"]
            self.execute(app, arg, cmd.get("Event-UUID"))

    def sleep_sim(self, seconds: float) -> None:
        """Sleep in simulated time; wakes early on hangup (raises _Hangup)."""
        if not self.wait_until(self.clock.now() + seconds):
            raise _Hangup()

    def _hold_until(self, instant: float) -> None:
        """The session thread waits for `instant`; on a hang-up it goes on where the hang-up lets it
        (`resume_at`) and raises _Hangup."""
        if not self.wait_until(instant):
            self.vnow = max(self.vnow, self.resume_at)
            self.wait_until(self.vnow, interruptible=False)
            raise _Hangup()
        self.vnow = max(self.vnow, instant)

    # ----------------------------------------------------------------------------- hangup
    def request_hangup(self, cause: str, caller_bye: bool = False, refuse_code: int | None = None,
                       at: float | None = None) -> bool:
        """Hang up A at simulated instant `at` (default now): CHANNEL_HANGUP; the app thread emits the rest
        (fact 10, 22)."""
        with self.cond:
            if self.hangup_started:
                return False
            self.hangup_started = True
            now = self.clock.now() if at is None else at
            own_thread = threading.current_thread() is self.app_thread
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
            ch.hangup_cause = cause
            ch.answer_state = "hangup"
            ch.state_number = "10"
            ch.profile.hangup = now
            self.hangup_cause = cause
            self.times["end"] = now
        self.chan_event("CHANNEL_HANGUP", at=now)
        self._linger_notice_at("after_hangup")  # f1:1451, before the running app's EXECUTE_COMPLETE
        with self.cond:
            self.hungup = True
            # a hang-up from another thread (scheduler, caller's BYE, uuid_kill) wakes the session thread,
            # which goes on at its next tick; its own hang-up goes on at once (a:1140-1759 one instant)
            self.resume_at = now if own_thread else now + TICK
            self.cond.notify_all()
        return True

    def caller_hangs_up(self, at: float | None = None) -> bool:
        """The caller's BYE (CallSpec.caller_hangs_up_after, or a real caller's on demand)."""
        return self.request_hangup("NORMAL_CLEARING", caller_bye=True, at=at)

    def _finish(self, socket_done: bool = False) -> None:
        """Unwind after hangup: UNPARK, socket's EXECUTE_COMPLETE, states, HANGUP_COMPLETE (a:1301-1759),
        with the linger notice where `node.linger_notice` puts it (node.LINGER_NOTICE)."""
        v = self.chan.vars
        if self.vanished:  # the node died (stop_node): nothing more happens
            self.done.set()
            return
        at = self.vnow = max(self.vnow, self.resume_at)
        self.wait_until(at, interruptible=False)
        if not socket_done:
            self._socket_complete(at)
        with self.lock:
            self.chan.state = "CS_HANGUP"
            self.chan.state_number = None
        self.chan_event("CHANNEL_STATE", with_vars=False, at=at)
        self._linger_notice_at("after_cs_hangup")
        with self.lock:
            self.chan.state = "CS_REPORTING"
            self.chan.state_number = None
            self.chan.call_state = "HANGUP"
            self.chan.profile.hangup_shown = True
        self.chan_event("CHANNEL_STATE", with_vars=False, at=at)
        with self.lock:
            la = self.last_app
            self.chan.cdr_vars(self.times, la[0] if la else None, la[1] if la else None, self.media_out_ms)
            self.final_vars = dict(v.items())
            self.billsec = int(v.get("billsec") or 0)
            self.duration = int(v.get("duration") or 0)
        took = self._report()  # mod_json_cdr posts in CS_REPORTING: HANGUP_COMPLETE waits (j2:1757-1765)
        if took:
            at += took
        cause = self.hangup_cause or "NORMAL_CLEARING"
        with self.lock:
            hdrs = self.chan.event_headers("CHANNEL_HANGUP_COMPLETE", at, pre=[("Hangup-Cause", cause)])
        self.emit("CHANNEL_HANGUP_COMPLETE", hdrs, at=at)
        self.node.channel_gone(self)
        self._end_session()

    def _report(self) -> float | None:
        """CS_REPORTING with mod_json_cdr: the POST runs on the session thread, so HANGUP_COMPLETE waits for
        it. The socket's listener sees the channel down on its own loop meanwhile: if the POST takes longer
        than that loop, the notice goes out first - the linger notice before HANGUP_COMPLETE (j2:1757, then
        j2:1765 two seconds later), or without linger the disconnect notice and the socket closes, so
        HANGUP_COMPLETE is never delivered (k2:1750, fact 14). A failed try about to wait for its retry is slow
        by definition; otherwise the loop is LISTENER_LOOP simulated seconds but at least LISTENER_LOOP_REAL
        of wall time, so the stand-in's own HTTP round trip to a local receiver does not count as slow at
        high time scales (j1: POST answered at once, linger notice after HANGUP_COMPLETE, j1_esl:2523)."""
        lock = threading.Lock()
        state = {"done": False, "noticed": False}

        def slow() -> None:
            with lock:
                if state["done"] or state["noticed"]:
                    return
                state["noticed"] = True
            self._notice_while_reporting()

        timer = threading.Timer(max(self.clock.real(LISTENER_LOOP), LISTENER_LOOP_REAL), slow)
        timer.daemon = True
        timer.start()
        try:
            return self.node.post_cdr(self, before_retry=slow)
        finally:
            with lock:
                state["done"] = True
            timer.cancel()

    def _notice_while_reporting(self) -> None:
        with self.cond:
            if self.sock is None or self.session_dead or self.exited:
                return
            lingering = self.linger is not None
            if lingering:
                if self.linger_notified:
                    return
                self.linger_notified = True
        if lingering:
            self.send(self._notice("linger"))
            return
        self.send(self._notice("disconnect"))
        with self.cond:
            self.session_dead = True  # nothing more reaches this socket: HANGUP_COMPLETE is lost
        self._close_socket()

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
    def _answer(self, for_bridge: bool = False, far_sdp: str | None = None) -> None:
        """Answer A at `vnow`. For a bridge the call state turns ACTIVE only after execute_on_answer
        (f2:906-1237 EARLY, f2:1407 ACTIVE), so _bridged sets it."""
        ch = self.chan
        now = self.vnow
        port = 16384 + (hash(self.uuid) % 16000) * 2 % 16000
        if not ch.media:
            with self.lock:
                ch.media_vars(for_bridge, port, far_sdp)
                ch.answer_state = "early"  # a:356
                self.times["progress_media"] = now
                ch.profile.progress_media = now
            self.chan_event("CHANNEL_PROGRESS_MEDIA", at=now)
            with self.lock:
                ch.call_state = "EARLY"
        with self.lock:
            ch.local_sdp(port)
            self.times["answer"] = now
            ch.profile.answered = now
            ch.answer_state = "answered"
        self.chan_event("CHANNEL_ANSWER", at=now)
        with self.lock:
            if not for_bridge:
                ch.call_state = "ACTIVE"
            ch.vars.set("endpoint_disposition", "ANSWER")
        after = self.spec.caller_hangs_up_after
        if after is not None:  # the caller's BYE, handled by its own (sofia) thread
            self.node.schedule_at(now + after, lambda: self.caller_hangs_up(at=now + after))

    # ----------------------------------------------------------------------------- apps
    def execute(self, app: str, arg: str | None, event_uuid: str | None, on_answer: bool = False) -> None:
        known = {"answer", "set", "export", "playback", "bridge", "sched_hangup", "hangup", "respond", "sleep",
                 "pre_answer", "ring_ready", "park", "echo", "unset"}
        if app not in known:  # fact 30: no CHANNEL_EXECUTE, hangup DESTINATION_OUT_OF_ORDER (l:283)
            with self.lock:  # it never ran, so last_app stays what it was (l:772 last_app socket)
                self.chan.vars.set("current_loop", "1")
                self.chan.vars.set("total_loops", "1")
            self.request_hangup("DESTINATION_OUT_OF_ORDER", at=self.vnow)
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
            self.app_log.append((app, arg, self.vnow))
        tail_exec = [("Application", app)]
        if arg is not None:
            tail_exec.append(("Application-Data", arg))
        self.chan_event("CHANNEL_EXECUTE", tail=tail_exec + [("Application-UUID", app_uuid)], at=self.vnow)
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
                        tail=tail_exec + [("Application-Response", response), ("Application-UUID", app_uuid)],
                        at=self.vnow)
        if self.ack_pending:  # the ACK comes after the answer app's EXECUTE_COMPLETE (a:636)
            self.ack_pending = False
            with self.lock:
                self.ack_due = True
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
            self.ack_pending = True
        return "_none_"

    def _app_pre_answer(self, arg: str) -> str:
        return "_none_"

    _app_ring_ready = _app_pre_answer
    _app_echo = _app_pre_answer

    def _app_park(self, arg: str) -> str:
        self._hold_until(float("inf"))
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
                self._playback_vars(arg, played)
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
        self._hold_until(self.vnow + ms / 1000.0)
        return "_none_"

    def _app_hangup(self, arg: str) -> str:
        self.request_hangup(arg.strip() or "NORMAL_CLEARING", at=self.vnow)
        return "_none_"

    def _app_sched_hangup(self, arg: str) -> str:
        self.node.sched_hangup(self, arg, now=self.vnow)
        return "_none_"

    def _app_respond(self, arg: str) -> str:
        """respond <code> [reason]: a final >=300 reply refuses the call (mod_sofia RESPOND indication)."""
        m = re.match(r"\s*(\d{3})", arg)
        code = int(m.group(1)) if m else 500
        if code >= 300 and self.times["answer"] is None:
            with self.lock:
                self.chan.vars.set("sip_hangup_disposition", "send_refuse")
            self.request_hangup(sip_cause_to_freeswitch(code), refuse_code=code, at=self.vnow)
        elif code == 200:
            self._answer()
        return "_none_"

    @staticmethod
    def playback_ms(arg: str) -> int:
        """Length of a tone_stream: (on+off)*loops, e.g. %(1000,500,440);loops=2 = 3000 ms (a:965)."""
        loop = Call.loop_ms(arg)
        loops = re.search(r"loops=(-?\d+)", arg)
        n = int(loops.group(1)) if loops else 1
        if n < 0:
            n = 10**6
        return loop * max(n, 1)

    @staticmethod
    def loop_ms(arg: str) -> int:
        m = re.search(r"%\((\d+),(\d+)", arg)
        return int(m.group(1)) + int(m.group(2)) if m else 1000

    def _playback_vars(self, arg: str, played: int) -> None:
        """playback_* after a tone_stream: the stream renders whole loops, so playback_ms/samples count the
        loops begun (e2:1918-1921: 1.98 s of a 1.5 s loop -> 3000 ms, 24000 samples) while
        playback_last_offset_pos is where it stopped (15840 = 1.98 s at 8 kHz); seconds are whole seconds."""
        loop = self.loop_ms(arg)
        rendered = min(self.playback_ms(arg), max(1, math.ceil(played / loop)) * loop)
        v = self.chan.vars
        v.set("playback_last_offset_pos", str(played * 8))
        v.set("playback_seconds", str(rendered // 1000))
        v.set("playback_ms", str(rendered))
        v.set("playback_samples", str(rendered * 8))
        self.media_out_ms += played  # RTP sent to the caller (rtp_audio_out_*, a:1891-1894)

    def _app_playback(self, arg: str) -> str:
        self._check()
        total = self.playback_ms(arg)
        start = self.vnow
        interrupted = False
        try:
            self._hold_until(start + total / 1000.0)
        except _Hangup:
            interrupted = True
        end = self.times["end"] if interrupted and self.times["end"] is not None else start + total / 1000.0
        played = max(0, min(total, round((end - start) * 1000)))
        with self.lock:
            v = self.chan.vars
            if interrupted and self.caller_bye:
                v.set("sip_hangup_disposition", "recv_bye")
            self._playback_vars(arg, played)
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
            # The B leg is created now (b:786 Other-Leg-Channel-Created-Time = the bridge's EXECUTE). Timers
            # count whole seconds of switch_epoch_time_now (fact 23): call_timeout ends when
            # `elapsed >= timelimit_sec`, leg_timeout when `elapsed > per_channel_timelimit_sec`
            # (switch_ivr_originate.c), so one second later (d4:460 fired 3.14 s after a 3 s leg_timeout).
            t0 = att.created_at = self.vnow
            deadline = float(math.floor(t0) + timeout + (1 if leg_timeout else 0))
            if fe.live is not None:  # a real UA: what it does decides the leg
                att.live = fe.live(self, Leg(leg.endpoint, {**glob, **leg.vars}), att)
                outcome, outcome_at, reject_code = self._live_outcome(att, leg, deadline, first=not rang and gi == 0,
                                                                      legs=legs_so_far)
                rang = rang or att.rang_at is not None
            else:
                ring_at = t0 + fe.ring_after if fe.ring_after is not None else None
                answer_at = t0 + fe.answer_after if fe.answer_after is not None else None
                reject_at = t0 + fe.reject_after if fe.reject_code is not None else None
                reject_code = fe.reject_code
                if fe.unreachable:
                    reject_at, reject_code = t0 + 32.0, 408
                # what the far end does first decides the leg; A sees it on the originate loop's next tick
                ends = [(t, o) for t, o in ((answer_at, "answered"), (reject_at, "rejected"), (deadline, "timeout"))
                        if t is not None and (o == "timeout" or t < deadline)]
                outcome_at, outcome = min(ends, key=lambda e: e[0])
                try:
                    if ring_at is not None and ring_at < outcome_at:
                        self._hold_until(ring_at + TICK)
                        att.rang_at = ring_at
                        self._on_ring(b_uuid, leg, first=not rang and gi == 0, legs=legs_so_far, rang_at=ring_at)
                        rang = True
                    self._hold_until(outcome_at + TICK)
                except _Hangup:
                    outcome = "cancelled"
                    outcome_at = self.times["end"] or self.vnow
            att.ended_at = outcome_at
            if outcome == "answered":
                att.outcome = "answered"
                att.answered_at = outcome_at
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

    def _wait_live(self, ready: Callable[[], bool], deadline: float) -> str:
        """Wait for what a live leg reports: "ready", "timeout" (the deadline) or "hangup" (A hung up first)."""
        with self.cond:
            while True:
                if self.vanished or self.hungup:
                    return "hangup"
                if ready():
                    return "ready"
                left = self.clock.real(deadline - self.clock.now())
                if left <= 0:
                    return "timeout"
                self.cond.wait(min(left, 0.5))

    def _live_outcome(self, att: Attempt, leg: Leg, deadline: float, first: bool,
                      legs: list[tuple[str, str]]) -> tuple[str, float, int | None]:
        """A far end that is a real UA (FarEnd.live): its 180 shows as A's CHANNEL_PROGRESS, then its answer or
        final response decides, as a scripted far end's would; at the deadline, or when A hangs up first, the leg
        is cancelled. Returns (outcome, when, SIP code)."""
        live = att.live
        while True:
            state = self._wait_live(lambda: live.answered_at is not None or live.rejected_code is not None
                                    or (live.rang_at is not None and att.rang_at is None), deadline)
            if state == "hangup":
                if not self.vanished:  # a node that died sends nothing more
                    live.cancel()
                self.vnow = max(self.vnow, self.resume_at)
                self.wait_until(self.vnow, interruptible=False)
                return "cancelled", self.times["end"] or self.vnow, None
            if state == "timeout":
                live.cancel()
                self.vnow = max(self.vnow, deadline + TICK)
                return "timeout", deadline, None
            if live.answered_at is not None:
                self.vnow = max(self.vnow, live.answered_at + TICK)
                return "answered", live.answered_at, None
            if live.rejected_code is not None:
                at = self.clock.now()
                self.vnow = max(self.vnow, at + TICK)
                return "rejected", at, live.rejected_code
            att.rang_at = live.rang_at
            self.vnow = max(self.vnow, live.rang_at + TICK)
            self._on_ring(att.uuid, leg, first=first, legs=legs, rang_at=live.rang_at)

    def _pick_leg(self, group: list[Leg]) -> Leg:
        """Simultaneous legs (','): take the first whose far end answers, else the last."""
        best, best_t = group[-1], None
        for leg in group:
            fe = self.node.far_ends.lookup(leg.endpoint)
            if fe.answer_after is not None and (best_t is None or fe.answer_after < best_t):
                best, best_t = leg, fe.answer_after
        return best

    def _on_ring(self, b_uuid: str, leg: Leg, first: bool, legs: list[tuple[str, str]], rang_at: float) -> None:
        """Far end's 180 -> A's CHANNEL_PROGRESS a tick later (b:332; c:868 on the second leg). A's progress
        time is the B leg's (b:786 Caller-Channel-Progress-Time .271388 = Other-Leg's, the event at .291420)."""
        with self.lock:
            self.chan.profile.callee_name = "Outbound Call"
            self.chan.profile.callee_number = leg.number
            if self.times["progress"] is None:
                self.times["progress"] = rang_at
                self.chan.profile.progress = rang_at
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
        self.chan_event("CHANNEL_PROGRESS", at=self.vnow)

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
            self.request_hangup(cause, at=self.vnow)
        return "_none_"

    def _bridged(self, att: Attempt, fe, leg: Leg, legs: list[tuple[str, str]], causes: list[str]) -> str:
        ch = self.chan
        v = ch.vars
        with self.lock:
            ch.profile.callee_name = "Outbound Call"
            ch.profile.callee_number = leg.number
        pre_answered = self.times["answer"] is not None
        far_sdp = att.live.sdp if att.live is not None and att.live.sdp else fe.sdp()
        if not pre_answered:
            self._answer(for_bridge=True, far_sdp=far_sdp)
        else:  # i1:1647 answered before the bridge: only the far end's SDP arrives
            with self.lock:
                if len(legs) == 1:
                    v.set("originated_legs", f"{att.uuid};Outbound Call;{leg.number}")
                v.set("switch_m_sdp", far_sdp)
                v.set("video_media_flow", "inactive")
                v.set("text_media_flow", "inactive")
                v.set("audio_media_flow", v.get("audio_media_flow"))
        eoa = v.get("execute_on_answer")
        if eoa:  # it becomes the channel's last_app (f2:2830 last_app sched_hangup)
            app, _, a = eoa.partition(" ")
            saved = self.current_app
            self.execute(app, a or None, None, on_answer=True)
            with self.lock:
                self.current_app = saved
        with self.lock:
            ch.call_state = "ACTIVE"  # after execute_on_answer (f2:1237 EARLY, f2:1407 ACTIVE)
        if self.hungup:
            if att.live is not None and not self.vanished:
                att.live.hangup()
            raise _Hangup()
        now = self.vnow
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
            # the B leg's own times (b:786): created with the INVITE, progress at its 180, answered at its 200
            ch.other = Profile("outbound", "inbound", a.username, a.caller_id_name, a.caller_id_number,
                               a.network_addr, leg.number, att.uuid, leg.endpoint, att.created_at or now,
                               "Outbound Call", leg.number, answered=att.answered_at, progress=att.rang_at)
            self.bridged = True
            self.node.register_b_leg(self, att)
        bridge_ids = [("Bridge-A-Unique-ID", self.uuid), ("Bridge-B-Unique-ID", att.uuid)]
        self.chan_event("CHANNEL_BRIDGE", pre=bridge_ids, at=now)
        # the far end's BYE, seen by A on the bridge loop's next tick (or A hangs up first)
        if att.live is not None:
            b_first = self._wait_live(lambda: att.live.ended_at is not None, float("inf")) == "ready"
            b_bye = att.live.ended_at
            if b_first:
                self.vnow = max(self.vnow, b_bye + TICK)
            else:
                if not self.vanished:
                    att.live.hangup()
                self.vnow = max(self.vnow, self.resume_at)
                self.wait_until(self.vnow, interruptible=False)
        else:
            b_bye = None if fe.hangup_after is None else (att.answered_at or now) + fe.hangup_after
            try:
                self._hold_until(float("inf") if b_bye is None else b_bye + TICK)
                b_first = True
            except _Hangup:
                b_first = False
        with self.cond:
            self.b_hangup = b_first
            att.ended_at = b_bye if b_first else self.times["end"]
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
        self.chan_event("CHANNEL_UNBRIDGE", pre=bridge_ids, at=self.vnow)
        if b_first and (v.get("hangup_after_bridge") or "").lower() == "true":
            self.request_hangup("NORMAL_CLEARING", at=self.vnow)  # c:1754
        return "_none_"
