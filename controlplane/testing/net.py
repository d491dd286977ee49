"""Loopback ports for test rigs and benchmarks."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

_GIVEN: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(ip: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ip (SIP listens on both).

    Picked below the kernel's ephemeral range: a port the kernel handed out (bind to 0) can be handed out again,
    as the local port of any outgoing connection (MariaDB, Redis, HTTP), between our check and the server's bind,
    and Kamailio then fails to start ("Error while initializing TCP part of TLS socket", seen in CI).
    """
    low = _ephemeral_low()
    pool = range(20000, low) if low > 21000 else range(10000, 20000)
    for _ in range(200):
        port = random.choice(pool)
        if port in _GIVEN:  # one process never hands out a port twice (its earlier owner may not have bound yet)
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                tcp.bind((ip, port))
                udp.bind((ip, port))
        except OSError:
            continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port")


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    """Until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")
