"""TCP at the edge as a connection-exhaustion attacker meets it: idle and slow connections are reaped, a
registered phone's connection is kept, CRLF keep-alives are answered, and one address holding many
connections (stopped by the host firewall) leaves the edge serving everyone else.

This module renders its own edge with a 3 s connection lifetime so the reaping fits in a test.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import time
import uuid

import pytest

from controlplane.settings import get_settings
from tests.kamailio.conftest import make_account, make_tenant
from tests.kamailio.sipclient import digest_header

EDGE_ENV = {"CP_KAMAILIO_TCP_LIFETIME": "3"}


def _connect(edge, source: str) -> socket.socket:  # noqa: ANN001
    return socket.create_connection((edge.ip, edge.sip_port), timeout=5, source_address=(source, 0))


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    """True when the edge closes the connection within `within` seconds (EOF or reset)."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def _options(edge, source: str, port: int, call_id: str) -> str:  # noqa: ANN001
    return (f"OPTIONS sip:{edge.ip}:{edge.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {source}:{port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@{source}>;tag=1\r\nTo: <sip:probe@{source}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def _reply(sock: socket.socket, timeout: float = 3.0) -> str:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65535)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data.decode(errors="replace")


def test_idle_and_unfinished_connections_are_reaped(edge, session):
    edge.sync(session)
    idle = _connect(edge, "127.0.0.100")
    partial = _connect(edge, "127.0.0.100")
    partial.sendall(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.100:5999;branch=z9hG4bKp\r\nFrom: <sip:a@b>")
    body = _connect(edge, "127.0.0.100")
    body.sendall(_options(edge, "127.0.0.100", 5999, "partial-body").replace(
        "Content-Length: 0", "Content-Length: 500").encode() + b"only a little")
    try:
        for sock in (idle, partial, body):
            assert _closed_by_peer(sock, within=12), "connection still open well past CP_KAMAILIO_TCP_LIFETIME"
    finally:
        for sock in (idle, partial, body):
            sock.close()


def test_crlf_keepalive_is_answered(edge, session):
    edge.sync(session)
    with _connect(edge, "127.0.0.101") as sock:
        sock.sendall(b"\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(16) == b"\r\n"


def test_registered_phone_keeps_its_connection(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    with _connect(edge, "127.0.0.102") as sock:
        port = sock.getsockname()[1]
        call_id = uuid.uuid4().hex

        def register(cseq: int, auth: str = "") -> str:
            sock.sendall((f"REGISTER sip:acme.test SIP/2.0\r\n"
                          f"Via: SIP/2.0/TCP 127.0.0.102:{port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                          f"Max-Forwards: 70\r\nFrom: <sip:1000@acme.test>;tag=r1\r\nTo: <sip:1000@acme.test>\r\n"
                          f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                          f"Contact: <sip:1000@127.0.0.102:{port};transport=tcp>\r\nExpires: 300\r\n{auth}"
                          "Content-Length: 0\r\n\r\n").encode())
            return _reply(sock)

        challenge = re.search(r"(?im)^WWW-Authenticate:\s*(.*)$", register(1)).group(1).strip()
        header = digest_header(challenge, "REGISTER", "sip:acme.test", "1000", "pw-acme-1000")
        assert register(2, f"Authorization: {header}\r\n").startswith("SIP/2.0 200")
        # Idle for twice the lifetime of an unregistered connection: still open, still served.
        assert not _closed_by_peer(sock, within=7)
        sock.sendall(_options(edge, "127.0.0.102", port, "still-here").encode())
        assert _reply(sock).startswith("SIP/2.0 200")


@pytest.fixture()
def firewall(edge):  # noqa: ANN001, ANN201
    """The host firewall for this edge (10 connections per source) under a scratch table, removed after."""
    from controlplane.kamailio import firewall as fw

    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("the host firewall needs root and nft")
    table = f"cp_conn_{os.getpid()}"
    settings = dataclasses.replace(get_settings(), kamailio_tcp_per_source=10, kamailio_tcp_new_rate=1000)
    try:
        fw.apply(settings, table=table)
    except fw.FirewallError as exc:
        pytest.skip(f"nft refused a table here: {exc}")
    yield
    fw.remove(table=table)


def test_one_address_holding_many_connections_leaves_others_served(edge, session, firewall):
    edge.sync(session)
    held: list[socket.socket] = []
    try:
        for _ in range(10):
            held.append(_connect(edge, "127.0.0.103"))
        with pytest.raises(ConnectionError):  # the 11th: reset by the firewall, never reaches Kamailio
            extra = _connect(edge, "127.0.0.103")
            held.append(extra)
            extra.sendall(_options(edge, "127.0.0.103", 5999, "eleventh").encode())
            _reply(extra)
        with _connect(edge, "127.0.0.104") as other:
            other.sendall(_options(edge, "127.0.0.104", other.getsockname()[1], "other").encode())
            assert _reply(other).startswith("SIP/2.0 200")
    finally:
        for sock in held:
            sock.close()
    # Once the attacker's connections are gone (and reaped), it may connect again.
    time.sleep(0.5)
    with _connect(edge, "127.0.0.103") as again:
        again.sendall(_options(edge, "127.0.0.103", again.getsockname()[1], "again").encode())
        assert _reply(again).startswith("SIP/2.0 200")
