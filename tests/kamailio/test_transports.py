"""WebSocket/WSS registration, TLS listener, and robustness against malformed SIP."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from tests.kamailio.conftest import make_account, make_tenant
from tests.kamailio.sipclient import WsSip, register_over_ws
from tests.kamailio.test_antifraud import _options


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_register_over_websocket(edge, session, secure):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "web1", "pw-acme-web1")
    edge.sync(session)
    client = WsSip(edge.ip, edge.wss_port if secure else edge.ws_port, secure=secure)
    try:
        code, response = register_over_ws(client, "web1", "acme.test", "pw-acme-web1")
        assert code == 200, response
        reg = edge.rpc.registration("web1", "acme.test")
        assert reg is not None and "transport=ws" in reg.contacts[0].address
        assert reg.contacts[0].user_agent == "cp-test-webphone"
        # Wrong password over WS is refused like anywhere else.
        code, response = register_over_ws(client, "web1", "acme.test", "nope")
        assert code == 403, response
    finally:
        client.close()


def test_tls_listener_speaks_tls(edge):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((edge.ip, edge.tls_port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=edge.ip) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.sendall((f"OPTIONS sip:{edge.ip} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:{edge.ip}>\r\n"
                     "Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
        assert tls.recv(4096).startswith(b"SIP/2.0 200")


def _udp(edge, payload: bytes, source: str = "127.0.0.70") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(payload, (edge.ip, edge.sip_port))


def _tcp(edge, payload: bytes, source: str = "127.0.0.70") -> None:
    with socket.create_connection((edge.ip, edge.sip_port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(payload)
        s.settimeout(1)
        try:
            s.recv(4096)
        except (TimeoutError, ConnectionError):
            pass


def test_malformed_sip_does_not_hurt(edge, session):
    edge.sync(session)
    via = "Via: SIP/2.0/UDP 127.0.0.70:5999;branch=z9hG4bKbadBR\r\n"
    base = ("OPTIONS sip:{ip} SIP/2.0\r\n" + via + "From: <sip:x@127.0.0.70>;tag=1\r\nTo: <sip:{ip}>\r\n"
            "Call-ID: bad-{n}\r\nCSeq: 1 OPTIONS\r\n")
    cases = [
        b"\x00\xff" * 700,
        b"garbage garbage garbage\r\n\r\n",
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200\r\n\r\n",
        (base.format(ip=edge.ip, n=1) + "X-Big: " + "A" * 60000 + "\r\nContent-Length: 0\r\n\r\n").encode(),
        (base.format(ip=edge.ip, n=2) + "Content-Length: 5000\r\n\r\nshort").encode(),
        (base.format(ip=edge.ip, n=3) + "Content-Length: -7\r\n\r\n").encode(),
        (base.format(ip=edge.ip, n=4) + "Content-Length: abc\r\n\r\n").encode(),
        (base.format(ip=edge.ip, n=5) + "CSeq: 99999999999999999999 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
        ("OPTIONS sip:" + "a" * 3000 + "@" + edge.ip + " SIP/2.0\r\n\r\n").encode(),
        (base.format(ip=edge.ip, n=6) + "\r\n".join(f"Via: SIP/2.0/UDP 10.0.0.{i % 250}:5060" for i in range(400))
         + "\r\nContent-Length: 0\r\n\r\n").encode(),
    ]
    for i, payload in enumerate(cases):
        payload = payload.replace(b"BR", str(i).encode())
        _udp(edge, payload[:65000])
        _tcp(edge, payload)
    # TCP: a header that never ends, then the peer goes away.
    _tcp(edge, b"OPTIONS sip:x SIP/2.0\r\nX-Long: " + b"B" * 200000)
    time.sleep(0.5)
    assert edge.alive(), edge.log_text()[-3000:]
    # Still serving, from the same source and from others.
    assert _options(edge.ip, edge.sip_port, "127.0.0.71") == "SIP/2.0 200 Keepalive"
    assert edge.rpc.ping().startswith("kamailio")
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
