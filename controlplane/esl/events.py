"""FreeSWITCH events as the controller reads them, and the outbound session that parses them.

`event plain` values arrive URL-encoded (reference fact 3). Parsed here they stay encoded until
read: the controller consults three or four headers of an event's three hundred, and decoding
every one of them (as greenswitch does) was the largest single cost of a call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import unquote

import gevent
from gevent.event import AsyncResult
from greenswitch.esl import NotConnectedError, OutboundSession


class Event(dict[str, str]):
    """An event's headers by name; `encoded` ones are decoded on every read."""

    __slots__ = ("encoded",)

    def __init__(self, headers: dict[str, str] | None = None, encoded: bool = False) -> None:
        super().__init__(headers or {})
        self.encoded = encoded

    def __getitem__(self, name: str) -> str:
        value = dict.__getitem__(self, name)
        return unquote(value) if self.encoded and "%" in value else value

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = dict.get(self, name)
        if value is None:
            return default
        return unquote(value) if self.encoded and "%" in value else value

    def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        for name in self:
            yield name, self[name]

    @property
    def name(self) -> str:
        if self.get("Content-Type") == "text/disconnect-notice":
            return "DISCONNECT"
        return self.get("Event-Name", "")

    def var(self, name: str, default: str | None = None) -> str | None:
        return self.get(f"variable_{name}", default)


class Variables(Mapping[str, str]):
    """An event's channel variables (`variable_<name>`) by name, decoded as they are read."""

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event

    def __getitem__(self, name: str) -> str:
        return self.event[f"variable_{name}"]

    def __iter__(self) -> Iterator[str]:
        return (name[9:] for name in dict.keys(self.event) if name.startswith("variable_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def parse_headers(text: str) -> Event:
    """`Name: value` lines, values left encoded (decoded when read)."""
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if sep:
            headers[name] = value
    return Event(headers, encoded=True)


def parse_plain(text: str) -> Event:
    """A text/event-plain body: `Name: value` lines up to a blank line, then an optional body."""
    head, _, body = text.partition("\n\n")
    event = parse_headers(head)
    if body:
        dict.__setitem__(event, "_body", body)
    return event


class Message:
    """One message from FreeSWITCH as greenswitch's session hands it around."""

    __slots__ = ("headers", "data")

    def __init__(self, headers: Event) -> None:
        self.headers = headers
        self.data: str | None = None


class ControllerSession(OutboundSession):
    """greenswitch's outbound session with our reader: each header block parsed once (values
    decoded when read), every message's body read (a disconnect notice's too), events parsed by
    `parse_plain` and handed to their handlers by the reader itself (every handler here only
    records or queues, so greenswitch's second greenlet and queue hop per event are not needed).
    Commands may be pipelined: FreeSWITCH reads a socket's commands in order and answers each in
    turn (mod_event_socket runs `api` in line and queues `sendmsg`)."""

    def start_event_handlers(self) -> None:
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    def _deliver(self, message: Message) -> None:
        """greenswitch's process_events choice of handlers, for one message."""
        headers = message.headers
        if headers.get("Content-Type") == "text/disconnect-notice":
            handlers = self.event_handlers.get("DISCONNECT")
        elif headers.get("Event-Name") == "CUSTOM":
            handlers = self.event_handlers.get(headers.get("Event-Subclass"))
        else:
            handlers = self.event_handlers.get(headers.get("Event-Name"))
        for handler in handlers or self.event_handlers.get("*") or ():
            self._safe_exec_handler(handler, message)

    def send_many(self, commands: list[str]) -> list[AsyncResult]:
        """Send the commands in one write; each reply arrives in its AsyncResult, in order."""
        if not self.connected:
            raise NotConnectedError()
        replies = [AsyncResult() for _ in commands]
        self._commands_sent.extend(replies)
        self.sock.sendall("".join(f"{command}\n\n" for command in commands).encode("utf-8"))
        return replies

    def receive_events(self) -> None:
        lines: list[bytes] = []
        while self._run:
            try:
                line = self.sock_file.readline()
            except Exception:  # noqa: BLE001 - a closed or broken socket ends the session
                line = b""
            if not line:
                self._run = False
                self.connected = False
                break
            if line != b"\n":
                lines.append(line)
            elif lines:
                self.handle_event(Message(parse_headers(b"".join(lines).decode("utf-8"))))
                lines = []

    def handle_event(self, message: Message) -> None:
        headers = message.headers
        kind = headers.get("Content-Type")
        length = int(headers.get("Content-Length") or 0)
        body = self._read_socket(self.sock_file, length) if length else ""
        if kind == "text/event-plain":
            message.headers = parse_plain(body)
            dict.__setitem__(message.headers, "Content-Type", kind)
            self._deliver(message)
        elif kind in ("command/reply", "api/response"):
            message.data = headers.get("Reply-Text") if kind == "command/reply" else body
            if self._commands_sent:
                self._commands_sent.pop(0).set(message)
        elif kind == "text/disconnect-notice":
            if headers.get("Content-Disposition") == "linger":
                self._lingering = True
            else:
                self.connected = False
            self._deliver(message)
        elif kind in ("auth/request", "text/rude-rejection"):
            if kind == "text/rude-rejection":
                self.connected = False
            self._auth_request_event.set()
        else:
            message.data = body
            self._deliver(message)
