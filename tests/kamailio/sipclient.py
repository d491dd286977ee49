"""A tiny SIP-over-WebSocket client for the tests (RFC 6455 framing, RFC 7118 SIP, digest auth)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import uuid


class WsSip:
    def __init__(self, host: str, port: int, secure: bool = False, timeout: float = 5.0,
                 source: str | None = None) -> None:
        raw = socket.create_connection((host, port), timeout=timeout,
                                       source_address=(source, 0) if source else None)
        if secure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw, server_hostname=host)
        self.sock = raw
        self.host, self.port = host, port
        # What a browser puts in its Via and Contact: a made-up host, the connection is the way back (RFC 7118).
        self.local_host = f"{uuid.uuid4().hex[:8]}.invalid"
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
            f"Origin: https://{host}\r\n\r\n"
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during WebSocket handshake")
            head += chunk
        self.handshake = head.decode(errors="replace")
        if " 101 " not in self.handshake.splitlines()[0]:
            raise ConnectionError(f"handshake refused: {self.handshake.splitlines()[0]}")

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("WebSocket closed")
            data += chunk
        return data

    def recv(self) -> str:
        while True:
            b1, b2 = self._exact(2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            mask = self._exact(4) if b2 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b1 & 0x0F
            if opcode == 0x9:  # ping -> pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(data)]) + b"\0\0\0\0" + data)
                continue
            if opcode in (0x1, 0x2):
                return data.decode(errors="replace")
            if opcode == 0x8:
                raise ConnectionError("WebSocket closed by server")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def status(response: str) -> int:
    return int(response.split(" ", 2)[1])


def digest_header(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = uuid.uuid4().hex[:16], "00000001"
        resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"')
    resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm=MD5')


def register_over_ws(client: WsSip, username: str, realm: str, password: str) -> tuple[int, str]:
    """REGISTER username@realm over the WebSocket, answering one challenge; (final code, response)."""
    call_id, tag, ws_host = uuid.uuid4().hex, uuid.uuid4().hex[:8], client.local_host
    proto = "WSS" if isinstance(client.sock, ssl.SSLSocket) else "WS"

    def request(cseq: int, auth: str | None) -> str:
        lines = [
            f"REGISTER sip:{realm} SIP/2.0",
            f"Via: SIP/2.0/{proto} {ws_host};branch=z9hG4bK{uuid.uuid4().hex}",
            "Max-Forwards: 70",
            f"From: <sip:{username}@{realm}>;tag={tag}",
            f"To: <sip:{username}@{realm}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{username}@{ws_host};transport=ws>;expires=300",
            "User-Agent: cp-test-webphone",
        ]
        if auth:
            lines.append(f"Authorization: {auth}")
        return "\r\n".join(lines + ["Content-Length: 0", "", ""])

    client.send(request(1, None))
    response = client.recv()
    if status(response) != 401:
        return status(response), response
    challenge = re.search(r"(?im)^WWW-Authenticate:\s*(.*)$", response).group(1).strip()
    client.send(request(2, digest_header(challenge, "REGISTER", f"sip:{realm}", username, password)))
    response = client.recv()
    return status(response), response


# ----- plain SIP over UDP/TCP from a chosen loopback source address -----

SDP = ("v=0\r\no=cp 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")


def headers(message: str, name: str) -> list[str]:
    """Values of every header line called name (case-insensitive), in order."""
    head = message.split("\r\n\r\n", 1)[0]
    return re.findall(rf"(?im)^{re.escape(name)}[ \t]*:[ \t]*(.*?)[ \t\r]*$", head)


def sipp_received(trace: str, method: str) -> list[str]:
    """Requests of method in a sipp -trace_msg log (FsNode.messages()), full text of each."""
    out = []
    for chunk in trace.split("----------------------------------------------- "):
        m = re.search(r"message received \[\d+\] bytes :\s*\n(.*)", chunk, re.S)
        if m and m.group(1).lstrip().startswith(f"{method} "):
            out.append(m.group(1).lstrip())
    return out


def cp_header_lines(message: str) -> list[str]:
    """Every X-CP-* header line of a message (any case), as received."""
    head = message.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    return [line.strip() for line in head.split("\n") if line.lower().startswith("x-cp-")]


class SipDialog:
    """What a UAC needs to send requests inside a dialog it set up (RFC 3261 12.1.2)."""

    def __init__(self, request: str, response: str) -> None:
        self.call_id = headers(request, "Call-ID")[0]
        self.local = headers(request, "From")[0]
        self.remote = headers(response, "To")[0]
        self.remote_tag = re.search(r";tag=([^;>\s]+)", self.remote).group(1)
        contact = headers(response, "Contact")[0]
        self.target = re.search(r"<([^>]+)>", contact).group(1) if "<" in contact else contact.split(";")[0]
        # Route set: the response's Record-Route entries, reversed.
        self.route = [uri for value in headers(response, "Record-Route") for uri in re.findall(r"<[^>]+>", value)]
        self.route.reverse()
        self.cseq = int(headers(request, "CSeq")[0].split()[0])


class SipPeer:
    """A SIP UAC over UDP or TCP bound to source_ip (port 0 = any), talking to remote (host, port)."""

    def __init__(self, source_ip: str, remote: tuple[str, int], transport: str = "udp", port: int = 0,
                 timeout: float = 3.0) -> None:
        self.transport = transport.lower()
        self.remote = remote
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((source_ip, port))
        self.sock.settimeout(timeout)
        if self.transport != "udp":
            self.sock.connect(remote)
        self.ip, self.port = self.sock.getsockname()[:2]
        self.timeout = timeout
        self._buf = b""
        self.closed = False

    def __enter__(self) -> SipPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def via(self, branch: str | None = None) -> str:
        branch = branch or f"z9hG4bK{uuid.uuid4().hex}"
        return f"SIP/2.0/{self.transport.upper()} {self.ip}:{self.port};rport;branch={branch}"

    def request(self, method: str, ruri: str, *, from_: str, to: str, call_id: str, cseq: int,
                extra: list[str] | tuple[str, ...] = (), body: str = "", branch: str | None = None,
                route: list[str] | tuple[str, ...] = (), contact: bool = True,
                content_type: str = "application/sdp", user_agent: str = "cp-test-peer") -> str:
        """The text of one request from this peer (Via, Contact and Content-Length filled in)."""
        lines = [f"{method} {ruri} SIP/2.0", f"Via: {self.via(branch)}", "Max-Forwards: 70"]
        lines += [f"Route: {r}" for r in route]
        lines += [f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
        if contact:
            lines.append(f"Contact: <sip:peer@{self.ip}:{self.port};transport={self.transport}>")
        lines += [f"User-Agent: {user_agent}", *extra]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def in_dialog(self, dialog: SipDialog, method: str, *, ruri: str | None = None, cseq: int | None = None,
                  extra: list[str] | tuple[str, ...] = (), body: str = "", route: list[str] | None = None,
                  content_type: str = "application/sdp") -> str:
        """A request inside dialog (ACK keeps the INVITE's CSeq, others take the next one)."""
        if cseq is None:
            if method != "ACK":
                dialog.cseq += 1
            cseq = dialog.cseq
        return self.request(method, ruri or dialog.target, from_=dialog.local, to=dialog.remote,
                            call_id=dialog.call_id, cseq=cseq, extra=extra, body=body,
                            route=dialog.route if route is None else route, contact=method != "BYE",
                            content_type=content_type)

    def send(self, text: str) -> None:
        data = text.encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.remote)
        else:
            self.sock.sendall(data)

    def recv(self, timeout: float | None = None) -> str | None:
        """The next SIP message, or None when nothing (more) arrives within timeout."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            if self.transport == "udp":
                while True:
                    data = self.sock.recv(65535)
                    if data.strip():
                        return data.decode(errors="replace")
            while True:
                self._buf = self._buf.lstrip(b"\r\n")
                head, sep, rest = self._buf.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
                    length = int(m.group(1)) if m else 0
                    if len(rest) >= length:
                        self._buf = rest[length:]
                        return (head + sep + rest[:length]).decode(errors="replace")
                if self.closed:
                    return None
                chunk = self.sock.recv(65535)
                if not chunk:
                    self.closed = True
                self._buf += chunk
        except (TimeoutError, ConnectionError):
            return None

    def final(self, timeout: float | None = None) -> str | None:
        """The next final response (>= 200), skipping provisional ones; None if none within timeout."""
        import time

        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv(left)
            if msg is None:
                return None
            if msg.startswith("SIP/2.0 ") and status(msg) >= 200:
                return msg
        return None

    def transact(self, text: str, timeout: float | None = None) -> str | None:
        """Send a request, return its final response (None when nothing final came back)."""
        self.send(text)
        return self.final(timeout)

    def ack_negative(self, invite: str, response: str) -> None:
        """The hop-by-hop ACK of a non-2xx final response to invite (same branch)."""
        via = headers(invite, "Via")[0]
        branch = re.search(r";branch=([^;\s]+)", via).group(1)
        self.send(self.request("ACK", invite.split(" ", 2)[1], from_=headers(invite, "From")[0],
                               to=headers(response, "To")[0], call_id=headers(invite, "Call-ID")[0],
                               cseq=int(headers(invite, "CSeq")[0].split()[0]), branch=branch, contact=False))


def invite_with_digest(peer: SipPeer, ruri: str, username: str, realm: str, password: str, *,
                       extra: list[str] | tuple[str, ...] = (), timeout: float = 5.0, body: str | None = None,
                       contact: str | None = None) -> tuple[str, str | None]:
    """INVITE ruri as username@realm (SDP offer, `body` or a plain one at the peer's address), answering one
    401/407 challenge. `contact`: a Contact URI of its own (a phone behind NAT names its private address).

    Returns (the last INVITE sent, its final response or None). A 2xx is not ACKed here: build the
    ACK with SipDialog(invite, response) and peer.in_dialog(dialog, "ACK").
    """
    call_id, tag = f"{uuid.uuid4().hex}@{peer.ip}", uuid.uuid4().hex[:10]
    from_, to = f"<sip:{username}@{realm}>;tag={tag}", f"<{ruri}>"
    body = SDP.format(ip=peer.ip) if body is None else body
    extra = [*extra, f"Contact: <{contact}>"] if contact else list(extra)
    invite = peer.request("INVITE", ruri, from_=from_, to=to, call_id=call_id, cseq=1, extra=extra, body=body,
                          contact=contact is None)
    response = peer.transact(invite, timeout)
    if response is None or status(response) not in (401, 407):
        return invite, response
    peer.ack_negative(invite, response)
    name = "Proxy-Authenticate" if status(response) == 407 else "WWW-Authenticate"
    auth_name = "Proxy-Authorization" if status(response) == 407 else "Authorization"
    challenge = headers(response, name)[0]
    auth = digest_header(challenge, "INVITE", ruri, username, password)
    invite = peer.request("INVITE", ruri, from_=from_, to=to, call_id=call_id, cseq=2,
                          extra=[*extra, f"{auth_name}: {auth}"], body=body, contact=contact is None)
    return invite, peer.transact(invite, timeout)


# ----- SIP over WebSocket beyond REGISTER: what a browser phone sends in a call -----

def ws_request(client: WsSip, method: str, ruri: str, *, from_: str, to: str, call_id: str, cseq: int,
               extra: list[str] | tuple[str, ...] = (), body: str = "", route: list[str] | tuple[str, ...] = (),
               branch: str | None = None) -> str:
    """The text of one request from a WebSocket client (its made-up host in Via and Contact)."""
    proto = "WSS" if isinstance(client.sock, ssl.SSLSocket) else "WS"
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/{proto} {client.local_host};branch={branch or f'z9hG4bK{uuid.uuid4().hex}'}",
             "Max-Forwards: 70", *[f"Route: {r}" for r in route],
             f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
    if method not in ("ACK", "BYE", "CANCEL"):
        lines.append(f"Contact: <sip:webphone@{client.local_host};transport=ws>")
    lines += ["User-Agent: cp-test-webphone", *extra]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def ws_final(client: WsSip, timeout: float = 5.0) -> str | None:
    """The next final response on the WebSocket (provisional ones and requests skipped), None after timeout."""
    import time

    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        client.sock.settimeout(left)
        try:
            msg = client.recv()
        except (TimeoutError, ConnectionError):
            return None
        if msg.startswith("SIP/2.0 ") and status(msg) >= 200:
            return msg
    return None


def invite_over_ws(client: WsSip, ruri: str, username: str, realm: str, password: str, body: str,
                   timeout: float = 5.0) -> tuple[str, str | None]:
    """INVITE ruri over the WebSocket as username@realm with `body` (SDP), answering one 401/407 challenge.

    Returns (the last INVITE sent, its final response or None); a 2xx is not ACKed here."""
    call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:10]
    from_, to = f"<sip:{username}@{realm}>;tag={tag}", f"<{ruri}>"
    invite = ws_request(client, "INVITE", ruri, from_=from_, to=to, call_id=call_id, cseq=1, body=body)
    client.send(invite)
    response = ws_final(client, timeout)
    if response is None or status(response) not in (401, 407):
        return invite, response
    branch = re.search(r";branch=([^;\s]+)", headers(invite, "Via")[0]).group(1)
    client.send(ws_request(client, "ACK", ruri, from_=from_, to=headers(response, "To")[0], call_id=call_id,
                           cseq=1, branch=branch))
    name = "Proxy-Authenticate" if status(response) == 407 else "WWW-Authenticate"
    auth_name = "Proxy-Authorization" if status(response) == 407 else "Authorization"
    auth = digest_header(headers(response, name)[0], "INVITE", ruri, username, password)
    invite = ws_request(client, "INVITE", ruri, from_=from_, to=to, call_id=call_id, cseq=2, body=body,
                        extra=[f"{auth_name}: {auth}"])
    client.send(invite)
    return invite, ws_final(client, timeout)


def ws_in_dialog(client: WsSip, dialog: SipDialog, method: str, body: str = "") -> str:
    """A request inside dialog from the WebSocket client (ACK keeps the INVITE's CSeq)."""
    if method != "ACK":
        dialog.cseq += 1
    return ws_request(client, method, dialog.target, from_=dialog.local, to=dialog.remote, call_id=dialog.call_id,
                      cseq=dialog.cseq, route=dialog.route, body=body)



def options_request(peer: SipPeer, ua: str = "cp-test") -> str:
    """A keepalive OPTIONS to the peer's remote (the edge), saying `ua` in its User-Agent."""
    host, port = peer.remote
    return peer.request("OPTIONS", f"sip:{host}:{port}", from_=f"<sip:probe@{peer.ip}>;tag=p{peer.port}",
                        to=f"<sip:{host}:{port}>", call_id=uuid.uuid4().hex, cseq=1, user_agent=ua)


def options(peer: SipPeer, ua: str = "cp-test", timeout: float = 1.5) -> str | None:
    """options_request's answer: its status line, or None when nothing final came back."""
    reply = peer.transact(options_request(peer, ua), timeout)
    return reply.splitlines()[0] if reply else None
