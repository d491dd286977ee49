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
    def __init__(self, host: str, port: int, secure: bool = False, timeout: float = 5.0) -> None:
        raw = socket.create_connection((host, port), timeout=timeout)
        if secure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw, server_hostname=host)
        self.sock = raw
        self.host, self.port = host, port
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
    call_id, tag, ws_host = uuid.uuid4().hex, uuid.uuid4().hex[:8], f"{uuid.uuid4().hex[:8]}.invalid"
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
