"""Fixtures for the controller: a real controller process, a FreeSWITCH stand-in, the web app.

The controller runs as its own process (`python -m controlplane.esl`, gevent-patched) exactly
as in production; the stand-in plays FreeSWITCH (built from recorded ESL transcripts) and the
web app receives FreeSWITCH's JSON CDR push.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from controlplane.freeswitch.render import CDR_PATH, render
from controlplane.models import Tenant
from controlplane.services.accounts import create_sip_account
from controlplane.services.carriers import create_carrier
from controlplane.services.decks import import_deck
from controlplane.services.ledger import add_credit
from controlplane.services.plans import create_plan
from controlplane.services.scope import Scope
from controlplane.services.tenants import create_tenant, ensure_operator
from controlplane.settings import Settings
from controlplane.testing.net import free_port, wait_port
from fs_standin import FreeSwitchStandIn
from fs_standin.jsoncdr import JsonCdrSettings
from tests.esl.proxy import CuttableProxy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "standin"))  # esl_client for media.py
from tests.esl.media import (  # noqa: E402,F401  (media_node_factory: a fixture)
    CDR_PASSWORD,
    CDR_USER,
    RealMedia,
    media_node_factory,
    real_freeswitch_wanted,
)

TIME_SCALE = 10.0  # ten call-seconds per real second




class ControllerProcess:
    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "controlplane.esl"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def production_cdr_settings(web_url: str, err_dir: Path) -> JsonCdrSettings:
    """mod_json_cdr's settings as `controlplane freeswitch render` writes them for a node posting to
    `web_url`, read back from the rendered file: the stand-in posts as a production node would."""
    settings = Settings(web_url=web_url, cdr_user=CDR_USER, cdr_password=CDR_PASSWORD)
    conf = err_dir.parent / "fs-conf"
    render(settings, conf, state_dir=err_dir.parent / "fs-state")
    cdr = JsonCdrSettings.from_xml(conf / "autoload_configs" / "json_cdr.conf.xml")
    return dataclasses.replace(cdr, err_dir=str(err_dir))


class WebServer:
    """The web app as FreeSWITCH's CDR receiver. Every CDR request is kept (`cdr_requests`: uuid ->
    headers and body, as the node sent them). With `write=False` it answers 200 and writes nothing, so
    the controller's own record stands and can be set beside the node's document."""

    def __init__(self, write: bool = True) -> None:
        from controlplane.web import create_app

        app = create_app({"CDR_PUSH_CREDENTIALS": f"{CDR_USER}:{CDR_PASSWORD}"})
        self.cdr_requests: dict[str, list[tuple[dict[str, str], bytes]]] = {}
        self.write = write
        self.server = make_server("127.0.0.1", 0, self._capture(app), threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def cdr_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/cdr/freeswitch"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _capture(self, app):  # noqa: ANN001, ANN202 - a WSGI middleware
        def middleware(environ, start_response):  # noqa: ANN001, ANN202
            if environ.get("PATH_INFO") == CDR_PATH:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                uuid = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("uuid", [""])[0]
                headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
                headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
                self.cdr_requests.setdefault(uuid, []).append((headers, body))
                if not self.write:
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [b'{"result": "captured"}']
                environ["wsgi.input"] = io.BytesIO(body)
            return app(environ, start_response)

        return middleware

    def cdr_document(self, uuid: str) -> dict:
        """The node's JSON CDR for `uuid` (the last one it posted), as sent: values still URL-encoded."""
        return json.loads(self.cdr_requests[uuid][-1][1])

    def stop(self) -> None:
        self.server.shutdown()


class BlackHole:
    """A web server that takes connections and never answers: each CDR POST waits for its timeout,
    as a hung portal would make it, and the node's HANGUP_COMPLETE waits behind the tries."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@dataclass
class Rig:
    """`fs` is the media node: the stand-in, or with CP_REAL_FREESWITCH=1 a real FreeSWITCH (tests.esl.media
    RealMedia) taking the same far-end scripts (`far_ends.add("127.0.0.1:5071", FarEnd...)` starts a sipp UAS
    on that port) and calls (`place_call(CallSpec)`; a sipp caller with the X-CP-* headers)."""

    fs: FreeSwitchStandIn | RealMedia
    controller: ControllerProcess
    web: WebServer
    db_proxy: CuttableProxy | None
    env: dict[str, str]
    node_name: str = "fs-node-1"
    scale: float = TIME_SCALE  # call-seconds per real second (1 on a real node)

    @property
    def real(self) -> bool:
        return isinstance(self.fs, RealMedia)

    def require_standin(self, why: str) -> None:
        if self.real:
            pytest.skip(f"needs the FreeSWITCH stand-in, not a real node: {why}")


@pytest.fixture()
def rig(clean_db: str, redis_client, tmp_path: Path, request: pytest.FixtureRequest):
    """Media node + controller (+ web app for the CDR push). Extra controller env via the
    `controller_env` marker: @pytest.mark.controller_env(CP_WARN_SECONDS="5")."""
    options = request.node.get_closest_marker("rig")
    options = options.kwargs if options else {}
    web = WebServer(write=not options.get("cdr_capture_only"))
    port = free_port()
    blackhole = BlackHole() if options.get("cdr_blackhole") else None
    cdr_web = f"http://127.0.0.1:{blackhole.port}" if blackhole else web.url
    fs: FreeSwitchStandIn | RealMedia
    if real_freeswitch_wanted():
        if options.get("linger_notice"):
            pytest.skip("the linger notice's place is the stand-in's to choose; a real node races")
        fs = RealMedia(("127.0.0.1", port), None if options.get("no_cdr_push") else cdr_web + CDR_PATH,
                       timeout_scale=TIME_SCALE).start()
        scale, node_name, dial = 1.0, fs.fs.node_name, {"CP_KAMAILIO_SIP": "direct"}
    else:
        cdr = None if options.get("no_cdr_push") else production_cdr_settings(cdr_web, tmp_path / "cdr-errors")
        if cdr is not None and blackhole:  # each try still outlasts the controller's wait, in 2 s instead of 10
            cdr = dataclasses.replace(cdr, timeout=2.0)
        # As a rendered node: the switchname is the node's name, the host name the machine's.
        fs = FreeSwitchStandIn(controller=("127.0.0.1", port), inbound_port=0, time_scale=TIME_SCALE, cdr=cdr,
                               hostname="media-host-1", switchname="fs-node-1",
                               linger_notice=options.get("linger_notice", "after_cs_hangup")).start()
        scale, node_name, dial = TIME_SCALE, "fs-node-1", {}
    env = os.environ.copy()
    env.update(
        CP_CONTROLLER_PORT=str(port), CP_TIME_SCALE=str(scale),
        CP_FS_NODES=f"{node_name}=127.0.0.1:{fs.inbound_port}:ClueCon", CP_SYNC_INTERVAL="5",
        CP_NODE_LOST_AFTER="10", CP_LOG_LEVEL="INFO", CP_SPOOL_DIR=str(tmp_path / "spool"),
        CP_DECK_CHECK_INTERVAL="0", CP_DECISION_CACHE_TTL="0", CP_DB_POOL_SIZE="4", CP_DB_POOL_OVERFLOW="8", **dial,
    )
    marker = request.node.get_closest_marker("controller_env")
    if marker:
        env.update(marker.kwargs)
    proxy = None
    if options.get("db_proxy"):
        from sqlalchemy import make_url

        url = make_url(env["DATABASE_URL"])
        proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 3306)).start()
        env["DATABASE_URL"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    controller = ControllerProcess(port, env, tmp_path / "controller.log")
    try:  # whatever fails from here on, nothing started is left running
        controller.start()
        yield Rig(fs, controller, web, proxy, env, node_name, scale)
    finally:
        controller.stop()
        if proxy is not None:
            proxy.cut()
        fs.stop()
        web.stop()
        if blackhole:
            blackhole.close()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(controller.output()[-5000:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "controller_env(**env): extra environment for the controller process")
    config.addinivalue_line("markers", "rig(no_cdr_push=False, db_proxy=False, linger_notice=..., "
                                       "cdr_blackhole=False, cdr_capture_only=False): how the test rig is built")


@dataclass
class World:
    tenant_id: int
    account_id: int
    account2_id: int
    realm: str


RETAIL = (
    "prefix,destination,rate,initblock,billingblock,connectcharge\n"
    "49,Germany,0.60,1,1,0\n"            # 0.01 per second
    "4930,Berlin,0.60,60,60,0\n"         # whole minutes
    "44,UK,1.20,6,6,0.05\n"
    "1,USA,0.06,1,1,0\n"
)


@pytest.fixture()
def world(session) -> World:
    """acme (prepaid, 1.00 credit) with accounts 1000 and 1001; carriers A (5071) and B (5072)."""
    ensure_operator(session)
    import_deck(session, Scope.operator(), "retail", RETAIL.splitlines(keepends=True))
    import_deck(session, Scope.operator(),
                "buy-a", ["49,Germany,0.30,1,1,0\n", "44,UK,0.50,1,1,0\n", "1,USA,0.02,1,1,0\n"])
    import_deck(session, Scope.operator(),
                "buy-b", ["49,Germany,0.40,1,1,0\n", "44,UK,0.60,1,1,0\n", "1,USA,0.03,1,1,0\n"])
    create_plan(session, Scope.operator(), name="basic", decks=["retail"])
    create_carrier(session, Scope.operator(),
                   name="carrier-a", host="127.0.0.1", port=5071, buy_deck="buy-a", priority=1)
    create_carrier(session, Scope.operator(),
                   name="carrier-b", host="127.0.0.1", port=5072, buy_deck="buy-b", priority=2)
    tenant = create_tenant(session, Scope.operator(),
                           name="acme", realm="acme.voice.example.com", plan="basic", country_code="49")
    account = create_sip_account(session, Scope.operator(), tenant, "1000", "secret-1000").account
    account2 = create_sip_account(session, Scope.operator(), tenant, "1001", "secret-1001").account
    add_credit(session, Scope.operator(), tenant, Decimal("1.00"), "test credit")
    session.commit()
    return World(tenant.id, account.id, account2.id, tenant.realm)


def headers(world: World, account_id: int | None = None, auth: str = "digest") -> dict[str, str]:
    return {"X-CP-Account": str(account_id or world.account_id), "X-CP-Tenant": str(world.tenant_id),
            "X-CP-Auth": auth}


def balance(session, tenant_id: int) -> Decimal:
    session.expire_all()
    return session.get(Tenant, tenant_id).balance
