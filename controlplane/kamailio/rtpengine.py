"""rtpengine, the edge's media relay (Debian's rtpengine-daemon, user-space forwarding only).

Kamailio drives it over the ng control protocol (its rtpengine module, `WITH_RTPENGINE`). Every start (`bootstrap.sh
up`, the test rigs) uses one command line, `command()`; `NgClient` speaks the same protocol for health checks and tests
(bencoded dictionaries over UDP, each prefixed with a cookie the answer repeats).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from controlplane.errors import DomainError
from controlplane.settings import Settings, get_settings


class RtpengineError(DomainError):
    """rtpengine answered with an error, or not at all."""


def ng_address(value: str) -> tuple[str, int]:
    """'ip:port' of the ng control socket (CP_RTPENGINE_NG) as (ip, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RtpengineError(f"CP_RTPENGINE_NG must be ip:port, not {value!r}")
    return host.strip("[]"), int(port)


def command(settings: Settings | None = None, *, pid_file: str | Path | None = None) -> list[str]:
    """The one rtpengine command line, in the foreground, logging to stderr.

    `--config-file=none`: the package's /etc/rtpengine/rtpengine.conf (kernel table 0, HTTP and CLI listeners,
    recording) is never read. `--table=-1`: user-space forwarding only, no kernel module, no iptables rules.
    """
    settings = settings or get_settings()
    ip, port = ng_address(settings.rtpengine_ng)
    if settings.rtpengine_port_min >= settings.rtpengine_port_max:
        raise RtpengineError("CP_RTPENGINE_PORT_MIN must be below CP_RTPENGINE_PORT_MAX")
    argv = [settings.rtpengine_bin, "--config-file=none", "--table=-1", "--foreground", "--log-stderr",
            f"--interface={settings.rtpengine_interface}", f"--listen-ng={ip}:{port}",
            f"--port-min={settings.rtpengine_port_min}", f"--port-max={settings.rtpengine_port_max}"]
    if pid_file is not None:
        argv.append(f"--pidfile={pid_file}")
    return argv


# ------------------------------------------------------------------------------------------------------ bencode
def bencode(value: Any) -> bytes:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list | tuple):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(str(k)) + bencode(v) for k, v in value.items()) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Any:
    value, end = _bdecode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after bencoded value")
    return value


def _bdecode(data: bytes, i: int) -> tuple[Any, int]:
    kind = data[i:i + 1]
    if kind == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if kind in (b"l", b"d"):
        i += 1
        items = []
        while data[i:i + 1] != b"e":
            item, i = _bdecode(data, i)
            items.append(item)
        if kind == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2], strict=True)), i + 1
    colon = data.index(b":", i)
    start = colon + 1
    end = start + int(data[i:colon])
    raw = data[start:end]
    try:
        return raw.decode(), end
    except UnicodeDecodeError:
        return raw, end


# ------------------------------------------------------------------------------------------------------ ng client
class NgClient:
    """A few ng commands over UDP: ping, statistics, list, query (what a health check or a test needs)."""

    def __init__(self, address: str | None = None, timeout: float = 2.0) -> None:
        self.address = ng_address(address or get_settings().rtpengine_ng)
        self.timeout = timeout

    def command(self, name: str, **params: Any) -> dict[str, Any]:
        cookie = os.urandom(6).hex().encode()
        payload = cookie + b" " + bencode({"command": name, **{k.replace("_", "-"): v for k, v in params.items()}})
        with socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(self.timeout)
            try:
                s.sendto(payload, self.address)
                while True:
                    data = s.recv(65535)
                    head, _, body = data.partition(b" ")
                    if head == cookie:
                        break
            except OSError as exc:  # timeout, or ICMP port unreachable
                raise RtpengineError(f"rtpengine ng at {self.address[0]}:{self.address[1]}: no answer "
                                     f"({type(exc).__name__})") from exc
        answer = bdecode(body)
        if answer.get("result") == "error":
            raise RtpengineError(f"rtpengine {name}: {answer.get('error-reason', 'error')}")
        return answer

    def ping(self) -> bool:
        return self.command("ping").get("result") == "pong"

    def calls(self) -> list[str]:
        """Call-IDs of the sessions rtpengine holds (deleted ones go at once with delete-delay=0, else later)."""
        return list(self.command("list", limit=10000).get("calls", []))

    def query(self, call_id: str) -> dict[str, Any]:
        return self.command("query", call_id=call_id)

    def statistics(self) -> dict[str, Any]:
        return self.command("statistics").get("statistics", {})
