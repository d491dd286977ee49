"""The whole path on loopback: sipp phone -> Kamailio -> media node -> controller -> Kamailio -> sipp carrier.

One stack per module, started as `scripts/bootstrap.sh up` starts it: Kamailio rendered from kamailio-cfg/ with its
tables written by `kamailio sync`, the web app as `controlplane web` (gunicorn) and the controller as `controlplane
controller`, with their own database (migrated, dropped at the end), free ports and the run's Redis prefix. The
media node is the FreeSWITCH stand-in with its SIP side (fs_standin/sip_side.py), or with
CP_REAL_FREESWITCH=1 a real FreeSWITCH (FREESWITCH_BIN) rendered by `controlplane freeswitch render`; either is a
row of Kamailio's dispatcher set (services.nodes.add_node + kamailio sync) and posts its JSON CDRs to the web app.

Addresses (all loopback):
  127.0.0.1    Kamailio (SIP, JSON-RPC), the controller, the web app, the node's ESL
  127.0.0.71   the media node's SIP
  127.0.0.72   carriers (sipp UAS)
  127.0.0.74   phones (sipp UAC, digest accounts)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from controlplane.freeswitch.render import render as render_node
from controlplane.services.scope import Scope
from controlplane.testing.freeswitch import NOT_INSTALLED, LocalFreeSwitch, freeswitch_binary
from controlplane.testing.lab import (
    KAMAILIO,
    OK_REPLY,
    SDP,
    SIPP,
    Edge,
    Procs,
    node_settings,
    start_kamailio,
    wait_until,
)
from controlplane.testing.net import free_port, wait_port
from tests.conftest import TEST_DB_URL

EDGE_IP, NODE_IP, CARRIER_IP, PHONE_IP = "127.0.0.1", "127.0.0.71", "127.0.0.72", "127.0.0.74"
NODE_NAME = "fs-e2e-1"
CDR_USER, CDR_PASSWORD = "fs-node", "e2e-cdr-secret"
BIN = Path(sys.executable).parent  # the venv's bin: `controlplane` as bootstrap.sh runs it
REFUSALS = (402, 403, 404, 408, 480, 484, 486, 487, 488, 500, 502, 503, 504, 603)

def real_node_wanted() -> bool:
    return os.environ.get("CP_REAL_FREESWITCH") == "1"


# ================================================================================================= media nodes
@dataclass
class NodeLeg:
    """What the media node itself says of a call's A leg at its end."""

    uuid: str
    billsec: int
    answer_epoch: int
    variables: dict[str, str]
    sip_response: int | None = None  # stand-in only: the final code it sent the caller


class StandInNode:
    """The FreeSWITCH stand-in with its SIP side; mod_json_cdr settings as rendered for a production node."""

    kind = "standin"

    def __init__(self, work: Path, settings, controller_port: int) -> None:  # noqa: ANN001 - Settings
        from fs_standin import FreeSwitchStandIn
        from fs_standin.jsoncdr import JsonCdrSettings
        from fs_standin.sip_side import SipSide

        conf = work / "standin-conf"
        render_node(settings, conf, node_name=NODE_NAME, state_dir=work / "standin-state")
        cdr = JsonCdrSettings.from_xml(conf / "autoload_configs" / "json_cdr.conf.xml")
        self.fs = FreeSwitchStandIn(controller=("127.0.0.1", controller_port), inbound_port=settings.esl_port,
                                    time_scale=1.0, cdr=cdr, hostname=NODE_NAME).start()
        self.sip = SipSide(self.fs, NODE_IP, settings.freeswitch_sip_port).start()

    def leg(self, call_id: str, timeout: float = 30.0) -> NodeLeg:
        call = wait_until(lambda: self.sip.calls.get(call_id), timeout, f"the stand-in call of {call_id}")
        call.wait_done(timeout)
        v = call.final_vars
        return NodeLeg(call.uuid, call.billsec, int(v.get("answer_epoch") or 0), v, call.sip_response_to_caller)

    def carrier_invites(self) -> list[str]:
        """The INVITEs the node sent toward Kamailio for its carrier legs (as sent)."""
        return [leg.invite.encode().decode() for leg in self.sip.legs if leg.invite is not None]

    def stop(self) -> None:
        self.sip.stop()
        self.fs.stop()


class RealNode:
    """A real FreeSWITCH from the rendered config; its CHANNEL_HANGUP_COMPLETE events by the caller's Call-ID."""

    kind = "freeswitch"

    def __init__(self, work: Path, settings) -> None:  # noqa: ANN001 - Settings
        from tests.esl.media import _HangupListener

        self.fs = LocalFreeSwitch(settings, work / "fs", node_name=NODE_NAME).start(timeout=60)
        self.listener = _HangupListener(settings.esl_port, settings.esl_password)

    def leg(self, call_id: str, timeout: float = 30.0) -> NodeLeg:
        ev = self.listener.wait(call_id, timeout)
        assert ev is not None, f"no CHANNEL_HANGUP_COMPLETE on the node for Call-ID {call_id}"
        v = {k[len("variable_"):]: val for k, val in ev.items() if k.startswith("variable_")}
        return NodeLeg(ev["Unique-ID"], int(v.get("billsec") or 0), int(v.get("answer_epoch") or 0), v)

    def carrier_invites(self) -> list[str]:
        return []  # what a real node sends is read from the carrier's side

    def stop(self) -> None:
        self.listener.close()
        self.fs.stop()


# ================================================================================================= phones
def phone_scenario(hold_ms: int, call: bool = True) -> str:
    """A phone: REGISTER (401, digest), INVITE (407, digest), then answered -> ACK and BYE after `hold_ms` unless
    the network sends BYE first, or a final refusal -> ACK. Keys: user, realm, name; -au/-ap the credentials.
    Without `call` it only registers (its Contact stays in Kamailio's location after sipp exits)."""
    def msg(first: str, cseq: str, extra: str = "", body: str = "", via: str = "") -> str:
        via = via or "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
        length = "Content-Type: application/sdp\nContent-Length: [len]" if body else "Content-Length: 0"
        return f"""<![CDATA[
{first}
{via}
Max-Forwards: 70
{extra}Call-ID: [call_id]
CSeq: {cseq}
User-Agent: cp-e2e-phone
{length}

{body}]]>"""
    ident = "From: \"[name]\" <sip:[uname]@[realm]>;tag=[pid]SIPpTag00[call_number]\n"
    reg = ident + "To: <sip:[uname]@[realm]>\nContact: <sip:[uname]@[local_ip]:[local_port]>\nExpires: 300\n"
    inv = ident + "To: <sip:[service]@[realm]>\nContact: <sip:[uname]@[local_ip]:[local_port]>\n"
    auth = "[authentication]\n"
    dialog = ident + "[last_To:]\n[routes]\n"
    register, invite = "REGISTER sip:[realm] SIP/2.0", "INVITE sip:[service]@[realm] SIP/2.0"
    failed_ack = msg("ACK sip:[service]@[realm] SIP/2.0", "{n} ACK", ident + "[last_To:]\n", via="[last_Via:]")
    steps = [
        f'<send retrans="500">{msg(register, "1 REGISTER", reg)}</send>',
        '<recv response="401" auth="true"/>',
        f'<send retrans="500">{msg(register, "2 REGISTER", reg + auth)}</send>',
        '<recv response="200"/>',
    ]
    calling = [
        f'<send retrans="500">{msg(invite, "3 INVITE", inv, SDP)}</send>',
        '<recv response="100" optional="true"/>', '<recv response="407" auth="true"/>',
        f"<send>{failed_ack.format(n=3)}</send>",
        f'<send retrans="500">{msg(invite, "4 INVITE", inv + auth, SDP)}</send>',
        '<recv response="100" optional="true"/>', '<recv response="180" optional="true"/>',
        '<recv response="183" optional="true"/>',
        *(f'<recv response="{code}" optional="true" next="refused"/>' for code in REFUSALS),
        '<recv response="200" rrs="true"/>',
        f'<send>{msg("ACK [next_url] SIP/2.0", "4 ACK", dialog)}</send>',
        f'<recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>',
        f'<send next="done">{OK_REPLY}</send>',
        '<label id="hangup"/>',
        f'<send retrans="500">{msg("BYE [next_url] SIP/2.0", "5 BYE", dialog)}</send>',
        '<recv response="200" next="done"/>',
        '<label id="refused"/>', f"<send>{failed_ack.format(n=4)}</send>",
        '<label id="done"/>',
    ]
    return '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="phone">\n' + "\n".join(
        steps + calling if call else steps) + "\n</scenario>\n"


@dataclass
class PhoneCall:
    call_id: str
    returncode: int
    trace: str
    stderr: str = ""

    def _received(self) -> list[str]:
        return [c for c in self.trace.split("----------------------------------------------- ")
                if "message received" in c]

    @property
    def finals(self) -> list[int]:
        """Final responses to its INVITEs (the 407 challenge left out)."""
        codes = []
        for chunk in self._received():
            m = re.search(r"^SIP/2\.0 (\d{3}) .*?^CSeq:\s*\d+ INVITE", chunk, re.M | re.S)
            if m and int(m.group(1)) >= 200 and int(m.group(1)) != 407:
                codes.append(int(m.group(1)))
        return codes

    @property
    def answered(self) -> bool:
        return 200 in self.finals

    @property
    def got_bye(self) -> bool:
        """The network ended the call (a BYE came to the phone)."""
        return any(re.search(r"^BYE sip:", c, re.M) for c in self._received())


# ================================================================================================= the stack
@dataclass
class Stack:
    work: Path
    procs: Procs
    edge: Edge
    node: StandInNode | RealNode
    env: dict[str, str]  # what the stack's own processes run with (CLI commands too)
    web_log: Path
    controller_log: Path
    carrier_log: Path
    tenants: dict[str, int] = field(default_factory=dict)
    realms: dict[str, str] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return self.node.kind == "freeswitch"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`controlplane ...` as an operator runs it, against this stack (its database, Kamailio, Redis)."""
        done = subprocess.run([str(BIN / "controlplane"), *args], env=self.env, capture_output=True, text=True,
                              timeout=60, cwd=self.work)
        assert done.returncode == 0, f"controlplane {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def phone(self, user: str, password: str, tenant: str, dest: str, hold_ms: int = 3000,
              name: str = "Alice") -> PhoneCall:
        """One sipp phone: registers user@realm at Kamailio with digest auth, then calls `dest` through it."""
        call_id = f"e2e-{uuidlib.uuid4().hex}@{PHONE_IP}"
        xml = self.work / f"phone-{user}.xml"
        xml.write_text(phone_scenario(hold_ms))
        trace = self.work / f"phone-{call_id.split('@')[0]}.log"
        args = [SIPP, self.edge.address, "-sf", str(xml), "-i", PHONE_IP, "-p", str(free_port(PHONE_IP)),
                "-t", "u1", "-m", "1", "-s", dest, "-key", "uname", user, "-key", "realm", self.realms[tenant],
                "-key", "name", name, "-au", user, "-ap", password, "-cid_str", call_id, "-nostdin",
                "-recv_timeout", "20000", "-timeout", f"{hold_ms // 1000 + 40}s", "-timeout_error",
                "-trace_msg", "-message_file", str(trace), "-trace_err", "-error_file", str(trace) + ".err"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=hold_ms / 1000 + 60, cwd=self.work)
        return PhoneCall(call_id, done.returncode, trace.read_text(errors="replace") if trace.exists() else "",
                         done.stderr)

    def register(self, user: str, password: str, tenant: str, port: int) -> None:
        """The phone registers user@realm at Kamailio from PHONE_IP:port with digest auth, so a UAS started on that
        port afterwards is where Kamailio's location sends the user's calls."""
        xml = self.work / f"register-{user}.xml"
        xml.write_text(phone_scenario(0, call=False))
        done = subprocess.run([SIPP, self.edge.address, "-sf", str(xml), "-i", PHONE_IP, "-p", str(port), "-t", "u1",
                               "-m", "1", "-key", "uname", user, "-key", "realm", self.realms[tenant], "-key", "name",
                               user, "-au", user, "-ap", password, "-nostdin", "-recv_timeout", "10000",
                               "-timeout", "20s", "-timeout_error"], capture_output=True, text=True, timeout=40,
                              cwd=self.work)
        assert done.returncode == 0, f"{user} did not register: {done.stderr[-2000:]}"

    def api(self, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
        """The stack's REST API, as a client calls it over HTTP."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.env['CP_WEB_PORT']}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def cdr_posts(self, uuid: str) -> list[int]:
        """HTTP statuses the web app answered to the node's JSON CDR POSTs for this leg (gunicorn's access log)."""
        text = self.web_log.read_text(errors="replace") if self.web_log.exists() else ""
        return [int(s) for s in re.findall(rf'"POST /api/v1/cdr/freeswitch\?uuid={uuid} HTTP/1\.[01]" (\d{{3}})', text)]

    def logs(self) -> str:
        out = []
        for path in (self.controller_log, self.web_log, self.edge.log):
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"----- {path.name} (last 4000 characters)\n{text[-4000:]}")
        return "\n".join(out)


RETAIL = ("prefix,destination,rate,initblock,billingblock,connectcharge\n"
          "49,Germany,0.60,1,1,0\n"      # 0.01 per second
          "44,UK,1.20,6,6,0.05\n")       # 6 s blocks and a connect charge
BUY = "49,Germany,0.30,1,1,0\n"
PHONES = {"acme": ("1000", "secret-1000-e2e"), "broke": ("2000", "secret-2000-e2e")}


def prepare_data(carrier_port: int, node_sip: str, esl_port: int, stack_tenants: dict[str, int],
                 realms: dict[str, str]) -> None:
    """Decks, a plan, carrier A, tenants with one phone each (acme with credit, broke without), the media node;
    Kamailio's tables written (it loads them when it starts)."""
    from controlplane.db import session_scope
    from controlplane.kamailio.tables import sync
    from controlplane.services.accounts import create_sip_account
    from controlplane.services.carriers import create_carrier
    from controlplane.services.decks import import_deck
    from controlplane.services.ledger import add_credit
    from controlplane.services.nodes import add_node
    from controlplane.services.plans import create_plan
    from controlplane.services.tenants import create_tenant, ensure_operator

    with session_scope() as s:
        ensure_operator(s)
        import_deck(s, Scope.operator(), "retail", RETAIL.splitlines(keepends=True))
        import_deck(s, Scope.operator(), "buy-a", [BUY])
        create_plan(s, Scope.operator(), name="basic", decks=["retail"])
        create_carrier(s, Scope.operator(), name="carrier-a", host=CARRIER_IP, port=carrier_port, buy_deck="buy-a")
        for name, credit in (("acme", Decimal("5.00")), ("broke", None)):
            realms[name] = f"{name}.e2e.example.com"
            tenant = create_tenant(s, Scope.operator(), name=name, realm=realms[name], plan="basic", country_code="49")
            create_sip_account(s, Scope.operator(), tenant, *PHONES[name])
            if credit:
                add_credit(s, Scope.operator(), tenant, credit, "e2e credit")
            stack_tenants[name] = tenant.id
        add_node(s, Scope.operator(),
                 name=NODE_NAME, sip=node_sip, esl=f"127.0.0.1:{esl_port}", esl_password="ClueCon", weight=100)
        s.commit()
        report = sync(s, reload=False)
        assert not report.errors, report.errors


def web_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from controlplane.db import drop_database
    from controlplane.migrate import upgrade
    from controlplane.settings import get_settings
    from controlplane.testing.lab import carrier_scenario, start_sipp_uas

    if real_node_wanted() and freeswitch_binary() is None:
        pytest.fail(f"CP_REAL_FREESWITCH=1 but {NOT_INSTALLED}")
    if not shutil.which(SIPP) or not shutil.which(KAMAILIO):
        pytest.skip("needs kamailio and sipp")
    work = tmp_path_factory.mktemp("e2e")
    e2e_db = f"{TEST_DB_URL}_e2e"
    saved_db = os.environ["DATABASE_URL"]
    procs, node = Procs(), None
    try:
        upgrade(e2e_db)
        os.environ["DATABASE_URL"] = e2e_db  # this process's services and sync() work on the stack's database
        controller_port, web_port, node_port, esl_port = free_port(), free_port(), free_port(NODE_IP), free_port()
        _, carrier_port = start_sipp_uas(procs, work, "carrier-a", carrier_scenario(), CARRIER_IP, trace=True)
        tenants: dict[str, int] = {}
        realms: dict[str, str] = {}
        prepare_data(carrier_port, f"{NODE_IP}:{node_port}", esl_port, tenants, realms)
        edge = start_kamailio(procs, work / "kamailio", EDGE_IP, memory=(64, 8), env={
            "CP_KAMAILIO_CHILDREN": "4", "CP_KAMAILIO_TCP_CHILDREN": "2", "CP_KAMAILIO_DS_PING_INTERVAL": "1",
            "CP_KAMAILIO_DS_PROBING_THRESHOLD": "1", "CP_KAMAILIO_PIKE_DENSITY": "200"})
        web_log, controller_log = work / "web.log", work / "controller.log"
        env = dict(os.environ, **edge.env, CP_WEB_HOST="127.0.0.1", CP_WEB_PORT=str(web_port),
                   CP_CDR_USER=CDR_USER, CP_CDR_PASSWORD=CDR_PASSWORD, CP_CONTROLLER_PORT=str(controller_port),
                   CP_KAMAILIO_SIP=edge.address, CP_SPOOL_DIR=str(work / "spool"), CP_LOG_LEVEL="INFO",
                   CP_TIME_SCALE="1", GUNICORN_CMD_ARGS=f"--access-logfile {web_log} --error-logfile {web_log}")
        # as scripts/bootstrap.sh start_daemon runs them
        procs.start("web", [str(BIN / "controlplane"), "web"], env=env, cwd=work, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        procs.start("controller", [str(BIN / "controlplane"), "controller"], env=env, cwd=work,
                    stdout=controller_log.open("wb"), stderr=subprocess.STDOUT)
        settings = node_settings(edge.address, controller_port, f"http://127.0.0.1:{web_port}", NODE_IP, node_port,
                                 esl_port, NODE_NAME, CDR_USER, CDR_PASSWORD)
        node = RealNode(work, settings) if real_node_wanted() else StandInNode(work, settings, controller_port)
        wait_until(lambda: web_up(web_port), 30, "the web app's /health")
        wait_port(controller_port, timeout=30)
        wait_until(edge.node_active, 30, "the media node active in Kamailio's dispatcher (OPTIONS answered)")
        yield Stack(work, procs, edge, node, env, web_log, controller_log, work / "carrier-a-messages.log",
                    tenants, realms)
    finally:
        if node is not None:
            node.stop()
        procs.stop_all()
        os.environ["DATABASE_URL"] = saved_db
        drop_database(e2e_db)
        client = redis.Redis.from_url(get_settings().redis_url)
        for key in client.scan_iter(match=f"{get_settings().redis_prefix}*"):
            client.delete(key)


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):  # noqa: ANN001, ANN201
    try:
        return wait_until(predicate, timeout, what, interval=0.1)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201 - the stack's logs with a failure
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "stack" in getattr(item, "funcargs", {}):
        report.sections.append(("stack logs", item.funcargs["stack"].logs()))
