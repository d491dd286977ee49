"""The simulated media node: places calls, answers commands and api, runs timers, posts CDRs."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Self

from . import wire
from .call import Attempt, Call, CallSpec
from .channel import NodeInfo
from .clock import StandInClock
from .dialstring import _split_top, parse_dial_string
from .farend import FarEndRegistry, sip_cause_to_freeswitch
from .jsoncdr import JsonCdrSettings
from .wire import separate_string

# Where mod_event_socket's linger notice falls among the A leg's hang-up events. Its listener sends
# the notice on the first pass of its 20 ms loop after the channel is down, behind whatever events
# are queued by then (mod_event_socket.c listener_run, `switch_channel_down(channel)`), so reality
# varies: right after CHANNEL_HANGUP (f1:1451), after CS_HANGUP (d1:931), or after
# CHANNEL_HANGUP_COMPLETE when reporting was quick (a:2002). A CDR POST runs in CS_REPORTING, before
# HANGUP_COMPLETE, so on a node posting CDRs the notice comes first; "after_cs_hangup" is the default.
LINGER_NOTICE = ("after_hangup", "after_cs_hangup", "after_hangup_complete")

# switch_scheduler_task_thread: task_thread_loop() runs the due tasks (runtime <= now in whole seconds), then
# waits up to 500 ms on its event queue, so a task due at second R runs at the next poll after R. The
# recordings show it 0.451 s (f1:1293), 0.191 s (f2:1586) and 0.431 s (f3:1052) after the second.
SCHEDULER_POLL = 0.5


class FreeSwitchStandIn:
    """A FreeSWITCH 1.10.12 stand-in speaking outbound and inbound ESL (see README.md)."""

    def __init__(self, controller: tuple[str, int] = ("127.0.0.1", 8084), inbound_port: int | None = 0,
                 password: str = "ClueCon", time_scale: float = 1.0, cdr_url: str | None = None,
                 hostname: str = "fs-node-1", clock: StandInClock | None = None, switchname: str | None = None,
                 cdr_retries: int = 2, cdr_delay: float = 1.0, cdr_timeout: float = 2.0,
                 cdr_error_dir: str | None = None, inbound_host: str = "127.0.0.1",
                 cdr: JsonCdrSettings | None = None, linger_notice: str = "after_cs_hangup",
                 scheduler_phase: float = 0.0) -> None:
        """`cdr` (mod_json_cdr's settings, e.g. `JsonCdrSettings.from_xml(rendered json_cdr.conf.xml)`)
        wins over the cdr_* shorthands, which keep the reference recording's settings otherwise.
        `linger_notice`: where the linger notice falls among the hang-up events, one of LINGER_NOTICE.
        `scheduler_phase`: where in each half second the core scheduler thread polls its tasks (0 <= phase < 0.5
        simulated seconds): a task due at whole second R runs at the first poll at or after R."""
        self.controller = controller
        self.clock = clock or StandInClock(time_scale)
        self.password = password
        self.hostname = hostname
        # A node rendered by `controlplane freeswitch render` has a switchname (its node name) apart
        # from the machine's host name; the recordings' vanilla config had none, so both read the same.
        self.switchname = switchname or hostname
        if cdr is None and cdr_url:
            cdr = JsonCdrSettings(cdr_url, retries=cdr_retries, delay=cdr_delay, timeout=cdr_timeout,
                                  err_dir=cdr_error_dir)
        self.cdr = cdr
        if linger_notice not in LINGER_NOTICE:
            raise ValueError(f"linger_notice must be one of {LINGER_NOTICE}")
        self.linger_notice = linger_notice
        if not 0 <= scheduler_phase < SCHEDULER_POLL:
            raise ValueError(f"scheduler_phase must be in [0, {SCHEDULER_POLL})")
        self.scheduler_phase = scheduler_phase
        self.far_ends = FarEndRegistry()
        self.info = NodeInfo(str(uuidlib.uuid4()), hostname, self.switchname)
        self._lock = threading.RLock()
        self._session_id = 0
        self.calls: list[Call] = []
        self.channels: dict[str, Call] = {}
        self.b_legs: dict[str, tuple[Call, Attempt]] = {}
        self._want_inbound_port = inbound_port
        self._inbound_host = inbound_host
        self.inbound = None
        self.alive = False
        self.cdr_posts: list[dict] = []
        self.cdr_failures: list[str] = []  # leg uuids, one per failed try
        self.originates: list[str] = []  # every `originate` argument, as received (api or bgapi)
        # The core scheduler (switch_scheduler.c): task id -> (group, timer). Ids count up from 1 per process.
        self._tasks: dict[int, tuple[str, threading.Timer]] = {}
        self._task_seq = 0

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def inbound_port(self) -> int | None:
        return self.inbound.port if self.inbound else None

    def start(self) -> Self:
        from .inbound import InboundServer

        self.alive = True
        if self._want_inbound_port is not None:
            self.inbound = InboundServer(self, self._inbound_host, self._want_inbound_port)
            self.inbound.start()
            self._want_inbound_port = self.inbound.port  # keep the port across restart_node()
        return self

    def stop(self) -> None:
        self.stop_node()

    def stop_node(self) -> None:
        """The whole media node dies: sockets closed, inbound server gone, calls vanish, no CDRs."""
        with self._lock:
            self.alive = False
            calls = list(self.channels.values())
            self.channels.clear()
            self.b_legs.clear()
            tasks, self._tasks = list(self._tasks.values()), {}
        for _group, timer in tasks:  # the scheduler dies with the process
            timer.cancel()
        for c in calls:
            with c.cond:
                c.vanished = True
                c.session_dead = True
                c.cond.notify_all()
            c._close_socket()
            c.done.set()
        if self.inbound:
            self.inbound.stop()
            self.inbound = None

    def restart_node(self) -> None:
        """An empty node comes back (new Core-UUID, same inbound port)."""
        self.stop_node()
        self.info = NodeInfo(str(uuidlib.uuid4()), self.hostname, self.switchname)
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_session_id(self) -> int:
        with self._lock:
            self._session_id += 1
            return self._session_id

    # ----------------------------------------------------------------------------- calls
    def place_call(self, spec: CallSpec | None = None, at: float | None = None) -> Call:
        """A SIP call arrives (at simulated instant `at`, default now); the dialplan runs
        ``socket <controller> async full``."""
        if not self.alive:
            raise RuntimeError("node is down")
        call = Call(self, spec or CallSpec(), at=at)
        with self._lock:
            self.calls.append(call)
            self.channels[call.uuid] = call
        call.start()
        return call

    def channel_gone(self, call: Call) -> None:
        with self._lock:
            self.channels.pop(call.uuid, None)

    def register_b_leg(self, call: Call, att: Attempt) -> None:
        with self._lock:
            self.b_legs[att.uuid] = (call, att)

    def find(self, uuid: str) -> Call | None:
        with self._lock:
            c = self.channels.get(uuid)
            if c is not None and not c.hungup:
                return c
            return None

    def schedule_at(self, instant: float, fn: Callable[[], object]) -> threading.Timer:
        """Run fn at a simulated instant (fn gets no argument; pass the instant in the closure)."""
        return self.schedule(instant - self.clock.now(), fn)

    def schedule(self, sim_delay: float, fn: Callable[[], object]) -> threading.Timer:
        t = threading.Timer(self.clock.real(sim_delay), fn)
        t.daemon = True
        t.start()
        return t

    def add_task(self, sim_delay: float, fn: Callable[[], object], group: str) -> int:
        """switch_scheduler_add_task: a one-shot task in ``group``; removed from the table when it fires."""
        with self._lock:
            self._task_seq += 1
            task_id = self._task_seq

        def run() -> None:
            with self._lock:
                if self._tasks.pop(task_id, None) is None:
                    return  # deleted (sched_del) in the meantime
            fn()

        timer = threading.Timer(self.clock.real(sim_delay), run)
        timer.daemon = True
        with self._lock:
            self._tasks[task_id] = (group, timer)
        timer.start()
        return task_id

    def del_tasks(self, id_or_group: str) -> int:
        """sched_del: a digit string is a task id, anything else a group (mod_commands sched_del_function)."""
        with self._lock:
            if id_or_group.isdigit():
                ids = [int(id_or_group)] if int(id_or_group) in self._tasks else []
            else:
                ids = [i for i, (g, _t) in self._tasks.items() if g == id_or_group]
            timers = [self._tasks.pop(i)[1] for i in ids]
        for t in timers:
            t.cancel()
        return len(timers)

    def scheduled_tasks(self, group: str | None = None) -> list[int]:
        """Ids of the tasks still pending (optionally of one group, e.g. a channel uuid)."""
        with self._lock:
            return sorted(i for i, (g, _t) in self._tasks.items() if group is None or g == group)

    def sched_hangup(self, call: Call, arg: str, now: float | None = None) -> int | None:
        """sched_hangup [+]N [cause]: whole-second scheduler, fires at floor(now)+N (fact 26).

        switch_ivr_schedule_hangup() adds the task with group = the channel uuid, so ``sched_del <uuid>``
        removes every scheduled hangup of that channel.
        """
        parts = arg.split()
        if not parts:
            return None
        when = parts[0]
        cause = parts[1] if len(parts) > 1 else "ALLOTTED_TIMEOUT"
        now = self.clock.now() if now is None else now
        try:
            n = int(when.lstrip("+"))
        except ValueError:
            return None
        due = math.floor(now) + n if when.startswith("+") else float(n)
        fire = self.scheduler_poll_after(due)
        return self.add_task(max(0.0, fire - now), lambda: call.request_hangup(cause, at=max(fire, now)),
                             group=call.uuid)

    def scheduler_poll_after(self, due: float) -> float:
        """The first poll of the scheduler thread at or after `due` (polls at phase + k * SCHEDULER_POLL)."""
        k = math.ceil((due - self.scheduler_phase) / SCHEDULER_POLL - 1e-9)
        return self.scheduler_phase + k * SCHEDULER_POLL

    # ----------------------------------------------------------------------------- events for inbound
    def publish(self, name: str, headers: list[tuple[str, str]], body: str | None) -> None:
        if self.inbound:
            self.inbound.publish(name, headers, body)

    # ----------------------------------------------------------------------------- outbound commands
    def handle_outbound_command(self, call: Call, headers: list[tuple[str, str]], body: bytes,
                                raw: bytes | None = None) -> None:
        first = headers[0][0] if headers else ""
        if raw is not None:
            line = wire.command_line(raw)
        else:
            line = first if not headers[0][1] else f"{headers[0][0]}: {headers[0][1]}"
        hd = {k: v for k, v in headers[1:]}
        cmd, _, rest = line.partition(" ")
        send = call.send
        if cmd == "connect":
            with call.lock:
                hdrs = call.chan.channel_data(self.clock.now())
            hdrs += [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"), ("Socket-Mode", "async"),
                     ("Control", "full")]
            send("".join(f"{k}: {wire.url_encode(v)}\n" for k, v in hdrs).encode() + b"\n")
            call.after_connect()
        elif cmd == "myevents":
            if call.myevents:
                send(wire.command_reply("-ERR aready enabled."))
            else:
                call.myevents = True
                send(wire.command_reply("+OK Events Enabled"))
        elif cmd == "event":
            toks = rest.split()
            if toks and toks[0] in ("plain", "json", "xml"):
                toks = toks[1:]
            call.event_names.update(toks)
            send(wire.command_reply("+OK event listener enabled plain"))
        elif cmd == "noevents":
            call.event_names.clear()
            call.myevents = False
            send(wire.command_reply("+OK no longer listening for events"))
        elif cmd == "filter":
            k, _, v = rest.partition(" ")
            call.filters.append((k, v))
            send(wire.command_reply(f"+OK filter added. [{k}]=[{v}]"))
        elif cmd == "linger":
            if rest.strip():
                call.linger = int(rest.strip())
                send(wire.command_reply(f"+OK will linger {call.linger} seconds"))
            else:
                call.linger = -1
                send(wire.command_reply("+OK will linger"))
        elif cmd == "nolinger":
            call.linger = None
            send(wire.command_reply("+OK will not linger"))
        elif cmd == "exit":
            call.do_exit()
        elif cmd == "getvar":
            with call.lock:
                val = call.chan.vars.get(rest.strip())
            send(wire.command_reply(val if val else "-ERR command not found"))
        elif cmd == "api":
            after: list[Callable[[], object]] = []
            send(wire.api_response(self.api(rest, after)))
            for fn in after:
                fn()
        elif cmd == "bgapi":
            self._bgapi(rest, hd.get("Job-UUID"), call.send, owner=call)
        elif cmd == "sendmsg":
            self._sendmsg(call, hd, body)
        else:
            send(wire.command_reply("-ERR command not found"))

    def _bgapi(self, rest: str, job: str | None, send: Callable[[bytes], None], owner: Call | None = None,
               deliver: Callable[[list[tuple[str, str]], str], None] | None = None) -> None:
        job = job or str(uuidlib.uuid4())
        send(wire.command_reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)]))
        cmd, _, arg = rest.strip().partition(" ")

        def run() -> None:
            result = self.api(rest)
            from .channel import base_headers

            hdrs = base_headers(self.info, "BACKGROUND_JOB", self.clock.now())
            hdrs += [("Job-UUID", job)]
            if owner is not None:
                hdrs.append(("Job-Owner-UUID", owner.uuid))
            hdrs += [("Job-Command", cmd), ("Job-Command-Arg", arg)]
            if owner is not None:
                owner.emit("BACKGROUND_JOB", hdrs, result)
            elif deliver is not None:
                deliver(hdrs, result)

        threading.Thread(target=run, daemon=True).start()

    def _sendmsg(self, call: Call, hd: dict[str, str], body: bytes) -> None:
        call.send(wire.command_reply("+OK"))
        kind = hd.get("call-command")
        if kind not in ("execute", "hangup"):
            return  # l:268: +OK, no effect
        cmd = dict(hd)
        cmd["_at"] = repr(self.clock.now())  # when it arrived; the session thread takes it a tick later
        if body:
            cmd["_body"] = body.decode("utf-8", "replace")
        with call.cond:
            if call.hungup or call.channel_destroyed:
                return  # d4:1313 +OK after the channel is gone
            call.queue.append(cmd)
            call.cond.notify_all()

    # ----------------------------------------------------------------------------- api
    def api(self, line: str, after: list[Callable[[], object]] | None = None) -> str:
        """Run an api command; bodies as FreeSWITCH returns them (fact 6, 25, 30).

        Work that FreeSWITCH hands to the session thread (uuid_broadcast) goes to ``after``, which the
        caller runs once the reply is on the wire; without ``after`` it starts at once.
        """
        cmd, _, arg = line.strip().partition(" ")
        args = arg.split()
        if cmd == "uuid_getvar":
            if len(args) < 2:
                return "-USAGE: <uuid> <var> [<timeout>]\n"
            c = self.find(args[0])
            if c is None:
                return "-ERR No such channel!\n"
            with c.lock:
                val = c.chan.vars.get(args[1])
            return val if val is not None else "_undef_"
        if cmd == "uuid_exists":
            return "true" if args and self.find(args[0]) else "false"
        if cmd == "uuid_kill":
            # An originate's leg still ringing is not found either (a real 1.10.12 node: uuid_kill, uuid_exists and
            # hupall do not reach it until it answers).
            c = self.find(args[0]) if args else None
            if c is None:
                return "-ERR No such channel!\n"
            cause = args[1] if len(args) > 1 else "NORMAL_CLEARING"
            threading.Thread(target=c.request_hangup, args=(cause,), daemon=True).start()
            return "+OK\n"
        if cmd == "sched_hangup":
            if len(args) < 2:
                return "-USAGE: [+]<time> <uuid> [<cause>]\n"
            c = self.find(args[1])
            if c is None:
                return "-ERR No such channel!\n"
            self.sched_hangup(c, " ".join([args[0]] + args[2:]))
            return "+OK\n"
        if cmd == "sched_del":
            # mod_commands.c sched_del_function: "+OK Deleted: N" even when N is 0 (there is no -ERR for
            # an unknown id; "-ERR no such id" belongs to unsched_api).
            if not arg.strip():
                return "-ERR Invalid syntax\n"
            return f"+OK Deleted: {self.del_tasks(arg.strip())}\n"
        if cmd == "uuid_broadcast":
            # mod_commands.c uuid_broadcast_function: replies "+OK Message Sent" without checking the uuid.
            if len(args) < 2:
                return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
            c = self.find(args[0])
            if c is not None:
                b = c.broadcast(args[1], args[2].lower() if len(args) > 2 else "aleg", start=after is None)
                if after is not None:
                    after.append(lambda: c.start_broadcast(b))
            return "+OK Message Sent\n"
        if cmd == "uuid_setvar":
            # "<uuid> <var> [value]"; the value is the rest of the line (switch_separate_string into 3).
            parts = arg.strip().split(" ", 2)
            if len(parts) < 2 or not parts[0]:
                return "-USAGE: <uuid> <var> [value]\n"
            c = self.find(parts[0])
            if c is None:
                return "-ERR No such channel!\n"
            if not parts[1]:
                return "-ERR No variable specified\n"
            c.set_var(parts[1], parts[2] if len(parts) > 2 else None)
            return "+OK\n"
        if cmd == "uuid_setvar_multi":
            usage = "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
            uuid, _, rest = arg.strip().partition(" ")
            if not rest:
                return usage
            c = self.find(uuid)
            if c is None:
                return "-ERR No such channel!\n" + usage
            n = 0
            for item in separate_string(rest, ";")[:64]:  # argv[64] in uuid_setvar_multi_function
                name, eq, value = item.partition("=")
                if name:
                    c.set_var(name, value if eq else None)
                    n += 1
            return "+OK\n" if n else usage
        if cmd == "originate":
            return self._originate(arg)
        if cmd == "show":
            return self._show(arg)
        if cmd == "status":
            return f"UP 0 years, 0 days\nFreeSWITCH ({self.hostname}) is ready\n{len(self.channels)} session(s)\n"
        if cmd == "hostname":
            return self.hostname
        return f"-ERR {cmd} Command not found!\n"

    def _originate(self, arg: str) -> str:
        """`originate {vars}<endpoint> <exten> XML <context>`: ring the endpoint (a far end of `far_ends`, a live
        one over the SIP side), and once it answers run the dialplan (the socket to the controller) on that leg,
        `exten` as its destination. Blocks like FreeSWITCH's until then (bgapi runs it in a thread): `+OK <uuid>`,
        or `-ERR <cause>` when the endpoint refuses, does not answer within originate_timeout (NO_ANSWER) or is
        not there. The `&app(...)` form and a second leg are not modelled."""
        with self._lock:
            self.originates.append(arg.strip())
        parts = _split_top(arg.strip(), " ")
        if len(parts) < 2 or parts[1].startswith("&"):
            return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] ...\n"
        variables, groups = parse_dial_string(parts[0])
        if not groups:
            return "-ERR INVALID_GATEWAY\n"
        leg = groups[0][0]
        variables = {**variables, **leg.vars}
        timeout = float(variables.get("originate_timeout") or 60)
        fe = self.far_ends.lookup(leg.endpoint)
        spec = CallSpec(caller_number=variables.get("origination_caller_id_number", "0000000000"),
                        caller_name=variables.get("origination_caller_id_name", "FreeSWITCH"),
                        destination=parts[1], originated=variables, phone_endpoint=leg.endpoint,
                        originate_context=parts[3] if len(parts) > 3 else "default",
                        caller_hangs_up_after=None if fe.live else fe.hangup_after)
        if not self.alive:
            return "-ERR NORMAL_TEMPORARY_FAILURE\n"
        call = Call(self, spec)
        failure = self._ring(call, leg, fe, timeout)
        if failure:
            return f"-ERR {failure}\n"
        call.vnow = call.resume_at = self.clock.now()  # answered now; created (t_start) when it began to ring
        with self._lock:
            self.calls.append(call)
            self.channels[call.uuid] = call
        call.start()
        return f"+OK {call.uuid}\n"

    def _ring(self, call: Call, leg: object, fe: object, timeout: float) -> str | None:
        """Ring an originate's leg until it answers (None) or fails: the cause (refused, NO_ANSWER after
        `timeout`)."""
        deadline = self.clock.now() + timeout
        phone = None
        if fe.live is not None:
            phone = fe.live(call, leg, Attempt(leg.endpoint, call.uuid, created_at=self.clock.now()))
            answered = lambda: phone.answered_at is not None  # noqa: E731
            failed = lambda: phone.rejected_code is not None  # noqa: E731
        else:
            answers = fe.answer_after is not None and not fe.unreachable and fe.reject_code is None
            at = self.clock.now() + (fe.answer_after if answers else fe.reject_after)
            answered = lambda: answers and self.clock.now() >= at  # noqa: E731
            failed = lambda: fe.reject_code is not None and not fe.unreachable and self.clock.now() >= at  # noqa: E731
        with call.cond:
            while not (answered() or failed()) and self.clock.now() < deadline:
                self.clock.wait(call.cond, min(deadline - self.clock.now(), 0.05 * self.clock.time_scale))
        if answered():
            if phone is not None:
                threading.Thread(target=self._phone_dialog, args=(call, phone), daemon=True).start()
            return None
        if phone is not None:
            phone.cancel()
        code = phone.rejected_code if phone is not None else fe.reject_code if failed() else None
        return sip_cause_to_freeswitch(code) if code else "NO_ANSWER"

    @staticmethod
    def _phone_dialog(call: Call, phone: object) -> None:
        """An originated leg whose phone is a real UA: its BYE hangs the leg up, the leg's end sends BYE."""
        with call.cond:
            while phone.ended_at is None and not call.hangup_started and not call.vanished:
                call.cond.wait(0.2)
            by_phone = phone.ended_at is not None and not call.hangup_started
        if by_phone:
            call.caller_hangs_up()
        else:
            phone.hangup()

    def _rows(self) -> list[dict[str, str]]:
        rows = []
        with self._lock:
            calls = [c for c in self.channels.values() if not c.hungup]
        for c in calls:
            with c.lock:
                p = c.chan.profile
                v = c.chan.vars
                rows.append({
                    "uuid": c.uuid, "direction": "inbound",
                    "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.created)),
                    "created_epoch": str(int(p.created)), "name": p.channel_name, "state": c.chan.state,
                    "cid_name": p.caller_id_name, "cid_num": p.caller_id_number, "ip_addr": p.network_addr,
                    "dest": p.destination, "application": v.get("current_application") or "",
                    "application_data": v.get("current_application_data") or "", "dialplan": "XML",
                    "context": "public", "read_codec": "PCMU" if c.chan.media else "",
                    "read_rate": "8000" if c.chan.media else "", "read_bit_rate": "64000" if c.chan.media else "",
                    "write_codec": "PCMU" if c.chan.media else "", "write_rate": "8000" if c.chan.media else "",
                    "write_bit_rate": "64000" if c.chan.media else "", "secure": "", "hostname": self.switchname,
                    "presence_id": v.get("presence_id") or "", "presence_data": "", "accountcode": "",
                    "callstate": c.chan.call_state, "callee_name": p.callee_name or "",
                    "callee_num": p.callee_number or "", "callee_direction": "", "call_uuid": "",
                    "sent_callee_name": "", "sent_callee_num": "", "initial_cid_name": p.caller_id_name,
                    "initial_cid_num": p.caller_id_number, "initial_ip_addr": p.network_addr,
                    "initial_dest": p.destination, "initial_dialplan": "XML", "initial_context": "public",
                })
        return rows

    def _show(self, arg: str) -> str:
        a = arg.strip().split()
        rows = self._rows()
        what = a[0] if a else ""
        if what in ("calls", "channels") and "count" in a:
            return f"\n{len(rows)} total.\n"  # h-in:42-47
        if what in ("calls", "channels") and a[-2:] == ["as", "json"]:
            if not rows:
                return json.dumps({"row_count": 0}) + "\n"
            return json.dumps({"row_count": len(rows), "rows": rows}) + "\n"
        if what in ("calls", "channels"):
            if not rows:
                return "\n0 total.\n"
            cols = list(rows[0].keys())
            out = [",".join(cols)] + [",".join(r[k] for k in cols) for r in rows]
            return "\n".join(out) + f"\n\n{len(rows)} total.\n"
        return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like " \
               "<match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|" \
               "chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"

    # ----------------------------------------------------------------------------- CDR
    def post_cdr(self, call: Call, before_retry: Callable[[], object] | None = None) -> float | None:
        """mod_json_cdr's A-leg POST, synchronous in CS_REPORTING: the simulated seconds it took, None if
        there is none (see jsoncdr.post)."""
        if self.cdr and self.alive:
            from .jsoncdr import post_a_leg

            spent: list[float] = []
            post_a_leg(self, call, before_retry, spent)
            return spent[0] if spent else 0.0
        return None

    def post_b_leg_cdr(self, call: Call, att: Attempt) -> None:
        # mod_json_cdr's my_on_reporting skips a leg with an originator unless log-b-leg is on.
        if self.cdr and self.cdr.log_b_leg and self.alive:
            from .jsoncdr import post_b_leg

            threading.Thread(target=post_b_leg, args=(self, call, att), daemon=True).start()


