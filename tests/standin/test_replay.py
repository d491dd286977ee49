"""Replay the ESL application's side of each reference transcript against the stand-in and compare.

The stand-in runs on a clock aligned with the recording: its epoch is the recording's, the call is placed
at the recorded instant, every command (and the inbound connections' commands, the application's death
in g1/g2) is sent at its recorded time once everything the recorder had received before it has arrived,
and the far ends, the caller's BYE and the core scheduler's polling phase take their delays from the
recording. So values can be compared, not just names: see replay_compare.py (NORMALISED lists what is
normalised and why; everything else must be equal). Checked for every connection of a scenario:

- the sequence of messages (reply texts, api bodies, event names, notices), in order;
- for each event and reply: header names in order and every value; event bodies;
- in j1 the HTTP requests of mod_json_cdr and the A-leg JSON document's variables; in j2/k2 the tries,
  the error file and where HANGUP_COMPLETE ends up (late, or lost).

Where the stand-in does not model something a recording shows (B-leg events, non-CHANNEL events in i2-i4),
the reference is filtered with an explicit reason (MODELLED) and the stand-in must not send it either.
The linger notice falls where the recording has it (README facts 13/14): the stand-in is told which of its
LINGER_NOTICE points that was.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import statistics
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from esl_client import EslApp, EslClient
from replay_compare import Comparator, Stream

from fs_standin import CallSpec, FarEnd, FreeSwitchStandIn, StandInClock
from fs_standin.call import CHANNEL_EVENTS, DISPATCH_LAG, TICK
from fs_standin.jsoncdr import JsonCdrSettings
from fs_standin.transcripts import Transcript, TranscriptMessage, parse_transcript


def reference_dir() -> Path | None:
    """shared/freeswitch-reference beside the repository (CI clones it elsewhere), else /work/shared."""
    for p in (Path(__file__).resolve().parents[2].parent / "shared" / "freeswitch-reference",
              Path("/work/shared/freeswitch-reference")):
        if p.is_dir():
            return p
    return None


REF = reference_dir()
SCALE = float(os.environ.get("FS_STANDIN_REPLAY_SCALE", "4"))
WAIT = 20.0  # real seconds to wait for any one expected message
PRE_PLACE = 0.1  # simulated seconds (see replay)
# A run is only valid if every command went out close to its recorded time: a command sent late shifts
# everything after it, and across a whole second that moves a scheduler's floor(now) (f1: sched_hangup at
# .951, 49 ms before a second). A run that fell further behind (a loaded machine) is replayed again.
LATE_MAX = 0.04  # simulated seconds
# Time scale of each attempt: a run that fell behind is replayed more slowly (more wall time per simulated
# millisecond), so a loaded or jittery machine still gets a valid run instead of a timing failure.
SCALES = (SCALE, SCALE, SCALE / 2, SCALE / 4)
ATTEMPTS = len(SCALES)


# ------------------------------------------------------------------------------------------ recording
def a_leg_uuid(ref: Transcript) -> str | None:
    for m in ref.messages:
        if m.direction == "<<" and m.content_type == "command/reply" and m.header("Event-Name") == "CHANNEL_DATA":
            return m.header("Unique-ID")
    return None


def stamp(m: TranscriptMessage) -> float:
    return int(dict(m.event_headers)["Event-Date-Timestamp"]) / 1e6


@dataclass
class Timeline:
    """The A leg's events of every file of a scenario, for the delays the stand-in is driven with."""

    events: list[TranscriptMessage]

    def first(self, name: str, app: str | None = None) -> float:
        for m in self.events:
            h = dict(m.event_headers)
            if m.event_name == name and (app is None or h.get("Application") == app):
                return stamp(m)
        raise LookupError(f"no {name} {app or ''} in the recording")

    def other_leg(self) -> dict[str, str]:
        """The B leg's Other-Leg-* headers of the first CHANNEL_BRIDGE."""
        return dict(next(m for m in self.events if m.event_name == "CHANNEL_BRIDGE").event_headers)

    def ack_before_bridge(self) -> bool:
        """Did the caller's ACK (sip_cseq re-set, a:805) arrive before CHANNEL_BRIDGE (c:1340) or after (b:984)?"""
        bridge = [m for m in self.events if m.event_name == "CHANNEL_BRIDGE"]
        return bool(bridge) and "variable_sip_cseq" in dict(bridge[0].event_headers)


def recorder_clock(refs: list[Transcript]) -> tuple[float, float]:
    """FreeSWITCH's epoch as a linear function a + b * t of the recorder's scenario time t. Events reach the
    socket some time after their stamp (the listener's loop), so fit the instants the stand-in must
    reproduce: each sendmsg's first event is stamped DISPATCH_LAG after the command was sent (a:195
    +0.122 s -> a:206 .551381). FreeSWITCH's clock runs slightly slow against the recorder's (a: 3.040 s of
    stamps over 3.047 s), hence the slope."""
    pairs = []
    for r in refs:
        msgs = r.messages
        for i, m in enumerate(msgs):
            if m.direction == ">>" and m.raw.startswith(b"sendmsg"):
                ev = next((n for n in msgs[i + 1:] if n.direction == "<<" and n.content_type == "text/event-plain"),
                          None)
                if ev is not None:
                    pairs.append((m.t + DISPATCH_LAG, stamp(ev)))
    if len(pairs) < 2 or max(t for t, _ in pairs) - min(t for t, _ in pairs) < 0.5:
        return statistics.median(e - t for t, e in pairs), 1.0
    slope, intercept = statistics.linear_regression([t for t, _ in pairs], [e for _, e in pairs])
    return intercept, slope


def linger_point(ref, keep: Callable[[TranscriptMessage], bool] = lambda m: True) -> str:
    """The stand-in's LINGER_NOTICE point for where the recording's linger notice fell (among the events the
    stand-in sends: `keep`)."""
    before = None
    for m in ref.messages:
        if m.direction != "<<":
            continue
        if m.kind == "notice:linger":
            break
        if m.content_type == "text/event-plain" and keep(m):
            before = m.event_name if m.event_name != "CHANNEL_STATE" else dict(m.event_headers).get("Channel-State")
    return {"CHANNEL_HANGUP": "after_hangup", "CS_HANGUP": "after_cs_hangup"}.get(before, "after_hangup_complete")


# ------------------------------------------------------------------------------------------ scenarios
Delays = Callable[[Timeline], dict[str, FarEnd]]


def _us(value: str | None) -> float | None:
    return int(value) / 1e6 if value and value != "0" else None


def answers(hangs_up: bool = False) -> Delays:
    """5071 with the B leg's own times (CHANNEL_BRIDGE's Other-Leg-*): 180, 200, and its BYE as A's UNBRIDGE
    a tick later shows it."""
    def far(t: Timeline) -> dict[str, FarEnd]:
        t0 = t.first("CHANNEL_EXECUTE", "bridge")
        b = t.other_leg()
        rang, answered = _us(b["Other-Leg-Channel-Progress-Time"]), _us(b["Other-Leg-Channel-Answered-Time"])
        assert answered is not None
        bye = t.first("CHANNEL_UNBRIDGE") - TICK - answered if hangs_up else None
        return {"5071": FarEnd(ring_after=None if rang is None else rang - t0, answer_after=answered - t0,
                               hangup_after=bye)}
    return far


def rejects(code: int, port: str, until: tuple[str, str | None]) -> Delays:
    """The final response when A reacts to it (`until`) less one tick."""
    def far(t: Timeline) -> dict[str, FarEnd]:
        return {port: FarEnd.reject(code, after=t.first(*until) - TICK - t.first("CHANNEL_EXECUTE", "bridge"))}
    return far


def rings_forever(t: Timeline) -> dict[str, FarEnd]:
    return {"5073": FarEnd(ring_after=t.first("CHANNEL_PROGRESS") - TICK - t.first("CHANNEL_EXECUTE", "bridge"))}


def failover(t: Timeline) -> dict[str, FarEnd]:
    """c: 503 from 5072; the second leg (5071) is created a tick later (its Other-Leg-Profile-Created-Time)."""
    t0 = t.first("CHANNEL_EXECUTE", "bridge")
    b = t.other_leg()
    created, rang = _us(b["Other-Leg-Profile-Created-Time"]), _us(b["Other-Leg-Channel-Progress-Time"])
    answered = _us(b["Other-Leg-Channel-Answered-Time"])
    assert created is not None and answered is not None
    return {"5072": FarEnd.reject(503, after=created - TICK - t0),
            "5071": FarEnd(ring_after=None if rang is None else rang - created, answer_after=answered - created,
                           hangup_after=t.first("CHANNEL_UNBRIDGE") - TICK - answered)}


def caller_bye(t: Timeline) -> float:
    """The caller's BYE hangs A up at once (sofia's thread): HANGUP minus ANSWER."""
    return t.first("CHANNEL_HANGUP") - t.first("CHANNEL_ANSWER")


@dataclass(frozen=True)
class Scenario:
    files: tuple[str, ...]  # the outbound connection first, then inbound connections
    far_ends: Delays = lambda t: {}
    caller_bye: Callable[[Timeline], float] | None = None
    sched_phase: bool = False  # the core scheduler's polling phase, from when the recorded sched_hangup fired
    cdr: str | None = None  # "up": a receiver answering 200 (j1); "down": nothing listens (j2, k2)
    events_modelled_only: bool = False  # i2-i4: `event plain ALL` also shows events the stand-in does not model


SCENARIOS = {
    "a": Scenario(("a_answer_playback_hangup.txt",)),
    "b": Scenario(("b_bridge_answered_farend_hangs_up.txt",), answers(hangs_up=True)),
    "c": Scenario(("c_bridge_failover_503_then_answer.txt",), failover),
    "d1": Scenario(("d1_bridge_486_busy_no_continue_on_fail.txt",), rejects(486, "5073", ("CHANNEL_HANGUP", None))),
    "d2": Scenario(("d2_bridge_no_answer_call_timeout.txt",), rings_forever),
    "d3": Scenario(("d3_bridge_486_busy_continue_on_fail.txt",),
                   rejects(486, "5073", ("CHANNEL_EXECUTE_COMPLETE", "bridge"))),
    "d4": Scenario(("d4_bridge_no_answer_leg_timeout.txt",), rings_forever),
    "e1": Scenario(("e1_caller_hangs_up_during_bridge.txt",), answers(), caller_bye=caller_bye),
    "e2": Scenario(("e2_caller_hangs_up_during_playback.txt",), caller_bye=caller_bye),
    "f1": Scenario(("f1_sched_hangup_app.txt",), sched_phase=True),
    "f2": Scenario(("f2_sched_hangup_execute_on_answer.txt",), answers(), sched_phase=True),
    "f3": Scenario(("f3_api_bgapi_sched_hangup_api.txt",), answers(), sched_phase=True),
    "g1": Scenario(("g1_server_dies_while_bridged_outbound.txt", "g1_server_dies_while_bridged_inbound_observer.txt"),
                   answers(hangs_up=True)),
    "g2": Scenario(("g2_server_dies_while_parked_outbound.txt", "g2_server_dies_while_parked_inbound_observer.txt")),
    "h": Scenario(("h_uuid_kill_from_inbound_esl_outbound_side.txt", "h_uuid_kill_from_inbound_esl_inbound_side.txt"),
                  answers()),
    "i1": Scenario(("i1_events_myevents.txt",), answers(hangs_up=True)),
    "i2": Scenario(("i2_events_plain_ALL.txt",), answers(hangs_up=True), events_modelled_only=True),
    "i3": Scenario(("i3_events_plain_ALL_filter_unique_id.txt",), answers(hangs_up=True),
                   events_modelled_only=True),
    "i4": Scenario(("i4_events_myevents_plus_plain_ALL.txt",), answers(hangs_up=True),
                   events_modelled_only=True),
    "j1": Scenario(("j1_json_cdr_esl_outbound.txt",), answers(hangs_up=True), cdr="up"),
    "j2": Scenario(("j2_json_cdr_receiver_down_esl.txt",), cdr="down"),
    "k": Scenario(("k_no_linger.txt",)),
    "k2": Scenario(("k2_no_linger_hangup_complete_lost.txt",), cdr="down"),
    "l": Scenario(("l_errors_and_edge_replies.txt",)),
}

# What the stand-in does not model, so the reference is filtered before comparing (README "Not modelled").
MODELLED = {
    "B-leg events": "the stand-in has no B-leg channel: its events (g1obs:780, g1obs:1351, i2:2525) are not sent",
    "non-CHANNEL events": "CODEC, CHANNEL_CALLSTATE, PRESENCE_IN, PLAYBACK_*, PRIVATE_COMMAND, CALL_UPDATE "
                          "(i2:329-1801) are not modelled; the A leg's CHANNEL_* events around them are compared",
}


def modelled(m: TranscriptMessage, a_uuid: str | None) -> bool:
    """Is this recorded message one the stand-in sends (see MODELLED for what it leaves out)?"""
    if m.content_type != "text/event-plain":
        return True
    name = m.event_name
    if name == "BACKGROUND_JOB":
        return True
    return name in CHANNEL_EVENTS and dict(m.event_headers).get("Unique-ID") == a_uuid


# ------------------------------------------------------------------------------------------ kinds
def kind(m) -> str:
    """A digest for the order comparison; uuids stay (their pairing is checked with the values)."""
    ct = m.content_type
    if ct == "api/response":
        return "api"
    if ct == "command/reply":
        return "reply"
    return m.kind


# ------------------------------------------------------------------------------------------ replay
class VirtualTime:
    """Recorder time (seconds since the scenario started) on the stand-in's clock: epoch = a + b * t."""

    def __init__(self, clock: StandInClock, a: float, b: float) -> None:
        self.clock, self.a, self.b = clock, a, b

    def epoch(self, t: float) -> float:
        return self.a + self.b * t

    def now(self) -> float:
        return (self.clock.now() - self.a) / self.b

    def wait_until(self, t: float) -> None:
        left = self.epoch(t) - self.clock.now()
        if left > 0:
            self.clock.sleep(left)


@dataclass
class Connection:
    """One recorded connection, replayed: its commands go out at their recorded times once everything the
    recorder had received before each of them has arrived."""

    name: str
    ref: Transcript
    keep: Callable[[TranscriptMessage], bool]
    vt: VirtualTime
    substitute: Callable[[bytes], bytes] = lambda raw: raw
    peer: EslApp | None = None
    got: list = field(default_factory=list)
    error: str | None = None
    late: float = 0.0  # how far behind its recorded time the latest command went out (simulated seconds)

    def expected(self) -> list[TranscriptMessage]:
        return [m for m in self.ref.messages if m.direction == "<<" and self.keep(m)]

    def run(self, connect: Callable[[], EslApp]) -> None:
        try:
            self._run(connect)
        except Exception as exc:  # noqa: BLE001 - reported with the comparison
            self.error = f"{self.name}: {type(exc).__name__}: {exc}"

    def _run(self, connect: Callable[[], EslApp]) -> None:
        first = self.ref.messages[0]
        self.vt.wait_until(first.t - 0.002)
        self.peer = connect()
        want: dict[str, int] = {}
        have: dict[str, int] = {}
        kill = self._kill_time()
        for m in self.ref.messages:
            if kill is not None and m.t > kill[0]:
                break
            if m.direction == "<<":
                if self.keep(m):
                    want[kind(m)] = want.get(kind(m), 0) + 1
                continue
            self._consume(want, have)
            self.vt.wait_until(m.t)
            if m.raw != b"connect\n\n":  # the call exists only from its recorded creation on (a:30)
                self.late = max(self.late, self.vt.now() - m.t)
            self.peer.send(self.substitute(m.raw).decode())
        if kill is not None:
            self._consume(want, have)
            self.vt.wait_until(kill[0])
            self.late = max(self.late, self.vt.now() - kill[0])
            self.peer.close()  # the process is gone: the kernel closes its socket (g1:990, g2:793)
            return
        while True:  # until FreeSWITCH closes
            m = self._next()
            if m is None:
                return
            self.got.append(m)

    def _kill_time(self) -> tuple[float, int] | None:
        for line, note in self.ref.notes:
            if "kills itself with SIGKILL now" in note:
                return float(note.split("s", 1)[0].lstrip("+")), line
        return None

    def _next(self):
        assert self.peer is not None
        try:
            return self.peer.next(WAIT)
        except queue.Empty:
            raise TimeoutError(f"nothing for {WAIT}s after {[kind(m) for m in self.got]}") from None

    def _consume(self, want: dict[str, int], have: dict[str, int]) -> None:
        while any(have.get(k, 0) < n for k, n in want.items()):
            m = self._next()
            if m is None:
                raise EOFError(f"closed while waiting for {want}; got {[kind(g) for g in self.got]}")
            self.got.append(m)
            have[kind(m)] = have.get(kind(m), 0) + 1


class CdrReceiver:
    """The j1 receiver: a raw HTTP server keeping each request's bytes, answering as the recorded one."""

    def __init__(self) -> None:
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.requests: list[tuple[str, list[tuple[str, str]], bytes]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with s:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                hdrs = [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
                length = int(dict(hdrs).get("Content-Length", "0"))
                while len(body) < length:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests.append((lines[0], hdrs, body))
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                          b"Connection: close\r\n\r\nOK")

    def close(self) -> None:
        self.lsock.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Run:
    refs: list[Transcript]
    conns: list[Connection]
    fs: FreeSwitchStandIn
    call: object
    a_uuid: str | None
    receiver: CdrReceiver | None
    err_dir: str | None
    settings: JsonCdrSettings | None


def replay(name: str, scale: float = SCALE) -> Run:
    sc = SCENARIOS[name]
    assert REF is not None
    refs = [parse_transcript(REF / f) for f in sc.files]
    out = refs[0]
    a_uuid = a_leg_uuid(out)
    data = next(m for m in out.messages if m.direction == "<<" and m.header("Event-Name") == "CHANNEL_DATA")
    created = int(data.header("Caller-Channel-Created-Time") or 0) / 1e6
    a, b = recorder_clock(refs)
    clock = StandInClock(scale, start_epoch=a)  # recorder time 0
    vt = VirtualTime(clock, a, b)
    a_events = [m for r in refs for m in r.messages if m.direction == "<<"
                and m.content_type == "text/event-plain" and dict(m.event_headers).get("Unique-ID") == a_uuid]
    a_events.sort(key=lambda m: int(dict(m.event_headers)["Event-Sequence"]))
    tl = Timeline(a_events)

    receiver = CdrReceiver() if sc.cdr == "up" else None
    err_dir = tempfile.mkdtemp(prefix="json_cdr_err_") if sc.cdr else None
    settings = None
    if sc.cdr:  # the j1/j2/k2 settings (j1_json_cdr_http_posts.txt:3-5, j2:23, k2:23)
        port = receiver.port if receiver else free_port()
        settings = JsonCdrSettings(f"http://127.0.0.1:{port}/cdr", encode="false", log_b_leg=True, retries=2,
                                   delay=1.0, timeout=2.0, err_dir=err_dir)
    phase = None
    if sc.sched_phase:
        phase = tl.first("CHANNEL_HANGUP") % 0.5
    keep_out = (lambda m: modelled(m, a_uuid)) if sc.events_modelled_only else (lambda m: True)
    app = EslApp()
    fs = FreeSwitchStandIn(controller=app.addr, clock=clock, linger_notice=linger_point(out, keep_out), cdr=settings,
                           **({"scheduler_phase": phase} if phase is not None else {})).start()
    for k, fe in sc.far_ends(tl).items():
        fs.far_ends.add(k, fe)

    call_box: list = []

    def sub(raw: bytes) -> bytes:
        return raw.replace(a_uuid.encode(), call_box[0].uuid.encode()) if a_uuid and call_box else raw

    conns = [Connection("outbound", out, keep_out, vt, sub)]
    threads = []
    for r in refs[1:]:
        c = Connection(r.path.name, r, lambda m: modelled(m, a_uuid), vt, sub)
        conns.append(c)
        th = threading.Thread(target=c.run, args=(lambda: EslClient(("127.0.0.1", fs.inbound_port)),), daemon=True)
        th.start()
        threads.append(th)
    # The INVITE arrives a little before the recorded creation in wall time, so that the stand-in's connection
    # is waiting when the recorder's first command is due; everything it reports is stamped `at` or later.
    vt.wait_until((created - a) / b - PRE_PLACE)
    spec = CallSpec(destination=data.header("Caller-Destination-Number").replace("%2B", "+"),
                    caller_hangs_up_after=sc.caller_bye(tl) if sc.caller_bye else None,
                    ack_before_bridge=tl.ack_before_bridge(),
                    sip_headers={"X-CP-Account": "42", "X-CP-Tenant": "7", "X-CP-Auth": "digest"})
    call = fs.place_call(spec, at=created)
    call_box.append(call)

    def accept() -> EslApp:
        app.accept()
        return app

    conns[0].run(accept)
    for th in threads:
        th.join(WAIT * 2)
    try:
        call.wait_done(WAIT)
    except TimeoutError as exc:
        conns[0].error = conns[0].error or str(exc)
    fs.stop()
    app.close()
    for c in conns[1:]:
        if c.peer:
            c.peer.close()
    if receiver:
        receiver.close()
    return Run(refs, conns, fs, call, a_uuid, receiver, err_dir, settings)


# ------------------------------------------------------------------------------------------ compare
def compare_connection(cmp: Comparator, conn: Connection) -> None:
    exp = conn.expected()
    got = conn.got
    ek, gk = [kind(m) for m in exp], [kind(m) for m in got]
    if ek != gk:
        cmp.fail(conn.name, f"message order differs:\n  got      {gk}\n  recorded {ek}")
    stream = Stream(conn.name)
    for r, g in zip(exp, got, strict=False):
        if kind(r) != kind(g):
            break
        ctx = f"{conn.name} {r.summary[:60]} (ref line {r.line})"
        if r.content_type == "text/event-plain":
            cmp.headers(ctx + " [outer]", [h for h in r.headers if h[0] != "Content-Length"],
                        [h for h in g.headers if h[0] != "Content-Length"])
            cmp.headers(ctx, r.event_headers, g.event, stream)
            rb = r.body.decode().split("\n\n", 1)[1] if b"\n\n" in r.body else ""
            gb = g.body.decode().split("\n\n", 1)[1] if b"\n\n" in g.body else ""
            cmp.value(ctx, "body", rb, gb, {}, {})
        elif r.content_type == "command/reply" and r.header("Event-Name") == "CHANNEL_DATA":
            cmp.headers(ctx, r.headers, g.headers, stream)
        else:
            cmp.headers(ctx, [h for h in r.headers if h[0] != "Content-Length"],
                        [h for h in g.headers if h[0] != "Content-Length"])
            if r.header("Content-Length") is not None and g.h.get("Content-Length") is None:
                cmp.fail(ctx, "Content-Length missing")
            cmp.value(ctx, "body", r.body.decode(), g.body.decode(), {}, {})


def recorded_requests(path: Path) -> list[tuple[str, list[tuple[str, str]], bytes]]:
    """The HTTP requests (request line, headers, body) mod_json_cdr sent in j1 (its `<<` messages)."""
    out = []
    for m in parse_transcript(path).messages:
        if m.direction == "<<":
            head, _, body = m.raw.partition(b"\n\n")
            lines = head.decode().split("\n")
            out.append((lines[0], [(k, v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])], body))
    return out


def _vars(doc: dict) -> list[tuple[str, str]]:
    return [("variable_" + k, v) for k, v in doc.get("variables", {}).items()]


def compare_json_cdr(cmp: Comparator, ctx: str, ref: dict, got: dict, full: bool) -> None:
    """A CDR document against the recorded one: `full` for the A leg (every variable, in order), else the
    reduced B-leg document (each variable it has must be the recorded one's)."""
    cmp.value(ctx, "core-uuid", ref["core-uuid"], got.get("core-uuid", ""), {}, {})
    cmp.value(ctx, "switchname", ref["switchname"], got.get("switchname", ""), {}, {})
    for k, v in ref["channel_data"].items():
        cmp.value(ctx + " channel_data", k, v, got.get("channel_data", {}).get(k, "<missing>"), {}, {})
    if not full:
        ref_vars = dict(_vars(ref))
        for k, v in _vars(got):
            if k not in ref_vars:
                cmp.fail(ctx, f"{k} is not in the recorded document")
            else:
                cmp.value(ctx, k, ref_vars[k], v, ref_vars, dict(_vars(got)))
        return
    cmp.headers(ctx + " variables", _vars(ref), _vars(got))
    ref_vars, got_vars = dict(_vars(ref)), dict(_vars(got))
    for direction, prefix in (("inbound", "rtp_audio_in_"), ("outbound", "rtp_audio_out_")):
        rs, gs = ref["callStats"]["audio"][direction], got.get("callStats", {}).get("audio", {}).get(direction, {})
        if list(rs) != list(gs):
            cmp.fail(ctx + " callStats", f"{direction} names {list(gs)} != {list(rs)}")
        for k, v in rs.items():
            name = "variable_" + (f"rtp_audio_{k}" if k.startswith("rtcp") else prefix + k)
            cmp.value(ctx + " callStats", name, json.dumps(v), json.dumps(gs.get(k)), ref_vars, got_vars)
    ra, ga = ref["app_log"]["applications"], got.get("app_log", {}).get("applications", [])
    if [a["app_name"] for a in ra] != [a["app_name"] for a in ga]:
        cmp.fail(ctx + " app_log", f"{[a['app_name'] for a in ga]} != {[a['app_name'] for a in ra]}")
    for r, g in zip(ra, ga, strict=False):
        cmp.value(ctx + " app_log", "app_data", r["app_data"], g.get("app_data", ""), {}, {})
        cmp.value(ctx + " app_log", "app-Time", r["app_stamp"], g.get("app_stamp", "0"), {}, {})


def compare_cdr(cmp: Comparator, run: Run) -> None:
    """j1: mod_json_cdr's requests and the A-leg document; j2/k2: the tries and the error file."""
    assert REF is not None and run.settings is not None
    a_uuid = run.call.uuid
    if run.receiver is None:  # nothing listens (j2, k2): retries=2 -> 3 tries, then the backup file (j2:2026-2032)
        if run.fs.cdr_failures != [a_uuid] * (run.settings.retries + 1):
            cmp.fail("cdr", f"tries failed: {run.fs.cdr_failures}, expected 3 for {a_uuid}")
        path = Path(run.err_dir or "") / f"{a_uuid}.cdr.json"
        if not path.exists():
            cmp.fail("cdr", f"no {path.name} in the error directory")
        elif json.loads(path.read_text())["variables"].get("uuid") != a_uuid:
            cmp.fail("cdr", f"{path.name} is not the A leg's document")
        return
    recorded = recorded_requests(REF / "j1_json_cdr_http_posts.txt")
    got = run.receiver.requests
    if len(got) != len(recorded):
        cmp.fail("cdr", f"{len(got)} requests, recorded {len(recorded)}")
    for i, ((rl, rh, _rb), (gl, gh, gb)) in enumerate(zip(recorded, got, strict=False)):
        ctx = f"cdr request {i + 1}"
        cmp.value(ctx, "request-line", rl, gl, {}, {})
        if [k for k, _ in rh] != [k for k, _ in gh]:
            cmp.fail(ctx, f"headers {[k for k, _ in gh]} != recorded {[k for k, _ in rh]}")
        gd = dict(gh)
        for k, v in rh:
            if k == "Content-Length":  # the body is compared field by field below
                if gd.get(k) != str(len(gb)):
                    cmp.fail(ctx, f"Content-Length {gd.get(k)} for a {len(gb)}-byte body")
            else:
                cmp.value(ctx, k, v, gd.get(k, "<missing>"), {}, {})
    docs = {json.loads(b)["variables"]["uuid"]: json.loads(b) for _, _, b in got}
    ref_a = json.loads((REF / "j1_json_cdr_a_leg.pretty.json").read_text())
    ref_b = json.loads((REF / "j1_json_cdr_b_leg.pretty.json").read_text())
    if a_uuid not in docs:
        cmp.fail("cdr", "no A-leg document posted")
    else:
        compare_json_cdr(cmp, "cdr A leg", ref_a, docs[a_uuid], full=True)
    b_docs = [d for u, d in docs.items() if u != a_uuid]
    if b_docs:
        compare_json_cdr(cmp, "cdr B leg", ref_b, b_docs[0], full=False)


def check(run: Run) -> list[str]:
    cmp = Comparator()
    if run.a_uuid:
        cmp.uuids.pair(run.a_uuid, run.call.uuid)
    for c in run.conns:
        if c.error:
            cmp.fail(c.name, c.error)
        compare_connection(cmp, c)
    if run.settings is not None:
        compare_cdr(cmp, run)
    return cmp.problems


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_replay(name: str) -> None:
    if REF is None or not all((REF / f).exists() for f in SCENARIOS[name].files):
        pytest.skip("reference transcripts not found (shared/freeswitch-reference beside the repo, or /work/shared)")
    for scale in SCALES:
        run = replay(name, scale)
        late = max(c.late for c in run.conns)
        if late <= LATE_MAX:
            break
    problems = check(run)
    note = ("" if late <= LATE_MAX else
            f" - but all {ATTEMPTS} runs fell behind the recorded timing (the last by {late * 1000:.0f} ms): the "
            "machine is too busy to drive the stand-in as recorded, so timing differences are expected")
    assert not problems, f"{name}: {len(problems)} differences{note}\n" + summary(problems)


def summary(problems: list[str]) -> str:
    """One line per kind of difference (the first message it was seen in, and how often)."""
    seen: dict[str, list[str]] = {}
    for p in problems:
        ctx, _, text = p.partition(") ")
        key = text if text else p
        seen.setdefault(key, []).append(ctx + ")")
    return "\n".join(f"{v[0]} {k}" + (f"  [x{len(v)}]" if len(v) > 1 else "") for k, v in seen.items())
