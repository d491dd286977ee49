"""Calls through Kamailio, a real FreeSWITCH and the controller, beside the same FreeSWITCH with a static dialplan.

    FREESWITCH_BIN=/opt/freeswitch/bin/freeswitch .venv/bin/python bench/real_node.py \\
        [--rates 10,20,40,60,80,120] [--seconds 15] [--hold 1.0]

Uses an installed FreeSWITCH (FREESWITCH_BIN, else `freeswitch` on PATH) and exits 2 saying so when there is
none; nothing here builds or fetches FreeSWITCH. Also needs kamailio and sipp on PATH, MariaDB and Redis.

One run, every address on loopback:

  sipp UAC (customer IP trunk, 127.0.0.130) -> Kamailio (127.0.0.1, the project's config, rendered on free
  ports) -> FreeSWITCH (127.0.0.121, config rendered by controlplane.freeswitch.render, started by
  LocalFreeSwitch) -> [static dialplan | bare ESL app | controller] -> bridge back through Kamailio
  (fs_path, X-CP-Route: carrier) -> sipp UAS carrier (127.0.0.140) answering at once. The caller sends
  BYE after --hold seconds.

Its own database (cp_bench_rn_<pid>, migrated, dropped at the end) and Redis prefix; a tenant with credit,
a customer trunk account (IP-authenticated at Kamailio: no digest per call), a carrier with a buy deck, the
FreeSWITCH node registered with services.nodes.add_node and written to Kamailio's dispatcher by
kamailio.sync. The trunk's address is on the IP allow list, as the REGISTER benchmark does for its source:
Kamailio's pike check (64 requests per 2 s per source by default) covers customer trunks too and would ban
one sending more than ~10 calls/s (INVITE + ACK + BYE each).

Modes ("same FreeSWITCH, same calls"): one FreeSWITCH process; at every rate the rendered
dialplan/controlplane.xml is swapped and `reloadxml` run, three modes in turn:
  static dialplan  a `bridge` with the leg variables the controller sends (X-CP-Route: carrier,
                   continue_on_fail, hangup_after_bridge, leg_timeout) to the same carrier through Kamailio;
  bare ESL app     the production dialplan's `socket ... async full` pointed at an outbound-ESL app that
                   subscribes as the controller does and bridges at once (the floor of any ESL program);
  controller       the production dialplan as rendered: `python -m controlplane.esl` decides every call.
The controller and the bare app run through all modes (idle when not in use). FreeSWITCH's JSON CDR push
goes to a stub in this process that answers 200 (the web app is not measured; its write would be the
no-op second write of a CDR the controller has written). The controller's own decision time is read from
its Prometheus histogram (cp_call_decision_seconds, CP_CONTROLLER_METRICS_PORT).

Per rate and mode: calls completed per second, set-up time (INVITE sent -> 200 received at the caller:
sipp's rtd, 1 ms resolution, from its -trace_rtt CSV) p50 / p99 / mean, and CPU ms per completed call of
Kamailio (all its processes), FreeSWITCH, the ESL app, MariaDB and Redis (utime+stime from
/proc/<pid>/stat before and after the step), plus sipp's own CPU, each process's core use while the calls
ran and what the rest of the machine used. A mode stops at the first rate where more than 5% of the calls
fail. All of it shares the machine's cores: on two cores the rates where a mode breaks are lower bounds.
MariaDB and Redis are the machine's shared servers: their figures include anything else using them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controlplane.testing.lab import (  # noqa: E402
    SDP,
    Procs,
    carrier_scenario,
    node_settings,
    start_kamailio,
    start_sipp_uas,
    wait_until,
)

EDGE_IP, FS_IP, TRUNK_IP, CARRIER_IP = "127.0.0.1", "127.0.0.121", "127.0.0.130", "127.0.0.140"
NODE_NAME = "fs-bench-1"
NUMBER = "+49891234567"
CLK = os.sysconf("SC_CLK_TCK")
MODES = ("baseline", "bare", "controller")  # run in this order at every rate
MODE_LABEL = {"baseline": "static dialplan", "bare": "bare ESL app", "controller": "controller"}

CARRIER_XML = carrier_scenario()  # answers at once, waits for the BYE


def caller_xml(hold_ms: int) -> str:
    """The customer trunk: INVITE (rtd 1 starts), 200 (rtd 1 stops), ACK, hold, BYE, 200.

    Under load FreeSWITCH's 180 for the A leg can reach the caller after its 200 (both are sent from different
    threads); the hold is a receive of that 180 with a timeout, so a straggler does not abort the call (it
    restarts the hold)."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="trunk caller">
<send retrans="500" start_rtd="1"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:1000@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: cp-bench
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rtd="1" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="180" timeout="{hold_ms}" ontimeout="bye"/>
<pause milliseconds="{hold_ms}"/>
<label id="bye"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200" crlf="true"/>
</scenario>
"""


# An outbound-ESL app that bridges at once without deciding anything (as in bench/controller.py), subscribed to
# what the controller subscribes to: the floor of handing a call to an outbound-ESL program, FreeSWITCH's side
# of it included. (With `myevents` instead, FreeSWITCH's event dispatch tests every event against every call's
# socket and saturates much earlier.)
BARE_APP = '''
from gevent import monkey; monkey.patch_all()
import sys
import gevent
from gevent.server import StreamServer
from greenswitch.esl import OutboundSession
from controlplane.esl.server import close_session

DIAL = sys.argv[2]

def handle(sock, addr):
    s = OutboundSession(addr, sock)
    try:
        s.connect()
        # the controller's subscription (controlplane/esl/channel.py): this call's events, three types
        s.send("filter Unique-ID " + s.uuid)
        s.send("event plain CHANNEL_EXECUTE_COMPLETE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE")
        s.send("linger")
        s.send("sendmsg\\ncall-command: execute\\nexecute-app-name: set\\n"
               "execute-app-arg: continue_on_fail=true")
        s.send("sendmsg\\ncall-command: execute\\nexecute-app-name: set\\n"
               "execute-app-arg: hangup_after_bridge=true")
        s.send("sendmsg\\ncall-command: execute\\nexecute-app-name: bridge\\nexecute-app-arg: " + DIAL)
        while s.connected and not s._lingering:
            gevent.sleep(0.05)
    finally:
        close_session(s)

StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=1024).serve_forever()
'''


def leg(number: str, carrier: str, kamailio: str) -> str:
    """The carrier leg as the controller dials it (controlplane/freeswitch/dial_strings.py DialStrings.carrier)."""
    return (f"[sip_h_X-CP-Route=carrier,leg_timeout=60]sofia/controlplane/{number}@{carrier}"
            f";fs_path=sip:{kamailio}%3Blr")


def static_dialplan(carrier: str, kamailio: str) -> str:
    """The baseline: what the controller ends up sending for these calls, without deciding anything."""
    return f"""<include>
  <!-- bench/real_node.py baseline: a static bridge to the carrier through Kamailio, no controller. -->
  <context name="controlplane">
    <extension name="static">
      <condition field="destination_number" expression="^\\+?(\\d+)$">
        <action application="set" data="continue_on_fail=true" inline="true"/>
        <action application="set" data="hangup_after_bridge=true" inline="true"/>
        <action application="bridge" data="{leg("$1", carrier, kamailio)}"/>
      </condition>
    </extension>
  </context>
</include>
"""


# ================================================================================================= processes
def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def group_pids(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out


def pids_named(name: str, needle: str = "") -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in found]
    if needle:
        def cmd(p: int) -> str:
            try:
                return Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                return ""
        pids = [p for p in pids if needle in cmd(p)] or pids
    return pids


class CdrSink:
    """Stands in for the web app's CDR endpoint: FreeSWITCH's mod_json_cdr posts here, gets 200."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                try:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:  # the node gave up on this post (its timeout): it retries or spools
                    self.close_connection = True

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ================================================================================================= the rig
@dataclass
class Rig:
    work: Path
    procs: Procs
    db_url: str
    kamailio: subprocess.Popen | None = None
    kamailio_port: int = 0
    rpc: object = None  # KamailioRpc
    edge: object = None  # controlplane.testing.lab.Edge
    controller: subprocess.Popen | None = None
    controller_port: int = 0
    metrics_port: int = 0
    bare: subprocess.Popen | None = None
    bare_port: int = 0
    fs: object = None  # LocalFreeSwitch
    carrier: subprocess.Popen | None = None
    carrier_port: int = 0
    production_dialplan: str = ""
    mode: str = ""
    watched: dict[str, list[int]] = field(default_factory=dict)


def prepare_data(db_url: str, carrier_port: int, fs_port: int, esl_port: int) -> None:
    from controlplane.db import session_scope
    from controlplane.kamailio.tables import sync
    from controlplane.models import IpListAction, IpListEntry, SipAccountKind
    from controlplane.services.accounts import create_sip_account
    from controlplane.services.carriers import create_carrier
    from controlplane.services.decks import import_deck
    from controlplane.services.ledger import add_credit
    from controlplane.services.nodes import add_node
    from controlplane.services.plans import create_plan
    from controlplane.services.scope import Scope
    from controlplane.services.tenants import create_tenant, ensure_operator

    with session_scope(db_url) as s:
        ensure_operator(s)
        import_deck(s, Scope.operator(), "retail", ["49,Germany,0.60,1,1,0\n"])
        import_deck(s, Scope.operator(), "buy", ["49,Germany,0.30,1,1,0\n"])
        create_plan(s, Scope.operator(), name="basic", decks=["retail"])
        create_carrier(s, Scope.operator(), name="carrier-a", host=CARRIER_IP, port=carrier_port, buy_deck="buy")
        tenant = create_tenant(s, Scope.operator(), name="bench", realm="bench.example.com", plan="basic")
        create_sip_account(s, Scope.operator(),
                           tenant, "bench-pbx", "bench-secret-1", kind=SipAccountKind.TRUNK, source_ip=TRUNK_IP)
        add_credit(s, Scope.operator(), tenant, Decimal("1000000"), "bench")
        s.add(IpListEntry(action=IpListAction.ALLOW, address=TRUNK_IP))  # see the docstring: pike
        add_node(s, Scope.operator(),
                 name=NODE_NAME, sip=f"{FS_IP}:{fs_port}", esl=f"127.0.0.1:{esl_port}", esl_password="ClueCon",
                 weight=100)
        s.commit()
        report = sync(s, reload=False)  # Kamailio is started afterwards and loads the tables itself
        if report.errors:
            raise SystemExit(f"kamailio sync: {report.errors}")


def start_edge(rig: Rig) -> None:
    """Kamailio from the project's config on free ports (controlplane.testing.lab.start_kamailio)."""
    rig.edge = start_kamailio(rig.procs, rig.work / "kamailio", EDGE_IP)
    rig.kamailio, rig.kamailio_port, rig.rpc = rig.edge.proc, rig.edge.port, rig.edge.rpc
    os.environ.update(rig.edge.env)


def start_apps(rig: Rig) -> None:
    """The controller (as in production: python -m controlplane.esl) and the bare ESL app."""
    from controlplane.testing.net import free_port, wait_port

    rig.controller_port, rig.metrics_port, rig.bare_port = free_port(), free_port(), free_port()
    env = dict(os.environ, CP_CONTROLLER_PORT=str(rig.controller_port),
               CP_CONTROLLER_METRICS_PORT=str(rig.metrics_port), CP_KAMAILIO_SIP=f"{EDGE_IP}:{rig.kamailio_port}",
               CP_LOG_LEVEL="WARNING", CP_SPOOL_DIR=str(rig.work / "spool"))
    rig.controller = rig.procs.start("controller", [sys.executable, "-m", "controlplane.esl"], env=env,
                                     stdout=(rig.work / "controller.log").open("wb"), stderr=subprocess.STDOUT)
    dial = leg("49891234567", f"{CARRIER_IP}:{rig.carrier_port}", f"{EDGE_IP}:{rig.kamailio_port}")
    rig.bare = rig.procs.start("bare ESL app", [sys.executable, "-c", BARE_APP, str(rig.bare_port), dial], env=env,
                               stdout=(rig.work / "bare-app.log").open("wb"), stderr=subprocess.STDOUT)
    wait_port(rig.controller_port, timeout=30)
    wait_port(rig.bare_port, timeout=30)


def start_freeswitch(rig: Rig, fs_port: int, esl_port: int, cdr_url: str) -> None:
    from controlplane.testing.freeswitch import LocalFreeSwitch

    settings = node_settings(f"{EDGE_IP}:{rig.kamailio_port}", rig.controller_port, cdr_url, FS_IP, fs_port, esl_port,
                             NODE_NAME, "fs-node", "bench-cdr")
    rig.fs = LocalFreeSwitch(settings, rig.work / "fs", node_name=NODE_NAME)
    rig.fs.start(timeout=60)
    rig.production_dialplan = dialplan_file(rig).read_text()
    if os.environ.get("CP_BENCH_TRACE") == "1":
        rig.fs.api("fsctl loglevel debug")
        rig.fs.api("sofia loglevel all 9")


def start_carrier(rig: Rig) -> None:
    rig.carrier, rig.carrier_port = start_sipp_uas(rig.procs, rig.work, "carrier", CARRIER_XML, CARRIER_IP,
                                                   trace=os.environ.get("CP_BENCH_TRACE") == "1")


def dialplan_file(rig: Rig) -> Path:
    return rig.fs.workdir / "conf" / "dialplan" / "controlplane.xml"


def set_mode(rig: Rig, mode: str) -> None:
    """Swap the rendered dialplan and reloadxml: same FreeSWITCH process, same config otherwise."""
    if rig.mode == mode:
        return
    production_target = f"127.0.0.1:{rig.controller_port}"
    if production_target not in rig.production_dialplan:
        raise SystemExit(f"rendered dialplan has no socket to {production_target}:\n{rig.production_dialplan}")
    text = {
        "controller": rig.production_dialplan,
        "bare": rig.production_dialplan.replace(production_target, f"127.0.0.1:{rig.bare_port}"),
        "baseline": static_dialplan(f"{CARRIER_IP}:{rig.carrier_port}", f"{EDGE_IP}:{rig.kamailio_port}"),
    }[mode]
    dialplan_file(rig).write_text(text)
    reply = rig.fs.api("reloadxml")
    if "+OK" not in reply:
        raise SystemExit(f"reloadxml failed: {reply}")
    rig.mode = mode


def fs_channels(rig: Rig) -> int:
    reply = rig.fs.api("show channels count")
    for word in reply.split():
        if word.isdigit():
            return int(word)
    return -1


def decision_metrics(rig: Rig) -> tuple[float, float]:
    """(sum of seconds, count) of the controller's own cp_call_decision_seconds histogram."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{rig.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("cp_call_decision_seconds_sum") or line.startswith("cp_call_decision_seconds_count"):
            name, value = line.split()[:2]
            values[name] = float(value)
    return values.get("cp_call_decision_seconds_sum", 0.0), values.get("cp_call_decision_seconds_count", 0.0)


# ================================================================================================= one step
@dataclass
class Step:
    mode: str
    rate: int
    offered: int
    ok: int = 0
    failed: int = 0
    answered: int = 0
    cps: float = float("nan")
    p50: float = float("nan")
    p99: float = float("nan")
    mean: float = float("nan")
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    load_seconds: float = 0.0
    load_cpu: dict[str, float] = field(default_factory=dict)
    cdrs: int = 0
    decision_ms: float = float("nan")
    drained: bool = True

    @property
    def fail_ratio(self) -> float:
        return (self.offered - self.ok) / self.offered if self.offered else 1.0


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def cdr_count(db_url: str) -> int:
    from sqlalchemy import func, select

    from controlplane.db import session_scope
    from controlplane.models import Cdr

    with session_scope(db_url) as s:
        return s.scalar(select(func.count()).select_from(Cdr)) or 0


def cpu_snapshot(rig: Rig) -> dict[str, float]:
    """CPU seconds so far of every watched process, the sipp caller (a waited-for child), this process, the
    machine."""
    snap = {k: cpu_seconds(v) for k, v in rig.watched.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["sipp caller"] = children.ru_utime + children.ru_stime
    snap["bench"] = time.process_time()
    snap["machine"] = machine_busy()
    return snap


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {k: after[k] - before[k] for k in before}
    delta["others"] = max(0.0, delta["machine"] - sum(v for k, v in delta.items() if k != "machine"))
    return delta


def run_step(rig: Rig, mode: str, rate: int, seconds: float, hold: float, record: bool = True) -> Step:
    from controlplane.testing.net import free_port

    set_mode(rig, mode)
    offered = max(1, int(rate * seconds))
    step = Step(mode, rate, offered)
    d = rig.work / f"{'' if record else 'warmup-'}{mode}-{rate}"
    d.mkdir()
    xml = d / "caller.xml"
    xml.write_text(caller_xml(int(hold * 1000)))
    stat = d / "stat.csv"
    limit = int(rate * (hold + 5)) + 50
    args = ["sipp", f"{EDGE_IP}:{rig.kamailio_port}", "-sf", str(xml), "-s", NUMBER, "-i", TRUNK_IP,
            "-p", str(free_port(TRUNK_IP)), "-t", "u1", "-r", str(rate), "-m", str(offered), "-l", str(limit),
            "-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
            "-trace_err", "-error_file", str(d / "errors.log"), "-recv_timeout", "15000",
            "-timeout", f"{int(seconds + hold + 40)}s", "-max_recv_loops", "100000", "-max_sched_loops", "100000"]
    if os.environ.get("CP_BENCH_TRACE") == "1":
        args += ["-trace_msg", "-message_file", str(d / "messages.log")]
    cdrs_before = cdr_count(rig.db_url)
    decisions_before = decision_metrics(rig)
    before = cpu_snapshot(rig)
    started = time.monotonic()
    uac = rig.procs.start("sipp caller", args, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        uac.wait(seconds + hold + 90)
    rig.procs.stop(uac)
    step.load_seconds = time.monotonic() - started
    step.load_cpu = cpu_delta(before, cpu_snapshot(rig))  # while sipp placed and held calls: core use
    # The step ends when FreeSWITCH has no channel left (then a moment for the CDR writers).
    try:
        wait_until(lambda: fs_channels(rig) == 0, 20, "FreeSWITCH to end its channels")
    except TimeoutError:  # calls whose caller gave up: cleared, so the next step starts from nothing
        step.drained = False
        rig.fs.api("hupall NORMAL_CLEARING")
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: fs_channels(rig) == 0, 10, "FreeSWITCH to end its channels")
    time.sleep(1.0)
    step.seconds = time.monotonic() - started
    step.cpu = cpu_delta(before, cpu_snapshot(rig))  # the whole step: CPU per call
    step.cdrs = cdr_count(rig.db_url) - cdrs_before
    total, count = decision_metrics(rig)
    if count > decisions_before[1]:
        step.decision_ms = 1000 * (total - decisions_before[0]) / (count - decisions_before[1])
    lines = stat.read_text().strip().splitlines() if stat.exists() else []
    if len(lines) >= 2:
        head, last = lines[0].split(";"), lines[-1].split(";")
        step.ok = int(last[head.index("SuccessfulCall(C)")])
        step.failed = int(last[head.index("FailedCall(C)")])
    rtt = next(iter(d.glob("*_rtt.csv")), None)
    times, at = [], []
    for line in (rtt.read_text().splitlines()[1:] if rtt else []):
        parts = line.split(";")
        if len(parts) >= 2:
            at.append(float(parts[0]) / 1000)
            times.append(float(parts[1]))
    step.answered = len(times)
    if times:
        step.p50, step.p99, step.mean = pct(times, 0.50), pct(times, 0.99), statistics.fmean(times)
        span = max(at) - min(at) + 1.0 / rate
        step.cps = step.ok / span if span > 0 else float("nan")
    return step


# ================================================================================================= output
ROWS = ("kamailio", "freeswitch", "app", "mariadb", "redis")
LABEL = {"kamailio": "Kamailio", "freeswitch": "FreeSWITCH", "app": "ESL app", "mariadb": "MariaDB", "redis": "Redis"}


def cpu_of(step: Step, name: str, load: bool = False) -> float | None:
    cpu = step.load_cpu if load else step.cpu
    if name == "app":  # the outbound-ESL program this mode hands calls to
        return {"controller": cpu.get("controller"), "bare": cpu.get("bare")}.get(step.mode)
    return cpu.get(name)


def per_call(step: Step, name: str) -> str:
    value = cpu_of(step, name)
    return "-" if value is None or not step.ok else f"{1000 * value / step.ok:.2f}"


def share(step: Step, name: str) -> str:
    """Core use while the calls were placed and held (sipp running): 100% = one core."""
    value = cpu_of(step, name, load=True)
    return "-" if value is None or not step.load_seconds else f"{100 * value / step.load_seconds:.0f}%"


def summary(step: Step) -> str:
    return (f"{MODE_LABEL[step.mode]:>15} {step.rate:>4}/s: {step.ok}/{step.offered} completed, {step.cps:.1f}/s, "
            f"set-up p50 {step.p50:.0f} p99 {step.p99:.0f} mean {step.mean:.2f} ms; CPU ms/call "
            + " ".join(f"{LABEL[k]}={per_call(step, k)}" for k in ROWS)
            + f"; machine {share(step, 'machine')} (others {share(step, 'others')})")


def print_tables(steps: list[Step], hold: float, seconds: float) -> None:
    by = {(s.rate, s.mode): s for s in steps}
    rates = sorted({s.rate for s in steps})
    print()
    print(f"Calls through Kamailio -> FreeSWITCH -> (static dialplan | bare ESL app | controller) -> Kamailio -> "
          f"carrier; {seconds:.0f} s of calls per rate and mode, each answered at once and held {hold:.1f} s")
    print()
    print("| offered | | " + " | ".join(MODE_LABEL[m] for m in MODES) + " |")
    print("|---|---|" + "---|" * len(MODES))
    rows = [
        ("calls completed/s", lambda s: f"{s.cps:.1f}"),
        ("completed / failed", lambda s: f"{s.ok} / {s.offered - s.ok}" + ("" if s.drained else " (not drained)")),
        ("set-up p50 / p99 (mean)", lambda s: f"{s.p50:.0f} / {s.p99:.0f} ms ({s.mean:.1f})"),
        ("controller's own decision time (mean)",
         lambda s: f"{s.decision_ms:.1f} ms" if s.mode == "controller" else ""),
        ("CPU ms per call: " + " / ".join(LABEL[r] for r in ROWS), lambda s: " / ".join(per_call(s, r) for r in ROWS)),
        ("CPU ms per call: sipp caller / sipp carrier",
         lambda s: f"{per_call(s, 'sipp caller')} / {per_call(s, 'sipp carrier')}"),
        ("core use: " + " / ".join(LABEL[r] for r in ROWS), lambda s: " / ".join(share(s, r) for r in ROWS)),
        ("machine busy of 200% (others)", lambda s: f"{share(s, 'machine')} ({share(s, 'others')})"),
        ("CDRs written by the controller", lambda s: str(s.cdrs) if s.mode == "controller" else ""),
    ]
    for rate in rates:
        present = [by.get((rate, m)) for m in MODES]
        offered = next(s for s in present if s).offered
        for i, (label, fn) in enumerate(rows):
            cells = [fn(s) if s else "stopped" for s in present]
            print(f"| {f'{rate} calls/s ({offered} calls)' if i == 0 else ''} | {label} | " + " | ".join(cells) + " |")
    print()
    for rate in rates:
        b, e, c = (by.get((rate, m)) for m in MODES)
        if b and c and b.answered and c.answered:
            added = 100 * (c.mean - b.mean) / b.mean
            line = (f"{rate:>4} calls/s: controller vs static dialplan: p50 {c.p50 - b.p50:+.0f} ms, p99 "
                    f"{c.p99 - b.p99:+.0f} ms, mean {c.mean - b.mean:+.1f} ms ({added:+.0f}%)")
            if e and e.answered:
                line += (f"; vs bare ESL app: mean {c.mean - e.mean:+.1f} ms "
                         f"({100 * (c.mean - e.mean) / e.mean:+.0f}%)")
            print(line)
    print("ESL app = the controller in its column, the bare app in its own; '-' where no ESL app takes the calls.")
    print("CPU per call: the whole step (calls placed, held, ended, CDRs written) / completed calls. Core use: CPU")
    print("seconds / seconds while sipp placed and held the calls (100% = one core); others = the rest of the machine.")


# ================================================================================================= main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,20,40,60,80,120", help="calls/s, comma separated, rising")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of calls per rate and mode")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds the caller holds each answered call")
    parser.add_argument("--max-fail", type=float, default=0.05, help="a mode stops above this failed share")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, sipp CSVs)")
    parser.add_argument("--trace", action="store_true", help="sipp message traces, FreeSWITCH debug log (slow)")
    args = parser.parse_args()
    if args.trace:
        os.environ["CP_BENCH_TRACE"] = "1"
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    if not rates or min(rates) <= 0 or max(rates) > 500 or not 1 <= args.seconds <= 60 or not 0 <= args.hold <= 10:
        parser.error("rates 1-500 calls/s, seconds 1-60, hold 0-10")

    from controlplane.testing.freeswitch import NOT_INSTALLED, freeswitch_binary

    if freeswitch_binary() is None:
        print(f"bench/real_node.py needs an installed FreeSWITCH: {NOT_INSTALLED}. Point FREESWITCH_BIN at one "
              f"(e.g. FREESWITCH_BIN=/opt/freeswitch/bin/freeswitch); this benchmark never builds or fetches it.",
              file=sys.stderr)
        return 2
    for tool in ("sipp", "kamailio"):
        if not shutil.which(tool) and not (tool == "kamailio" and os.path.exists("/usr/sbin/kamailio")):
            print(f"bench/real_node.py needs {tool} on PATH", file=sys.stderr)
            return 2
    print(f"FreeSWITCH: {freeswitch_binary()} (installed, used as is)")

    def on_term(signum, frame) -> None:  # noqa: ANN001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    steps: list[Step] = []
    started = time.monotonic()
    try:
        with running_rig(keep=args.keep or args.trace) as rig:
            for mode in MODES:  # warm-up: caches, pools, first calls; not reported
                run_step(rig, mode, 10, 2, args.hold, record=False)
            stopped: set[str] = set()
            for rate in rates:
                for mode in MODES:
                    if mode in stopped:
                        continue
                    step = run_step(rig, mode, rate, args.seconds, args.hold)
                    steps.append(step)
                    print(summary(step), flush=True)
                    if step.fail_ratio > args.max_fail:
                        print(f"{MODE_LABEL[mode]}: {100 * step.fail_ratio:.1f}% of the calls failed at {rate}/s: "
                              f"no higher rate for it", flush=True)
                        stopped.add(mode)
                if len(stopped) == len(MODES):
                    break
    except KeyboardInterrupt:
        print("interrupted: everything this run started is stopped", file=sys.stderr)
        return 130
    except (TimeoutError, RuntimeError) as exc:  # the rig did not come up (lab.wait_until, kamailio -c, sipp)
        print(f"bench/real_node.py: {exc}", file=sys.stderr)
        return 1
    print_tables(steps, args.hold, args.seconds)
    print(f"wall time {time.monotonic() - started:.0f} s; load avg at the end {os.getloadavg()[0]:.2f}")
    return 0


@contextlib.contextmanager
def running_rig(keep: bool = False) -> Iterator[Rig]:
    """Database, carrier, Kamailio, controller + bare app, FreeSWITCH: up, then all stopped and removed."""
    server = os.environ.get("CP_BENCH_SERVER_URL", "mysql+pymysql://root@127.0.0.1:3306")
    db_url = f"{server}/cp_bench_rn_{os.getpid()}"
    prefix = f"cpbench-rn-{os.getpid()}:"
    os.environ.update(DATABASE_URL=db_url, CP_REDIS_PREFIX=prefix)

    from controlplane.db import drop_database
    from controlplane.migrate import upgrade
    from controlplane.testing.net import free_port

    work = Path(tempfile.mkdtemp(prefix="cp-bench-real-"))
    rig = Rig(work=work, procs=Procs(), db_url=db_url)
    sink = None
    try:
        upgrade(db_url)
        fs_port, esl_port = free_port(FS_IP), free_port()
        start_carrier(rig)
        prepare_data(db_url, rig.carrier_port, fs_port, esl_port)
        sink = CdrSink()
        start_edge(rig)
        start_apps(rig)
        start_freeswitch(rig, fs_port, esl_port, sink.url)
        wait_until(rig.edge.node_active, 30, "the FreeSWITCH node in Kamailio's dispatcher")
        redis_port = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit(":", 1)[-1].split("/")[0]
        rig.watched = {
            "kamailio": group_pids(rig.kamailio.pid), "freeswitch": [rig.fs.proc.pid],
            "controller": [rig.controller.pid], "bare": [rig.bare.pid],
            "mariadb": pids_named("mariadbd") or pids_named("mysqld"),
            "redis": pids_named("redis-server", f":{redis_port}"), "sipp carrier": [rig.carrier.pid],
        }
        print(f"Kamailio {EDGE_IP}:{rig.kamailio_port} ({len(rig.watched['kamailio'])} processes), FreeSWITCH "
              f"{FS_IP}:{fs_port} (ESL :{esl_port}), controller :{rig.controller_port}, bare ESL app :{rig.bare_port}, "
              f"trunk {TRUNK_IP}, carrier {CARRIER_IP}:{rig.carrier_port}; load avg {os.getloadavg()[0]:.2f}",
              flush=True)
        yield rig
    finally:
        if rig.fs is not None:
            rig.fs.stop()
        rig.procs.stop_all()
        if sink is not None:
            sink.close()
        with contextlib.suppress(Exception):
            drop_database(db_url)
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
        if keep:
            print(f"work dir kept: {work} (kamailio/, fs/log/freeswitch.log, controller.log, <mode>-<rate>/)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
