"""A real Kamailio on loopback with the project's config and the test database, plus sipp helpers.

Addresses used (all loopback on Linux):
  127.0.0.1          Kamailio (SIP, TLS, WS, WSS, JSON-RPC) and ordinary phones
  127.0.0.3          the edge's rtpengine (ng control and relayed RTP)
  127.0.0.21/.22     FreeSWITCH node stand-ins (sipp UAS)
  127.0.0.30         customer trunk (PBX)
  127.0.0.40         carrier
  127.0.0.5x         sources that get banned, denied, flooded
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from controlplane.db import get_engine
from controlplane.services.scope import Scope
from controlplane.testing.lab import MediaRelay, Procs, start_rtpengine, wait_until
from controlplane.testing.net import free_port

SCENARIOS = Path(__file__).parent / "scenarios"
RELAY_IP = "127.0.0.3"  # the edge's rtpengine
SIPP = shutil.which("sipp")
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"

pytestmark = pytest.mark.skipif(SIPP is None or not Path(KAMAILIO).exists(), reason="needs kamailio and sipp")



def wait_for(predicate, timeout: float = 15.0, interval: float = 0.2, what: str = "condition"):  # noqa: ANN001
    """lab.wait_until, failing the test (AssertionError) rather than erroring it."""
    try:
        return wait_until(predicate, timeout, what, interval)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


@dataclass
class Edge:
    ip: str
    sip_port: int
    tls_port: int
    ws_port: int
    wss_port: int
    rpc_port: int
    log: Path
    run_dir: Path
    proc: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)
    media: MediaRelay | None = None  # this edge's rtpengine (None when rendered with CP_KAMAILIO_RTPENGINE=0)

    @property
    def rpc(self):  # noqa: ANN201
        from controlplane.kamailio.rpc import KamailioRpc

        return KamailioRpc(f"http://{self.ip}:{self.rpc_port}/RPC", timeout=5)

    def sync(self, session: Session, **kwargs):  # noqa: ANN003, ANN201
        from controlplane.kamailio.tables import sync

        session.commit()
        report = sync(session, rpc=self.rpc, **kwargs)
        assert report.ok, report.errors
        return report

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def sipp(self, scenario: str, *, source_ip: str = "127.0.0.1", user: str = "1000", realm: str = "",
             password: str | None = None, dest: str = "2000", calls: int = 1, rate: int = 10,
             timeout: int = 15, extra: list[str] | None = None, ua: str = "cp-test",
             transport: str = "u1", keys: dict[str, str] | None = None,
             local_port: int | None = None) -> subprocess.CompletedProcess[str]:
        """Run one sipp UAC scenario against the edge; returncode 0 = every call succeeded."""
        args = [
            SIPP, f"{self.ip}:{self.sip_port}", "-sf", str(SCENARIOS / scenario), "-i", source_ip,
            "-p", str(local_port or free_port(source_ip)), "-t", transport, "-m", str(calls), "-r", str(rate),
            "-l", str(max(calls, 1)),
            "-s", user, "-key", "realm", realm or self.ip, "-key", "dest", dest, "-key", "ua", ua,
            "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "5000", "-max_recv_loops", "100000",
            "-nostdin", "-trace_err", "-error_file", str(self.run_dir / f"sipp-{scenario}-{time.monotonic_ns()}.err"),
        ]
        for key, value in (keys or {}).items():
            args += ["-key", key, value]
        if password is not None:
            args += ["-au", user, "-ap", password]
        args += extra or []
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout + 30, cwd=self.run_dir)


@pytest.fixture(scope="module")
def edge(db_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Edge]:
    """Kamailio rendered for the test database on free loopback ports, started and stopped per module, with an
    rtpengine of its own started before it (lab.start_rtpengine) unless CP_KAMAILIO_RTPENGINE=0.

    A test module may set EDGE_ENV (CP_KAMAILIO_* values) to render its edge differently, and EDGE_RTPENGINE = False
    to render it with rtpengine on but none running (its ng address answers nothing).
    """
    from controlplane.kamailio.render import check, command, render
    from controlplane.settings import get_settings

    run_dir = tmp_path_factory.mktemp("kamailio")
    ip = "127.0.0.1"
    env = {
        "CP_KAMAILIO_RUN_DIR": str(run_dir),
        "CP_KAMAILIO_LISTEN_IP": ip,
        "CP_KAMAILIO_RPC_IP": ip,
        "CP_KAMAILIO_SIP_PORT": str(free_port(ip)),
        "CP_KAMAILIO_TLS_PORT": str(free_port(ip)),
        "CP_KAMAILIO_WS_PORT": str(free_port(ip)),
        "CP_KAMAILIO_WSS_PORT": str(free_port(ip)),
        "CP_KAMAILIO_RPC_PORT": str(free_port(ip)),
        "CP_KAMAILIO_CHILDREN": "4",
        "CP_KAMAILIO_TCP_CHILDREN": "2",
        "CP_KAMAILIO_DS_PING_INTERVAL": "1",
        "CP_KAMAILIO_DS_PROBING_THRESHOLD": "1",
        "CP_KAMAILIO_FR_TIMER": "1500",
        "CP_KAMAILIO_BAN_FAILS": "3",
        "CP_KAMAILIO_BAN_WINDOW": "60",
        "CP_KAMAILIO_BAN_TIME": "60",
        "CP_KAMAILIO_PIKE_SAMPLING": "2",
        "CP_KAMAILIO_PIKE_DENSITY": "200",
        **getattr(request.module, "EDGE_ENV", {}),
    }
    procs, media = Procs(), None
    if not getattr(request.module, "EDGE_RTPENGINE", True):
        env["CP_RTPENGINE_NG"] = f"{RELAY_IP}:{free_port(RELAY_IP)}"
    elif env.get("CP_KAMAILIO_RTPENGINE", "1").lower() in ("1", "true", "yes"):
        try:
            media = start_rtpengine(procs, run_dir, RELAY_IP)
        except BaseException:
            procs.stop_all()
            raise
        env.update(media.env)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    proc = None
    try:
        rendered = render()
        checked = check(rendered.path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with get_engine(db_url).begin() as conn:
            conn.execute(text("DELETE FROM location"))
        log = run_dir / "kamailio.log"
        handle = log.open("w")
        proc = subprocess.Popen(
            command(rendered.path, run_dir, pid_file=run_dir / "kamailio.pid"),
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        settings = get_settings()
        e = Edge(ip=ip, sip_port=settings.kamailio_sip_port, tls_port=settings.kamailio_tls_port,
                 ws_port=settings.kamailio_ws_port, wss_port=settings.kamailio_wss_port,
                 rpc_port=settings.kamailio_rpc_port, log=log, run_dir=run_dir, proc=proc, env=env, media=media)

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"kamailio exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                e.rpc.ping()
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        wait_for(up, timeout=20, what="kamailio JSON-RPC")
        yield e
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        procs.stop_all()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class FsNode:
    """A FreeSWITCH node stand-in: sipp UAS (fs_node.xml) that logs every message it gets."""

    def __init__(self, ip: str, port: int, run_dir: Path, scenario: str = "fs_node.xml") -> None:
        self.ip, self.port, self.scenario = ip, port, scenario
        self.msg_log = run_dir / f"fs-{ip}-{port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> FsNode:
        self.msg_log.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [SIPP, "-sf", str(SCENARIOS / self.scenario), "-i", self.ip, "-p", str(self.port), "-t", "u1",
             "-nostdin", "-trace_msg", "-message_file", str(self.msg_log), "-max_recv_loops", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._bound, timeout=10, what=f"sipp UAS on {self.ip}:{self.port}")
        return self

    def _bound(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"sipp UAS on {self.ip}:{self.port} exited with {self.proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((self.ip, self.port))
            except OSError:
                return True
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def messages(self) -> str:
        return self.msg_log.read_text(errors="replace") if self.msg_log.exists() else ""

    def invites(self) -> list[str]:
        """INVITE requests received (full text of each)."""
        chunks = self.messages().split("----------------------------------------------- ")
        return [c for c in chunks if "message received" in c and "\nINVITE sip:" in c]


@pytest.fixture()
def fs_nodes(edge: Edge) -> Iterator[list[FsNode]]:
    """Two FreeSWITCH node stand-ins on 127.0.0.21 and 127.0.0.22."""
    nodes = [FsNode("127.0.0.21", free_port("127.0.0.21"), edge.run_dir),
             FsNode("127.0.0.22", free_port("127.0.0.22"), edge.run_dir)]
    for node in nodes:
        node.start()
    yield nodes
    for node in nodes:
        node.stop()


def make_tenant(session: Session, name: str, realm: str):  # noqa: ANN201
    from controlplane.services.tenants import create_tenant, ensure_operator

    ensure_operator(session)
    return create_tenant(session, Scope.operator(), name=name, realm=realm)


def make_account(session: Session, tenant, username: str, password: str = "secret-pass-1",  # noqa: ANN001, ANN201
                 trunk_ip: str | None = None):
    from controlplane.models import SipAccountKind
    from controlplane.services.accounts import create_sip_account

    kind = SipAccountKind.TRUNK if trunk_ip else SipAccountKind.ACCOUNT
    return create_sip_account(session, Scope.operator(),
                              tenant, username, password, kind=kind, source_ip=trunk_ip).account
