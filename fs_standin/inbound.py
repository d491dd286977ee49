"""Inbound ESL server (mod_event_socket on 8021): auth, api, bgapi, event plain, exit (h-in, g1obs)."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

from . import wire

if TYPE_CHECKING:  # pragma: no cover
    from .node import FreeSwitchStandIn


class InboundSession:
    def __init__(self, server: InboundServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.lock = threading.Lock()
        self.authed = False
        self.events: set[str] = set()
        self.closed = False
        self.transcript: list[str] = []

    def send(self, data: bytes) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def close(self) -> None:
        with self.lock:
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def run(self) -> None:
        node = self.server.node
        self.send(b"Content-Type: auth/request\n\n")
        reader = wire.MessageReader(self.sock)
        while not self.closed:
            try:
                msg = reader.read()
            except OSError:
                msg = None
            if msg is None:
                break
            headers, _body, raw = msg
            line = wire.command_line(raw)
            hd = {k: v for k, v in headers[1:]}
            cmd, _, rest = line.partition(" ")
            if not self.authed:
                if cmd == "auth" and rest.strip() == node.password:
                    self.authed = True
                    self.send(wire.command_reply("+OK accepted"))
                    continue
                self.send(wire.command_reply("-ERR invalid"))
                break
            if cmd == "api":
                after: list = []
                self.send(wire.api_response(node.api(rest, after)))
                for fn in after:
                    fn()
            elif cmd == "bgapi":
                node._bgapi(rest, hd.get("Job-UUID"), self.send, deliver=self._deliver_job)
            elif cmd == "event":
                toks = rest.split()
                if toks and toks[0] in ("plain", "json", "xml"):
                    toks = toks[1:]
                self.events.update(toks)
                self.send(wire.command_reply("+OK event listener enabled plain"))
            elif cmd == "noevents":
                self.events.clear()
                self.send(wire.command_reply("+OK no longer listening for events"))
            elif cmd == "exit":
                self.send(wire.command_reply("+OK bye"))
                # h-in:63: no Controlled-Session-UUID, no Content-Disposition
                self.send(wire.disconnect_notice([("Content-Type", "text/disconnect-notice"),
                                                  ("Content-Length", str(len(wire.GOODBYE)))], wire.GOODBYE))
                break
            else:
                self.send(wire.command_reply("-ERR command not found"))
        self.close()
        self.server.forget(self)

    def _deliver_job(self, hdrs: list[tuple[str, str]], body: str) -> None:
        if "ALL" in self.events or "BACKGROUND_JOB" in self.events:
            self.send(wire.event_plain(hdrs, body))

    def publish(self, name: str, headers: list[tuple[str, str]], body: str | None) -> None:
        if not self.authed:
            return
        if "ALL" in self.events or name in self.events:
            self.send(wire.event_plain(headers, body))


class InboundServer:
    def __init__(self, node: FreeSwitchStandIn, host: str, port: int) -> None:
        self.node = node
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.sessions: list[InboundSession] = []
        self.lock = threading.Lock()
        self.running = True

    def start(self) -> None:
        threading.Thread(target=self._accept, name="fs-inbound", daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                break
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the outbound session (call.py)
            sess = InboundSession(self, s)
            with self.lock:
                self.sessions.append(sess)
            threading.Thread(target=sess.run, daemon=True).start()

    def forget(self, sess: InboundSession) -> None:
        with self.lock:
            if sess in self.sessions:
                self.sessions.remove(sess)

    def publish(self, name: str, headers: list[tuple[str, str]], body: str | None) -> None:
        with self.lock:
            sessions = list(self.sessions)
        for s in sessions:
            s.publish(name, headers, body)

    def stop(self) -> None:
        self.running = False
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            sessions = list(self.sessions)
        for s in sessions:
            s.close()
