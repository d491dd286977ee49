"""A tiny outbound-ESL application for tests: accepts the stand-in's connection and runs a script."""

from __future__ import annotations

import queue
import socket
import threading

from fs_standin.wire import MessageReader, parse_headers


class Msg:
    def __init__(self, headers: list[tuple[str, str]], body: bytes) -> None:
        self.headers = headers
        self.body = body
        self.h = dict(headers)

    @property
    def content_type(self) -> str:
        return self.h.get("Content-Type", "")

    @property
    def event(self) -> list[tuple[str, str]]:
        if self.content_type != "text/event-plain":
            return []
        return parse_headers(self.body.decode().split("\n\n", 1)[0])

    @property
    def event_name(self) -> str | None:
        return dict(self.event).get("Event-Name")

    @property
    def kind(self) -> str:
        ct = self.content_type
        if ct == "command/reply":
            return "reply"
        if ct == "text/event-plain":
            return "event:" + (self.event_name or "?")
        if ct == "text/disconnect-notice":
            return "notice:" + self.h.get("Content-Disposition", "")
        return ct


class EslApp:
    """Listens like the controller; one connection at a time."""

    def __init__(self) -> None:
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.addr = self.lsock.getsockname()
        self.conn: socket.socket | None = None
        self.msgs: queue.Queue[Msg | None] = queue.Queue()
        self.received: list[Msg] = []

    def accept(self, timeout: float = 5) -> None:
        self.lsock.settimeout(timeout)
        self.conn, _ = self.lsock.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.conn is not None
        r = MessageReader(self.conn)
        while True:
            try:
                m = r.read()
            except OSError:
                m = None
            if m is None:
                self.msgs.put(None)
                return
            msg = Msg(m[0], m[1])
            self.received.append(msg)
            self.msgs.put(msg)

    def send(self, text: str) -> None:
        assert self.conn is not None
        self.conn.sendall(text.encode())

    def next(self, timeout: float = 10) -> Msg | None:
        return self.msgs.get(timeout=timeout)

    def until(self, pred, timeout: float = 10) -> Msg:
        while True:
            m = self.next(timeout)
            if m is None:
                raise EOFError("connection closed")
            if pred(m):
                return m

    def close(self) -> None:
        if self.conn:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)  # wake our reader thread; peer sees FIN
            except OSError:
                pass
            self.conn.close()
        self.lsock.close()


class EslClient(EslApp):
    """An inbound ESL connection (like fs_cli or an observer) to the stand-in's 8021-style port."""

    def __init__(self, addr: tuple[str, int]) -> None:  # noqa: D107 - no listening socket of its own
        self.lsock = None  # type: ignore[assignment]
        self.addr = addr
        self.msgs = queue.Queue()
        self.received = []
        self.conn = socket.create_connection(addr, timeout=5)
        self.conn.settimeout(None)
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._read, daemon=True).start()

    def close(self) -> None:
        if self.conn:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.close()
