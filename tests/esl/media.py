"""A media node for controller tests: the FreeSWITCH stand-in by default, a real FreeSWITCH when asked.

    with media_node(controller_addr=("127.0.0.1", port), time_scale=10.0, cdr_url=url) as node:
        node.far_ends.add("carrier-a", FarEnd.answer(after=0.5, hangup_after=3))
        host_port = node.far_end_address("carrier-a")     # put this in the carrier's host:port
        call = node.place_call(CallSpec(destination="+4930555001", sip_headers={"X-CP-Account": "42"}))
        call.wait_done(30); call.hangup_cause, call.billsec, call.attempts, call.sip_response_to_caller
        node.inbound_port, node.password, node.stop_node(), node.restart_node()

Real FreeSWITCH: `freeswitch` on PATH (or FREESWITCH_BIN) *and* CP_REAL_FREESWITCH=1. The config is rendered
from freeswitch-conf/ into a temp dir on loopback; far ends are sipp UAS processes, callers a sipp UAC sending
the X-CP-* headers. There is no Kamailio in between: the node's kamailio address is loopback, so its ACL
admits the sipp caller, and the controller under test must dial far ends directly (no fs_path). The real node
runs in real time (time_scale is ignored); tests that need the stand-in's inspection or speed call
``node.require_standin("why")``, which skips on a real node with that reason.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid as uuidlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlplane.freeswitch.render import render
from controlplane.settings import Settings
from controlplane.testing.freeswitch import NOT_INSTALLED, LocalFreeSwitch, freeswitch_binary
from controlplane.testing.lab import OK_REPLY, SDP
from controlplane.testing.net import free_port
from fs_standin import CallSpec, FarEnd, FreeSwitchStandIn
from fs_standin.jsoncdr import JsonCdrSettings

__all__ = ["CallSpec", "FarEnd", "media_node", "media_node_factory", "real_freeswitch_wanted"]


def real_freeswitch_wanted() -> bool:
    return os.environ.get("CP_REAL_FREESWITCH") == "1" and freeswitch_binary() is not None


# =============================================================================================== stand-in
class _StandInFarEnds:
    """Keeps what was registered under each match so far_end_address() can give it a host:port too."""

    def __init__(self, fs: FreeSwitchStandIn) -> None:
        self._fs = fs
        self.scripts: dict[str, FarEnd] = {}

    def add(self, match: str, far_end: FarEnd) -> None:
        self.scripts[match] = far_end
        self._fs.far_ends.add(match, far_end)

    def clear(self) -> None:
        self.scripts.clear()
        self._fs.far_ends.clear()


CDR_USER, CDR_PASSWORD = "fs-node", "cdr-secret"  # what tests.esl.conftest.WebServer accepts


def node_settings(controller_addr: tuple[str, int], cdr_url: str | None) -> Settings:
    """The settings a media node's config is rendered from, for the stand-in and a real node alike."""
    web = cdr_url.split("/api/v1/cdr/freeswitch")[0] if cdr_url else "http://127.0.0.1:9"
    return Settings(kamailio_sip_override="127.0.0.1:5060", controller_host=controller_addr[0],
                    controller_port=controller_addr[1], web_url=web, freeswitch_sip_port=free_port(),
                    esl_port=free_port(), cdr_user=CDR_USER, cdr_password=CDR_PASSWORD)


class StandInMedia:
    kind = "standin"
    _fake_ports = itertools.count(41000)

    def __init__(self, controller_addr: tuple[str, int], time_scale: float, cdr_url: str | None,
                 cdr_error_dir: str | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="cp-standin-")
        cdr = None
        if cdr_url:  # mod_json_cdr's settings as rendered for a production node
            conf = Path(self.tmp.name)
            render(node_settings(controller_addr, cdr_url), conf, state_dir=conf / "var")
            cdr = JsonCdrSettings.from_xml(conf / "autoload_configs" / "json_cdr.conf.xml")
            if cdr_error_dir:
                cdr = dataclasses.replace(cdr, err_dir=cdr_error_dir)
        self.fs = FreeSwitchStandIn(controller=controller_addr, time_scale=time_scale, cdr=cdr,
                                    hostname="media-host-1", switchname="fs-node-1")
        self.far_ends = _StandInFarEnds(self.fs)
        self._addresses: dict[str, str] = {}

    def start(self) -> StandInMedia:
        self.fs.start()
        return self

    def far_end_address(self, match: str) -> str:
        """A host:port for this far end; a dial string containing it reaches the far end's script."""
        if match not in self._addresses:
            addr = f"127.0.0.1:{next(self._fake_ports)}"
            self._addresses[match] = addr
            self.fs.far_ends.add(addr, self.far_ends.scripts[match])
        return self._addresses[match]

    def place_call(self, spec: CallSpec | None = None):  # noqa: ANN201 - the stand-in's Call
        return self.fs.place_call(spec)

    @property
    def inbound_port(self) -> int | None:
        return self.fs.inbound_port

    @property
    def password(self) -> str:
        return self.fs.password

    def stop_node(self) -> None:
        self.fs.stop_node()

    def restart_node(self) -> None:
        self.fs.restart_node()

    def stop(self) -> None:
        self.fs.stop()
        self.tmp.cleanup()

    def require_standin(self, why: str) -> None:
        return None


# =============================================================================================== real FreeSWITCH
_SDP = SDP  # sipp's keywords for its own address and media port


def _ms(seconds: float | None) -> int:
    return int((seconds or 0) * 1000)


def uas_scenario(fe: FarEnd) -> str:
    """A sipp UAS playing one FarEnd script (answer / reject / ring forever)."""
    reply = """<send><![CDATA[
SIP/2.0 {code}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{extra}Content-Length: [len]
{body}]]></send>
"""
    # rrs: [next_url] is the INVITE's Contact; From/To are kept for a BYE of our own, which swaps them
    # (sipp has no [last_To:value]; a BYE with the INVITE's From/To unswapped is not FreeSWITCH's dialog).
    # (sipp refuses to start a scenario that assigns a variable it never uses: only a far end that hangs up.)
    own_bye = fe.reject_code is None and fe.answer_after is not None and fe.hangup_after is not None
    steps = ['<recv request="INVITE" crlf="true" rrs="true"><action>'
             '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>'
             '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>'
             '</action></recv>' if own_bye else '<recv request="INVITE" crlf="true" rrs="true"/>']
    if fe.reject_code is not None:
        steps += [f'<pause milliseconds="{_ms(fe.reject_after)}"/>',
                  reply.format(code=f"{fe.reject_code} Rejected", extra="", body="\n"),
                  '<recv request="ACK"/>']
    elif fe.answer_after is None:  # ring forever until FreeSWITCH cancels
        steps += [reply.format(code="180 Ringing", extra="", body="\n"), '<recv request="CANCEL"/>',
                  reply.format(code="200 OK", extra="", body="\n"),
                  reply.format(code="487 Request Terminated", extra="", body="\n"), '<recv request="ACK"/>']
    else:
        steps += [reply.format(code="180 Ringing", extra="", body="\n"),
                  f'<pause milliseconds="{_ms(fe.answer_after)}"/>',
                  reply.format(code="200 OK", extra="Content-Type: application/sdp\n", body="\n" + _SDP),
                  '<recv request="ACK" rtd="true" crlf="true"/>']
        if fe.hangup_after is not None:
            steps += [f'<pause milliseconds="{_ms(fe.hangup_after)}"/>', """<send><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_to];tag=[pid]SIPpTag01[call_number]
To: [$remote_from]
[last_Call-ID:]
CSeq: 2 BYE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>""", '<recv response="200"/>']
        else:
            steps += ['<recv request="BYE"/>', reply.format(code="200 OK", extra="", body="\n")]
    return '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="far end">\n' + "\n".join(steps) + \
        "\n</scenario>\n"


FINAL_FAILURES = (402, 403, 404, 408, 480, 484, 486, 487, 488, 500, 502, 503, 504, 603)


def uac_scenario(spec: CallSpec, call_id: str, fs_host: str, fs_port: int) -> str:
    """A sipp UAC: INVITE with the X-CP-* headers, then answer -> (BYE after N s | wait for BYE), or a refusal.

    The Call-ID is sipp's ``[call_id]``; run sipp with ``-cid_str <call_id>`` so it is ``call_id`` (sipp maps
    responses to calls by it, so a literal Call-ID would not work)."""
    headers = "".join(f"{k}: {v}\n" for k, v in spec.sip_headers.items())
    dest = spec.destination
    invite = f"""<send retrans="500"><![CDATA[
INVITE sip:{dest}@{fs_host}:{fs_port} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{spec.caller_name}" <sip:{spec.caller_number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dest}@{fs_host}:{fs_port}>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{spec.caller_number}@[local_ip]:[local_port]>
Max-Forwards: 70
{headers}Content-Type: application/sdp
Content-Length: [len]

{_SDP}]]></send>"""
    ack = f"""<send><![CDATA[
ACK sip:{dest}@{fs_host}:{fs_port} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>"""
    steps = [invite, '<recv response="100" optional="true"/>', '<recv response="180" optional="true"/>',
             '<recv response="183" optional="true"/>']
    steps += [f'<recv response="{c}" optional="true" next="refused"/>' for c in FINAL_FAILURES]
    steps += ['<recv response="200" rrs="true"/>', ack]
    if spec.caller_hangs_up_after is not None:
        steps += [f'<pause milliseconds="{_ms(spec.caller_hangs_up_after)}"/>', f"""<send><![CDATA[
BYE sip:{dest}@{fs_host}:{fs_port} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>""", '<recv response="200" next="done"/>']
    else:
        steps += ['<recv request="BYE"/>', f'<send next="done">{OK_REPLY}</send>']
    steps += ['<label id="refused"/>', ack, '<label id="done"/>']
    return '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="caller">\n' + "\n".join(steps) + \
        "\n</scenario>\n"


class _HangupListener:
    """Inbound ESL connection collecting CHANNEL_HANGUP_COMPLETE events by the A leg's SIP Call-ID."""

    def __init__(self, port: int, password: str) -> None:
        self.events: dict[str, dict[str, str]] = {}
        self.by_uuid: dict[str, dict[str, str]] = {}
        self.executes: dict[str, list[tuple[str, str, float]]] = {}
        self.cond = threading.Condition()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.sock.makefile("rb")
        self._read()
        self.sock.sendall(f"auth {password}\n\nevent plain CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE\n\n".encode())
        self.sock.settimeout(None)
        threading.Thread(target=self._loop, daemon=True).start()

    def _read(self) -> tuple[dict[str, str], bytes]:
        hdrs: dict[str, str] = {}
        while (line := self.f.readline()) not in (b"\n", b""):
            k, _, v = line.decode().rstrip("\n").partition(": ")
            hdrs[k] = v
        if not hdrs:
            raise EOFError
        return hdrs, self.f.read(int(hdrs["Content-Length"])) if "Content-Length" in hdrs else b""

    def _loop(self) -> None:
        while True:
            try:
                hdrs, body = self._read()
            except (EOFError, OSError, ValueError):
                return
            if hdrs.get("Content-Type") != "text/event-plain":
                continue
            ev = {}
            for line in body.decode().split("\n\n", 1)[0].split("\n"):
                k, _, v = line.partition(": ")
                ev.setdefault(k, urllib.parse.unquote(v))
            if ev.get("Event-Name") == "CHANNEL_EXECUTE":  # apps run on a leg, e.g. a warning tone's playback
                with self.cond:
                    self.executes.setdefault(ev.get("Unique-ID", ""), []).append(
                        (ev.get("Application", ""), ev.get("Application-Data", ""),
                         int(ev.get("Event-Date-Timestamp", "0")) / 1e6))
                continue
            cid = ev.get("variable_sip_call_id")
            with self.cond:
                if cid:
                    self.events[cid] = ev
                if ev.get("Unique-ID"):  # B legs too: an attempt's channel name and SIP status
                    self.by_uuid[ev["Unique-ID"]] = ev
                self.cond.notify_all()

    def wait(self, call_id: str, timeout: float) -> dict[str, str] | None:
        with self.cond:
            self.cond.wait_for(lambda: call_id in self.events, timeout)
            return self.events.get(call_id)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class RealAttempt:
    uuid: str
    cause: str
    endpoint: str = ""  # the B leg's channel name, sofia/<profile>/<number>@<host:port>
    sip_code: int | None = None


@dataclass
class RealCall:
    spec: CallSpec
    call_id: str
    proc: subprocess.Popen
    trace: Path
    listener: _HangupListener
    hangup_cause: str | None = None
    billsec: int | None = None
    attempts: list[RealAttempt] = field(default_factory=list)
    sip_response_to_caller: int | None = None
    final_vars: dict[str, str] = field(default_factory=dict)
    a_leg_uuid: str | None = None
    node_api: Callable[[str], str] | None = None
    caller_port: int = 0
    # Tests' timeouts are written for the stand-in's ten call-seconds per second; a real node runs in real time.
    timeout_scale: float = 1.0

    @property
    def uuid(self) -> str:
        """The A leg's uuid: as the node reported it at hang-up, or while the call is up, found in
        `show channels` by the caller's contact port (the A leg is sofia/<profile>/<user>@127.0.0.1:<port>)."""
        if self.a_leg_uuid is None and self.node_api is not None:
            deadline = time.monotonic() + 10
            while self.a_leg_uuid is None and time.monotonic() < deadline:
                rows = json.loads(self.node_api("show channels as json") or "{}").get("rows", [])
                self.a_leg_uuid = next((r["uuid"] for r in rows if r.get("direction") == "inbound"
                                        and r.get("name", "").endswith(f"@127.0.0.1:{self.caller_port}")), None)
                time.sleep(0.2) if self.a_leg_uuid is None else None
        if self.a_leg_uuid is None:
            raise RuntimeError(f"no A leg on the node for the caller on port {self.caller_port}")
        return self.a_leg_uuid

    def tone_times(self) -> list[float]:
        """When each tone_stream playback started on the A leg (epoch seconds; e.g. uuid_broadcast's)."""
        with self.listener.cond:
            runs = list(self.listener.executes.get(self.uuid, []))
        return [at for app, data, at in runs if app == "playback" and data.startswith("tone_stream://")]

    def wait_done(self, timeout: float = 30.0) -> bool:
        timeout *= self.timeout_scale
        deadline = time.monotonic() + timeout
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise TimeoutError(f"sipp caller {self.call_id} still running after {timeout}s") from None
        ev = self.listener.wait(self.call_id, max(1.0, deadline - time.monotonic()))
        if ev is None:
            raise TimeoutError(f"no CHANNEL_HANGUP_COMPLETE for Call-ID {self.call_id}")
        self.final_vars = {k[len("variable_"):]: v for k, v in ev.items() if k.startswith("variable_")}
        self.a_leg_uuid = ev.get("Unique-ID")
        self.hangup_cause = ev.get("Hangup-Cause")
        self.billsec = int(self.final_vars.get("billsec") or 0)
        causes = self.final_vars.get("originate_causes", "")
        for item in causes.removeprefix("ARRAY::").split("|:") if causes else []:
            u, _, c = item.partition(";")
            with self.listener.cond:
                self.listener.cond.wait_for(lambda u=u: u in self.listener.by_uuid, 2.0)
                leg = self.listener.by_uuid.get(u, {})
            code = leg.get("variable_sip_term_status") or leg.get("variable_sip_invite_failure_status")
            self.attempts.append(RealAttempt(u, c, leg.get("Channel-Name", ""), int(code) if code else None))
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        finals = [int(c) for c in re.findall(r"^SIP/2\.0 (\d{3})", text, re.M) if int(c) >= 300]
        self.sip_response_to_caller = finals[-1] if finals else None
        return True


class _RealFarEnds:
    def __init__(self, node: RealMedia) -> None:
        self.node = node
        self.ports: dict[str, int] = {}

    def add(self, match: str, far_end: FarEnd) -> None:
        """A match that is a `host:port` (as the tests' carriers are) gets its UAS on that very port."""
        fixed = re.fullmatch(r"127\.0\.0\.1:(\d+)", match)
        self.ports[match] = self.node.start_uas(match, far_end, int(fixed.group(1)) if fixed else None)


class RealMedia:
    kind = "freeswitch"

    def __init__(self, controller_addr: tuple[str, int], cdr_url: str | None, timeout_scale: float = 1.0) -> None:
        self.timeout_scale = timeout_scale
        self.work = Path(tempfile.mkdtemp(prefix="cp-fs-"))
        self.settings = node_settings(controller_addr, cdr_url)
        self.fs = LocalFreeSwitch(self.settings, self.work / "fs")
        self.far_ends = _RealFarEnds(self)
        self._procs: list[subprocess.Popen] = []
        self._uas: dict[int, subprocess.Popen] = {}
        self.listener: _HangupListener | None = None

    def start(self) -> RealMedia:
        self.fs.start()
        self.listener = _HangupListener(self.inbound_port, self.password)
        return self

    def start_uas(self, match: str, fe: FarEnd, port: int | None = None) -> int:
        if fe.unreachable:
            return port or free_port()  # nothing listens there
        port = port or free_port()
        previous = self._uas.pop(port, None)
        if previous is not None:  # a new script for the same far end: it replaces the old one, as on the stand-in
            previous.terminate()
            previous.wait(5)
        xml = self.work / f"uas-{re.sub(r'[^A-Za-z0-9]', '_', match)}-{port}-{len(self._procs)}.xml"
        xml.write_text(uas_scenario(fe))
        proc = subprocess.Popen(["sipp", "-sf", str(xml), "-i", "127.0.0.1", "-p", str(port), "-nostdin",
                                 "-trace_err", "-trace_msg", "-message_file", str(xml.with_suffix(".messages.log"))],
                                cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._procs.append(proc)
        self._uas[port] = proc
        return port

    def far_end_address(self, match: str) -> str:
        return f"127.0.0.1:{self.far_ends.ports[match]}"

    def place_call(self, spec: CallSpec | None = None) -> RealCall:
        spec = spec or CallSpec()
        assert self.listener is not None
        call_id = f"cp-{uuidlib.uuid4().hex}"
        xml = self.work / f"uac-{call_id}.xml"
        xml.write_text(uac_scenario(spec, call_id, "127.0.0.1", self.settings.freeswitch_sip_port))
        trace = self.work / f"uac-{call_id}_messages.log"
        port = free_port()
        proc = subprocess.Popen(["sipp", "127.0.0.1:" + str(self.settings.freeswitch_sip_port), "-sf", str(xml),
                                 "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-cid_str", call_id,
                                 "-trace_msg", "-message_file", str(trace)], cwd=self.work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._procs.append(proc)  # a caller still waiting at the end is stopped with the node
        return RealCall(spec, call_id, proc, trace, self.listener, node_api=self.fs.api, caller_port=port,
                        timeout_scale=self.timeout_scale)

    @property
    def inbound_port(self) -> int:
        return self.fs.esl_port

    @property
    def password(self) -> str:
        return self.settings.esl_password

    def stop_node(self) -> None:
        if self.listener:
            self.listener.close()
            self.listener = None
        if self.fs.proc and self.fs.proc.poll() is None:
            self.fs.proc.kill()  # the node dies: no clean shutdown, no CDRs for calls in flight
            self.fs.proc.wait(10)
        self.fs.proc = None

    def restart_node(self) -> None:
        self.stop_node()
        self.start()

    def stop(self) -> None:
        self.stop_node()
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("CP_KEEP_FS_WORK") == "1":  # keep freeswitch.log and the sipp traces to read
            print(f"real FreeSWITCH work dir kept: {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def require_standin(self, why: str) -> None:
        pytest.skip(f"needs the FreeSWITCH stand-in, not a real node: {why}")


# =============================================================================================== entry points
@contextmanager
def media_node(controller_addr: tuple[str, int], time_scale: float = 1.0, cdr_url: str | None = None,
               cdr_error_dir: str | None = None) -> Iterator[StandInMedia | RealMedia]:
    """A started media node; the stand-in unless CP_REAL_FREESWITCH=1 and FreeSWITCH is installed."""
    if os.environ.get("CP_REAL_FREESWITCH") == "1" and freeswitch_binary() is None:
        pytest.skip(f"CP_REAL_FREESWITCH=1 but {NOT_INSTALLED}")
    node: StandInMedia | RealMedia
    if real_freeswitch_wanted():
        node = RealMedia(controller_addr, cdr_url)
    else:
        node = StandInMedia(controller_addr, time_scale, cdr_url, cdr_error_dir)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def media_node_factory():  # noqa: ANN201 - a factory: media_node_factory(controller_addr, time_scale, cdr_url)
    """Start as many media nodes as a test needs; all are stopped at teardown."""
    stack: list = []

    def make(controller_addr: tuple[str, int], time_scale: float = 1.0, cdr_url: str | None = None,
             cdr_error_dir: str | None = None) -> StandInMedia | RealMedia:
        cm = media_node(controller_addr, time_scale, cdr_url, cdr_error_dir)
        node = cm.__enter__()
        stack.append(cm)
        return node

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
