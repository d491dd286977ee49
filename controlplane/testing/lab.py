"""A stack on loopback for tests and benchmarks (tests/e2e, bench/real_node.py); nothing here runs in production.

Kamailio rendered from the project's config on free ports, sipp far ends, a media node's settings; every process
goes through one `Procs` so that all of them are stopped on the way out (exception and Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from controlplane.settings import Settings
from controlplane.testing.net import free_port

T = TypeVar("T")

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SIPP = shutil.which("sipp") or "sipp"
RTPENGINE = shutil.which("rtpengine") or "/usr/bin/rtpengine"

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
# sipp: 200 OK to the request just received (a BYE), inside <send>
OK_REPLY = """<![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]>"""


class Procs:
    """Every process a run starts; `stop_all` stops them, the last started first."""

    def __init__(self) -> None:
        self.items: list[tuple[str, subprocess.Popen, bool]] = []

    def start(self, name: str, args: list[str], *, group: bool = False, **kw) -> subprocess.Popen:  # noqa: ANN003
        proc = subprocess.Popen(args, start_new_session=group, **kw)
        self.items.append((name, proc, group))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        for name, p, group in list(self.items):
            if p is proc:
                self._stop(p, group, timeout)
                self.items.remove((name, p, group))

    @staticmethod
    def _stop(p: subprocess.Popen, group: bool, timeout: float) -> None:
        if p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM) if group else p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL) if group else p.kill()
            p.wait(5)

    def stop_all(self) -> None:
        for _name, p, group in reversed(self.items):
            self._stop(p, group, 10.0)
        self.items.clear()


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """The predicate's first true value; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def udp_bound(ip: str, port: int) -> bool:
    """Something holds this UDP port (a SIP endpoint is up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return True
        return False


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ with `env` on top while the block runs (Settings() reads the environment)."""
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ================================================================================================= rtpengine
@dataclass
class MediaRelay:
    """An rtpengine started with the project's command line: ng control on `ng` (ip:port), RTP on ip, ports."""

    ip: str
    ng: str
    ports: tuple[int, int]
    proc: subprocess.Popen
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """The CP_RTPENGINE_* values that point a Kamailio (render) at this relay."""
        return {"CP_RTPENGINE_NG": self.ng, "CP_RTPENGINE_IP": self.ip,
                "CP_RTPENGINE_PORT_MIN": str(self.ports[0]), "CP_RTPENGINE_PORT_MAX": str(self.ports[1])}

    @property
    def ng_client(self):  # noqa: ANN201 - NgClient, imported lazily
        from controlplane.kamailio.rtpengine import NgClient

        return NgClient(self.ng, timeout=2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def rtp_port_range(size: int = 200) -> tuple[int, int]:
    """A random port range for one relay, above the kernel's ephemeral range when there is room (free_port hands
    out ports below it, and rtpengine binds its ports only call by call), else just below free_port's pool."""
    try:
        high = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        high = 60999
    low_bound, high_bound = (high + 1, 65535) if 65535 - high > 2 * size else (10000, 20000)
    base = random.randrange(low_bound, high_bound - size) & ~1
    return base, base + size - 1


def start_rtpengine(procs: Procs, run_dir: Path, ip: str = "127.0.0.1", timeout: float = 15.0) -> MediaRelay:
    """rtpengine on ip (ng on a free port, a random RTP range), up (it answers an ng ping) when this returns."""
    from controlplane.kamailio.rtpengine import RtpengineError, command
    from controlplane.testing.net import free_port

    run_dir.mkdir(parents=True, exist_ok=True)
    ng, ports = f"{ip}:{free_port(ip)}", rtp_port_range()
    settings = Settings(rtpengine_bin=RTPENGINE, rtpengine_ng=ng, rtpengine_ip=ip, rtpengine_port_min=ports[0],
                        rtpengine_port_max=ports[1])
    log = run_dir / "rtpengine.log"
    proc = procs.start("rtpengine", command(settings, pid_file=run_dir / "rtpengine.pid"), group=True,
                       stdout=log.open("w"), stderr=subprocess.STDOUT)
    relay = MediaRelay(ip, ng, ports, proc, log)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"rtpengine exited {proc.returncode}: {relay.log_text()[-2000:]}")
        try:
            return relay.ng_client.ping()
        except RtpengineError:
            return False

    wait_until(up, timeout, f"rtpengine ng ping on {ng}")
    return relay


# ================================================================================================= Kamailio
@dataclass
class Edge:
    """A Kamailio started from the project's config. `env`: the CP_KAMAILIO_* values it was rendered with, for
    processes that talk to it (`controlplane kamailio sync`, `node add`)."""

    ip: str
    port: int
    rpc_port: int
    run_dir: Path
    proc: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)
    media: MediaRelay | None = None  # the stack's rtpengine (None: rendered with CP_KAMAILIO_RTPENGINE=0)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def log(self) -> Path:
        return self.run_dir / "kamailio.log"

    @property
    def rpc(self):  # noqa: ANN201 - KamailioRpc, imported lazily
        from controlplane.kamailio.rpc import KamailioRpc

        return KamailioRpc(f"http://{self.ip}:{self.rpc_port}/RPC", timeout=2)

    def node_active(self) -> bool:
        """A media node of the dispatcher set is active (its OPTIONS probes are answered)."""
        try:
            nodes = self.rpc.media_nodes()
        except Exception:  # noqa: BLE001 - starting, or busy
            return False
        return any(n.flags.startswith("A") for n in nodes)


def start_kamailio(procs: Procs, run_dir: Path, ip: str = "127.0.0.1", env: dict[str, str] | None = None,
                   memory: tuple[int, int] = (256, 16), timeout: float = 30.0) -> Edge:
    """Render (`controlplane kamailio render` with CP_KAMAILIO_* on free ports, plus `env`), check, start, wait for
    its JSON-RPC. The tables must have been synced before (or be synced with reload after).

    With rtpengine on (CP_KAMAILIO_RTPENGINE, default on), an rtpengine for this edge is started first, on `ip`
    (`Edge.media`), and stopped with the rest by `procs`."""
    from controlplane.kamailio.render import check, command, render

    run_dir.mkdir(parents=True, exist_ok=True)
    values = {"CP_KAMAILIO_RUN_DIR": str(run_dir), "CP_KAMAILIO_LISTEN_IP": ip, "CP_KAMAILIO_RPC_IP": ip,
              **{f"CP_KAMAILIO_{k}_PORT": str(free_port(ip)) for k in ("SIP", "TLS", "WS", "WSS", "RPC")},
              **(env or {})}
    with environment(values):
        settings = Settings()
    media = None
    if settings.kamailio_rtpengine:
        media = start_rtpengine(procs, run_dir, ip)
        values.update(media.env)
        with environment(values):
            settings = Settings()
    rendered = render(settings=settings)
    checked = check(rendered.path, settings)
    if checked.returncode != 0:
        raise RuntimeError(f"kamailio -c failed:\n{checked.stdout}{checked.stderr}")
    log = (run_dir / "kamailio.log").open("w")
    proc = procs.start("kamailio", command(rendered.path, run_dir, shm_mb=memory[0], pkg_mb=memory[1]),
                       group=True, stdout=log, stderr=subprocess.STDOUT)
    edge = Edge(ip, settings.kamailio_sip_port, settings.kamailio_rpc_port, run_dir, proc, values, media)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited {proc.returncode}: see {log.name}")
        try:
            edge.rpc.ping()
            return True
        except Exception:  # noqa: BLE001 - starting
            return False

    wait_until(up, timeout, "kamailio JSON-RPC")
    return edge


# ================================================================================================= sipp far ends
def carrier_scenario(hangup_after_ms: int | None = None) -> str:
    """A sipp UAS carrier: 180, 200 with SDP, ACK; then waits for the BYE, or (`hangup_after_ms`) sends its own BYE
    that long after the ACK, through the Record-Route set (Kamailio), From/To swapped."""
    def reply(code: str, extra: str = "", body: str = "") -> str:
        return f"""<send><![CDATA[
SIP/2.0 {code}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{extra}Content-Length: [len]

{body}]]></send>
"""
    if hangup_after_ms is None:
        invite = '<recv request="INVITE" crlf="true"/>'
        end = f'<recv request="BYE"/>\n<send>{OK_REPLY}</send>\n'
    else:
        invite = ('<recv request="INVITE" crlf="true" rrs="true"><action>'
                  '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>'
                  '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>'
                  '</action></recv>')
        end = f"""<pause milliseconds="{hangup_after_ms}"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: [$local_to];tag=[pid]SIPpTag01[call_number]
To: [$remote_from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200"/>
"""
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="carrier">\n' + invite + "\n"
            + reply("180 Ringing") + reply("200 OK", "Content-Type: application/sdp\n", SDP)
            + '<recv request="ACK" crlf="true"/>\n' + end + "</scenario>\n")


def start_sipp_uas(procs: Procs, work: Path, name: str, scenario: str, ip: str, port: int | None = None,
                   trace: bool = False) -> tuple[subprocess.Popen, int]:
    """A sipp UAS playing `scenario` (XML text) on ip:port (a free port by default), up when it returns."""
    xml = work / f"{name}.xml"
    xml.write_text(scenario)
    port = port or free_port(ip)
    proc = procs.start(name, [
        SIPP, "-sf", str(xml), "-i", ip, "-p", str(port), "-t", "u1", "-nostdin",
        "-recv_timeout", "60000", "-max_recv_loops", "100000", "-max_sched_loops", "100000",
        "-trace_err", "-error_file", str(work / f"{name}-errors.log"),
        *(["-trace_msg", "-message_file", str(work / f"{name}-messages.log")] if trace else [])],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def bound() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"sipp {name} exited {proc.returncode}: see {work / f'{name}-errors.log'}")
        return udp_bound(ip, port)

    wait_until(bound, 10, f"sipp {name} on {ip}:{port}")
    return proc, port


# ================================================================================================= media node
def node_settings(edge: str, controller_port: int, web_url: str, sip_ip: str, sip_port: int, esl_port: int,
                  node_name: str, cdr_user: str, cdr_password: str) -> Settings:
    """What a media node's config is rendered from (`controlplane freeswitch render`): legs through `edge`
    (host:port), calls to the controller on loopback, JSON CDRs to `web_url` with basic auth."""
    return Settings(kamailio_sip_override=edge, controller_host="127.0.0.1", controller_port=controller_port,
                    web_url=web_url, freeswitch_sip_ip=sip_ip, freeswitch_sip_port=sip_port, esl_port=esl_port,
                    esl_password="ClueCon", cdr_user=cdr_user, cdr_password=cdr_password, node_name=node_name)
