"""A SIP side for the stand-in: a small UDP SIP endpoint where Kamailio's dispatcher sends calls.

    fs = FreeSwitchStandIn(controller=("127.0.0.1", port), hostname="fs-node-1", cdr=...).start()
    sip = SipSide(fs, "127.0.0.71").start()      # sip.port: register ip:port as the media node
    sip.calls["<Call-ID>"]                        # the stand-in Call an INVITE with that Call-ID became
    sip.legs                                      # the carrier legs it dialled, oldest first
    sip.stop(); fs.stop()

An INVITE from Kamailio gets 100 and becomes a stand-in call (`place_call`: From user and display name, the
R-URI user as destination, every X- header as a ``sip_h_`` variable); what the call does is relayed to the caller
(CHANNEL_PROGRESS -> 180, CHANNEL_ANSWER -> 200 with the channel's SDP, a hang-up before answer -> the final
code `call.sip_response_to_caller`, a hang-up after answer that the caller did not start -> BYE). The caller's ACK,
BYE (-> `Call.caller_hangs_up`) and CANCEL (-> 487, ORIGINATOR_CANCEL) are handled; OPTIONS (the dispatcher's
probes) get 200. A bridge's ``sofia/<profile>/<user>@<host:port>[;fs_path=<uri>]`` leg is sent for real
(`FarEnd.live`): INVITE with R-URI ``sip:<user>@<host:port>``, a Route from fs_path (so it goes to Kamailio), the
leg's ``sip_h_*`` variables as headers; the far end's 180/183, 2xx and final codes decide the leg, and ACK, CANCEL
and BYE are sent as a UA sends them. What is and is not modelled: README.md, "SIP side".
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .call import Call, CallSpec
from .dialstring import Leg
from .farend import SIP_PHRASES, FarEnd

if TYPE_CHECKING:  # pragma: no cover
    from .call import Attempt
    from .node import FreeSwitchStandIn

T1, T2, TIMER_B = 0.5, 4.0, 32.0  # RFC 3261 timers (s): retransmissions double from T1 up to T2; give up at 64*T1
COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
           "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding"}
CANONICAL = {n.lower(): n for n in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length",
                                    "Content-Type", "Record-Route", "Route", "Max-Forwards", "User-Agent", "Allow")}
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
PHRASES = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", **SIP_PHRASES}


# ================================================================================================= messages
@dataclass
class Message:
    """One SIP message: start line, header lines in order (names canonical, compact forms expanded), body."""

    first: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def uri(self) -> str:
        return self.first.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.first.split(" ")[1])

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("CSeq") or "0 ?").partition(" ")
        return int(number), method.strip()

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def all(self, name: str) -> list[str]:
        """Every value of a header, lines split at their top-level commas (Via, Route, Record-Route)."""
        return [item for k, v in self.headers if k == name for item in split_list(v)]

    def lines(self, name: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers if k == name]

    def encode(self) -> bytes:
        head = [self.first] + [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


def parse(data: bytes) -> Message | None:
    """A datagram as a Message (None for keepalives and garbage); the body is cut at Content-Length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].strip() or " " not in lines[0]:
        return None
    msg = Message(lines[0].strip())
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:  # folded continuation
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, f"{v} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip()
        name = COMPACT.get(name, name) if len(name) == 1 else name
        msg.headers.append((CANONICAL.get(name.lower(), name), value.strip()))
    length = msg.get("Content-Length")
    msg.body = body[:int(length)] if length and length.isdigit() else body
    return msg


def split_list(value: str) -> list[str]:
    """Split a header value at commas outside <...> and quotes."""
    out, cur, depth, quoted = [], [], 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def name_addr(value: str) -> tuple[str, str, str]:
    """'"Alice" <sip:1000@realm>;tag=x' -> ('Alice', 'sip:1000@realm', ';tag=x'); a bare URI's params are the
    header's (RFC 3261 20.10)."""
    m = re.match(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>(.*)$', value)
    if m:
        display = m.group(1) if m.group(1) is not None else (m.group(2) or "")
        return re.sub(r"\\(.)", r"\1", display).strip(), m.group(3).strip(), m.group(4).strip()
    uri, _, params = value.strip().partition(";")
    return "", uri, f";{params}" if params else ""


def param(params: str, name: str) -> str | None:
    for item in params.split(";"):
        k, _, v = item.strip().partition("=")
        if k.lower() == name:
            return v
    return None


def uri_user(uri: str) -> str:
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return unquote(rest.split("@", 1)[0]) if "@" in rest else ""


def uri_hop(uri: str) -> tuple[str, int]:
    """Where a sip: URI sends a request: its host and port (5060 when none), params and user dropped."""
    rest = uri.split(":", 1)[1] if uri.lower().startswith(("sip:", "sips:")) else uri
    host = rest.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0]
    if host.startswith("["):
        h, _, p = host[1:].partition("]")
        return h, int(p.lstrip(":") or 5060)
    h, _, p = host.partition(":")
    return h, int(p) if p.isdigit() else 5060


def dialog_hop(route_set: list[str], target: str) -> tuple[str, int]:
    """Where an in-dialog request goes: the first Route (loose routing, as Kamailio's `;lr`), else the target."""
    return uri_hop(name_addr(route_set[0])[1]) if route_set else uri_hop(target)


def new_id(prefix: str = "") -> str:
    return prefix + uuidlib.uuid4().hex[:16]


def offer_sdp(ip: str, port: int) -> bytes:
    o = int(time.time())
    return (f"v=0\r\no=FreeSWITCH {o} {o + 1} IN IP4 {ip}\r\ns=FreeSWITCH\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n").encode()


# ================================================================================================= the endpoint
class _Resend:
    """Retransmits one message from T1, doubling up to `cap`, until stopped or TIMER_B; `on_give_up` then."""

    def __init__(self, side: SipSide, data: bytes, addr: tuple[str, int], cap: float = T2,
                 on_give_up: Callable[[], None] | None = None) -> None:
        self.done = threading.Event()
        self.side, self.data, self.addr, self.cap, self.on_give_up = side, data, addr, cap, on_give_up
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        interval, started = T1, time.monotonic()
        while not self.done.wait(interval):
            if self.side.closed or time.monotonic() - started >= TIMER_B:
                if self.on_give_up is not None and not self.side.closed:
                    self.on_give_up()
                return
            self.side.send_raw(self.data, self.addr)
            interval = min(interval * 2, self.cap)

    def stop(self) -> None:
        self.done.set()


class SipSide:
    """The media node's SIP side on `ip:port` (UDP). `carrier_legs`: every bridge leg with no far-end script of
    its own goes out over SIP (FarEndRegistry.default becomes a live far end)."""

    def __init__(self, node: FreeSwitchStandIn, ip: str = "127.0.0.1", port: int = 0, carrier_legs: bool = True,
                 user_agent: str = "FreeSWITCH stand-in (fs_standin.sip_side)") -> None:
        self.node, self.ip, self.user_agent = node, ip, user_agent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.RLock()
        self.closed = False
        self.calls: dict[str, Call] = {}  # A legs by the caller's Call-ID
        self.servers: dict[str, _ServerCall] = {}
        self.clients: dict[str, _ClientLeg] = {}
        self.legs: list[_ClientLeg] = []
        self.trace: list[tuple[float, str, tuple[str, int], str]] = []  # (time, "in"/"out", peer, message text)
        self._media_port = 20000
        if carrier_legs:
            node.far_ends.default = FarEnd(ring_after=None, live=self.dial)

    @property
    def contact(self) -> str:
        return f"<sip:mod_sofia@{self.ip}:{self.port};transport=udp>"

    def start(self) -> SipSide:
        threading.Thread(target=self._receive, name=f"sip-side-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> SipSide:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------- wire
    def send_raw(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closed:
            return
        try:
            self.sock.sendto(data, addr)
        except OSError:
            return
        with self.lock:
            self.trace.append((time.time(), "out", addr, data.decode("utf-8", "replace")))

    def send(self, msg: Message, addr: tuple[str, int]) -> bytes:
        data = msg.encode()
        self.send_raw(data, addr)
        return data

    def _receive(self) -> None:
        while not self.closed:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            msg = parse(data)
            if msg is None:
                continue
            with self.lock:
                self.trace.append((time.time(), "in", addr, data.decode("utf-8", "replace")))
            try:
                self._dispatch(msg, addr)
            except Exception:  # noqa: BLE001 - a bug here must not stop the endpoint
                import traceback

                traceback.print_exc()

    def _dispatch(self, msg: Message, addr: tuple[str, int]) -> None:
        call_id = msg.get("Call-ID") or ""
        with self.lock:
            client, server = self.clients.get(call_id), self.servers.get(call_id)
        if not msg.is_request:
            if client is not None:
                client.on_response(msg)
            elif server is not None:
                server.on_response(msg)
            return
        if client is not None:
            client.on_request(msg, addr)
        elif server is not None:
            server.on_request(msg, addr)
        elif msg.method == "INVITE" and not to_tag(msg):
            self._new_call(msg, addr)
        elif msg.method == "OPTIONS":
            self.send(self.response(msg, 200, extra=[("Allow", ALLOW)]), addr)
        elif msg.method != "ACK":
            self.send(self.response(msg, 481 if to_tag(msg) else 405), addr)

    # ----------------------------------------------------------------------------- building messages
    def response(self, req: Message, code: int, tag: str | None = None, dialog: bool = False,
                 extra: list[tuple[str, str]] | None = None, body: bytes = b"") -> Message:
        """A response to `req`: its Vias, From, To (with our tag), Call-ID, CSeq; `dialog`: Record-Route and our
        Contact too (18x/2xx to an INVITE)."""
        hdrs = req.lines("Via")
        to = req.get("To") or ""
        if tag and not to_tag(req):
            to = f"{to};tag={tag}"
        hdrs += [("From", req.get("From") or ""), ("To", to), ("Call-ID", req.get("Call-ID") or ""),
                 ("CSeq", req.get("CSeq") or "")]
        if dialog:
            hdrs += req.lines("Record-Route") + [("Contact", self.contact)]
        hdrs += [("User-Agent", self.user_agent), *(extra or [])]
        if body:
            hdrs.append(("Content-Type", "application/sdp"))
        return Message(f"SIP/2.0 {code} {PHRASES.get(code, 'OK' if code < 300 else 'Error')}", hdrs, body)

    def request(self, method: str, uri: str, headers: list[tuple[str, str]], branch: str | None = None,
                body: bytes = b"") -> Message:
        via = ("Via", f"SIP/2.0/UDP {self.ip}:{self.port};rport;branch={branch or new_id('z9hG4bK')}")
        hdrs = [via, ("Max-Forwards", "70"), *headers]
        if body:
            hdrs.append(("Content-Type", "application/sdp"))
        return Message(f"{method} {uri} SIP/2.0", hdrs, body)

    def media_port(self) -> int:
        with self.lock:
            self._media_port += 2
            return self._media_port

    # ----------------------------------------------------------------------------- A legs
    def _new_call(self, invite: Message, addr: tuple[str, int]) -> None:
        server = _ServerCall(self, invite, addr)
        with self.lock:
            self.servers[server.call_id] = server
        self.send(self.response(invite, 100), addr)
        display, uri, _ = name_addr(invite.get("From") or "")
        headers = {k: v for k, v in invite.headers if k.lower().startswith("x-")}
        spec = CallSpec(caller_number=uri_user(uri), caller_name=display or uri_user(uri),
                        destination=uri_user(invite.uri), sip_headers=headers, caller_host=addr[0],
                        caller_port=addr[1], on_event=server.on_event)
        call = self.node.place_call(spec)
        with self.lock:
            server.call = call
            self.calls[server.call_id] = call

    # ----------------------------------------------------------------------------- B legs (FarEnd.live)
    def dial(self, call: Call, leg: Leg, attempt: Attempt) -> _ClientLeg:
        client = _ClientLeg(self, call, leg, attempt)
        with self.lock:
            self.clients[client.call_id] = client
            self.legs.append(client)
        client.start()
        return client


def to_tag(msg: Message) -> str | None:
    return param(name_addr(msg.get("To") or "")[2], "tag")


class _ServerCall:
    """The caller's dialog (UAS): relays the stand-in call's events as responses, takes ACK/BYE/CANCEL."""

    def __init__(self, side: SipSide, invite: Message, addr: tuple[str, int]) -> None:
        self.side, self.invite, self.addr = side, invite, addr
        self.call_id = invite.get("Call-ID") or ""
        self.branch = param((invite.all("Via") or [""])[0], "branch")
        self.tag = new_id()
        self.call: Call | None = None
        self.last: bytes | None = None  # the last response to the INVITE (for its retransmissions)
        self.final: int | None = None
        self.ringing = False
        self.resend: _Resend | None = None
        self.bye: _Resend | None = None
        self.cseq = 0
        self.ended = False

    def _reply(self, code: int, body: bytes = b"") -> None:
        # The channel's sip_rh_* variables go out as headers of the final reply (mod_sofia.c sofia_on_hangup,
        # SOFIA_SIP_RESPONSE_HEADER_PREFIX) and of the 200 (sofia answer).
        extra = [(k[len("sip_rh_"):], v) for k, v in self.call.chan.vars.items()
                 if k.startswith("sip_rh_") and v] if self.call is not None and code >= 200 else []
        msg = self.side.response(self.invite, code, self.tag, dialog=code < 300, body=body, extra=extra)
        self.last = self.side.send(msg, self.addr)
        if code >= 200:  # a final response goes again until the ACK (RFC 3261 13.3.1.4, 17.2.1)
            self.final = code
            self.resend = _Resend(self.side, self.last, self.addr)

    def on_event(self, call: Call, name: str) -> None:
        """The stand-in call's events as SIP toward the caller."""
        with self.side.lock:
            self.call = self.call or call  # events may come before place_call has returned
            if self.ended:
                return
            if name == "CHANNEL_PROGRESS" and self.final is None and not self.ringing:
                self.ringing = True
                self._reply(180)
            elif name == "CHANNEL_ANSWER" and self.final is None:
                sdp = call.chan.vars.get("rtp_local_sdp_str") or offer_sdp(self.side.ip, self.side.media_port())
                self._reply(200, sdp.encode() if isinstance(sdp, str) else sdp)
            elif name == "CHANNEL_HANGUP":
                if self.final is None:
                    self._reply(call.sip_response_to_caller or 480)
                    self.ended = True
                elif self.final < 300 and not call.caller_bye:
                    self._send_bye()

    def _send_bye(self) -> None:
        """The far side ended the call: BYE to the caller along the Record-Route set (RFC 3261 12.2.1.1)."""
        self.ended = True
        self.cseq += 1
        _, target, _ = name_addr(self.invite.get("Contact") or "")
        routes = self.invite.all("Record-Route")
        headers = [("Route", r) for r in routes] + [
            ("From", f"{self.invite.get('To')};tag={self.tag}"), ("To", self.invite.get("From") or ""),
            ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} BYE"), ("User-Agent", self.side.user_agent)]
        hop = dialog_hop(routes, target)
        data = self.side.send(self.side.request("BYE", target, headers), hop)
        self.bye = _Resend(self.side, data, hop)

    def on_request(self, msg: Message, addr: tuple[str, int]) -> None:
        method = msg.method
        if method == "INVITE" and not to_tag(msg):  # a retransmission: the last response again
            if self.last is not None:
                self.side.send_raw(self.last, addr)
            return
        if method == "ACK":
            if self.resend is not None:
                self.resend.stop()
            return
        if method == "CANCEL":
            self.side.send(self.side.response(msg, 200, self.tag), addr)
            with self.side.lock:
                pending = self.final is None and self.call is not None
            if pending:
                threading.Thread(target=self.call.request_hangup, args=("ORIGINATOR_CANCEL",),
                                 kwargs={"refuse_code": 487}, daemon=True).start()
            return
        if method == "BYE":
            self.side.send(self.side.response(msg, 200), addr)
            with self.side.lock:
                mine, self.ended = not self.ended, True
            if mine and self.call is not None:
                threading.Thread(target=self.call.caller_hangs_up, daemon=True).start()
            return
        if method == "OPTIONS":
            self.side.send(self.side.response(msg, 200, extra=[("Allow", ALLOW)]), addr)
            return
        self.side.send(self.side.response(msg, 488 if method == "INVITE" else 200), addr)  # no re-INVITEs

    def on_response(self, msg: Message) -> None:
        if msg.method == "BYE" and msg.status >= 200 and self.bye is not None:
            self.bye.stop()


class _ClientLeg:
    """One carrier leg (UAC), a farend.LiveLeg: INVITE out, the far end's replies in."""

    def __init__(self, side: SipSide, call: Call, leg: Leg, attempt: Attempt) -> None:
        self.side, self.call, self.leg, self.attempt = side, call, leg, attempt
        self.rang_at: float | None = None
        self.answered_at: float | None = None
        self.rejected_code: int | None = None
        self.ended_at: float | None = None
        self.sdp: str | None = None
        self.call_id = new_id("standin-") + f"@{side.ip}"
        self.tag = new_id()
        self.branch = new_id("z9hG4bK")
        self.responses: list[int] = []
        self.provisional = False
        self.cancelled = False  # A gave up: CANCEL sent (or to be sent on the first provisional)
        self.cancel_sent = False
        self.bye_sent = False
        self.remote_tag: str | None = None
        self.remote_target: str | None = None
        self.route_set: list[str] = []
        self.ack: bytes | None = None
        self.invite_resend: _Resend | None = None
        self.other_resend: list[_Resend] = []
        self.invite: Message | None = None
        self.hop: tuple[str, int] = ("127.0.0.1", 5060)
        self.route_invite: list[str] = []
        self.error: str | None = None
        self._build()

    # ----------------------------------------------------------------------------- the INVITE
    def _build(self) -> None:
        """sofia/<profile>/<user>@<host:port>[;fs_path=<uri>][;...] -> the INVITE a node sends for it."""
        parts = self.leg.endpoint.split("/", 2)
        target = parts[2] if len(parts) == 3 and parts[0] == "sofia" else ""
        target = target[4:] if target.startswith("sip:") else target
        addr, *params = target.split(";")
        if "@" not in addr or parts[1] == "gateway":
            self.error = f"not a sofia/<profile>/<user>@<host> leg: {self.leg.endpoint}"
            return
        user, hostport = addr.split("@", 1)
        options = {k: unquote(v) for k, _, v in (p.partition("=") for p in params)}
        ruri = f"sip:{user}@{hostport}"
        path = options.get("fs_path")
        self.route_invite = [f"<{path}>"] if path else []
        self.hop = uri_hop(path) if path else uri_hop(ruri)
        v, spec, side = self.leg.vars, self.call.spec, self.side
        number = v.get("origination_caller_id_number") or spec.caller_number
        name = (v.get("origination_caller_id_name") or spec.caller_name).replace("\\", "\\\\").replace('"', '\\"')
        headers = [("Route", r) for r in self.route_invite] + [
            ("From", f'"{name}" <sip:{number}@{side.ip}:{side.port}>;tag={self.tag}'), ("To", f"<{ruri}>"),
            ("Call-ID", self.call_id), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{number}@{side.ip}:{side.port};transport=udp>"), ("User-Agent", side.user_agent),
            ("Allow", ALLOW)]
        headers += [(k[len("sip_h_"):], val) for k, val in v.items() if k.startswith("sip_h_")]
        self.invite = side.request("INVITE", ruri, headers, self.branch, offer_sdp(side.ip, side.media_port()))

    def start(self) -> None:
        if self.invite is None:  # a dial string this side cannot send: refused at once, as an invalid gateway
            self._set(rejected_code=503)
            return
        data = self.side.send(self.invite, self.hop)
        self.invite_resend = _Resend(self.side, data, self.hop, cap=float("inf"), on_give_up=self._timer_b)

    def _timer_b(self) -> None:
        """No response at all within 64*T1: 408 (RFC 3261 17.1.1.2)."""
        with self.side.lock:
            if self.responses:
                return
        self._set(rejected_code=408)

    def _set(self, **values: object) -> None:
        """Set what the far end did (simulated instants of the node's clock) and wake the bridge."""
        with self.call.cond:
            for k, v in values.items():
                setattr(self, k, v)
            self.call.cond.notify_all()

    # ----------------------------------------------------------------------------- requests we send
    def _same_transaction(self, method: str, to: str) -> bytes:
        """ACK for a non-2xx final or CANCEL: the INVITE's R-URI, Via branch and Route (RFC 3261 17.1.1.3, 9.1)."""
        assert self.invite is not None
        headers = [("Route", r) for r in self.route_invite] + [
            ("From", self.invite.get("From") or ""), ("To", to), ("Call-ID", self.call_id), ("CSeq", f"1 {method}"),
            ("User-Agent", self.side.user_agent)]
        return self.side.send(self.side.request(method, self.invite.uri, headers, self.branch), self.hop)

    def _in_dialog(self, method: str, cseq: int) -> bytes:
        """ACK for a 2xx or BYE: to the remote target along the route set (RFC 3261 12.2.1.1), new branch."""
        assert self.invite is not None and self.remote_target is not None
        to = f"{self.invite.get('To')};tag={self.remote_tag}"
        headers = [("Route", r) for r in self.route_set] + [
            ("From", self.invite.get("From") or ""), ("To", to), ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"), ("User-Agent", self.side.user_agent)]
        hop = dialog_hop(self.route_set, self.remote_target)
        data = self.side.send(self.side.request(method, self.remote_target, headers), hop)
        if method == "BYE":
            self.other_resend.append(_Resend(self.side, data, hop))
        return data

    def cancel(self) -> None:
        """A hung up or the leg timed out before an answer: CANCEL (after a provisional, RFC 3261 9.1); a 2xx
        that crosses it is ACKed and ended with BYE."""
        with self.side.lock:
            if self.answered_at is not None:
                answered = True
            else:
                answered = False
                self.cancelled = True
                send = self.provisional and not self.cancel_sent and self.rejected_code is None
                self.cancel_sent = self.cancel_sent or send
        if answered:
            self.hangup()
        elif send:
            self._send_cancel()

    def _send_cancel(self) -> None:
        assert self.invite is not None
        data = self._same_transaction("CANCEL", self.invite.get("To") or "")
        self.other_resend.append(_Resend(self.side, data, self.hop))

    def hangup(self) -> None:
        """A ended the bridged call: BYE (once; not after the far end's own BYE)."""
        with self.side.lock:
            send = self.remote_target is not None and not self.bye_sent and self.ended_at is None
            self.bye_sent = self.bye_sent or send
        if send:
            self._in_dialog("BYE", 2)

    # ----------------------------------------------------------------------------- what comes back
    def on_response(self, msg: Message) -> None:
        code, (_, method) = msg.status, msg.cseq
        if method != "INVITE":  # our CANCEL's or BYE's final response
            if code >= 200:
                for r in self.other_resend:
                    r.stop()
            return
        now = self.call.clock.now()
        with self.side.lock:
            self.responses.append(code)
            if self.invite_resend is not None:
                self.invite_resend.stop()
            first_final = code >= 200 and self.remote_tag is None and self.rejected_code is None
            cancel_now = code < 200 and self.cancelled and not self.cancel_sent
            if cancel_now:
                self.cancel_sent = True
            self.provisional = self.provisional or code < 200
        if code < 200:
            if cancel_now:
                self._send_cancel()
            if code in (180, 183) and self.rang_at is None:
                self._set(rang_at=now)
            return
        to = msg.get("To") or ""
        if code >= 300:
            self._same_transaction("ACK", to)  # the ACK of a failure is hop by hop, same branch
            if first_final:
                self._set(rejected_code=code)
            return
        if not first_final:  # a retransmitted 2xx: the same ACK again
            if self.ack is not None:
                self.side.send_raw(self.ack, dialog_hop(self.route_set, self.remote_target or ""))
            return
        with self.side.lock:
            self.remote_tag = param(name_addr(to)[2], "tag")
            self.remote_target = name_addr(msg.get("Contact") or "")[1] or self.invite.uri
            self.route_set = list(reversed(msg.all("Record-Route")))
            late = self.cancelled
        self.ack = self._in_dialog("ACK", 1)
        if late:  # the 200 crossed our CANCEL: end it
            self.hangup()
            return
        self._set(answered_at=now, sdp=msg.body.decode("utf-8", "replace") or None)

    def on_request(self, msg: Message, addr: tuple[str, int]) -> None:
        if msg.method == "BYE":
            self.side.send(self.side.response(msg, 200), addr)
            with self.side.lock:
                first = self.ended_at is None and not self.bye_sent
            if first:
                self._set(ended_at=self.call.clock.now())
        elif msg.method != "ACK":
            self.side.send(self.side.response(msg, 200 if msg.method in ("OPTIONS", "INFO", "UPDATE") else 481), addr)
