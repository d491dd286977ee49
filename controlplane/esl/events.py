"""FreeSWITCH events as the controller reads them, and the outbound session that parses them.

`event plain` values arrive URL-encoded (reference fact 3). Parsed here they stay encoded until
read: the controller consults three or four headers of an event's three hundred, and decoding
every one of them (as greenswitch does) was the largest single cost of a call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import unquote

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


def parse_plain(text: str) -> Event:
    """A text/event-plain body: `Name: value` lines up to a blank line, then an optional body."""
    head, _, body = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(": ")
        if sep:
            headers[name] = value
    event = Event(headers, encoded=True)
    if body:
        dict.__setitem__(event, "_body", body)
    return event


class ControllerSession(OutboundSession):
    """greenswitch's outbound session, with events parsed by `parse_plain` and commands that
    may be pipelined: FreeSWITCH reads a socket's commands in order and answers each in turn
    (mod_event_socket runs `api` in line and queues `sendmsg`), so several can go in one write."""

    def send_many(self, commands: list[str]) -> list[AsyncResult]:
        """Send the commands in one write; each reply arrives in its AsyncResult, in order."""
        if not self.connected:
            raise NotConnectedError()
        replies = [AsyncResult() for _ in commands]
        self._commands_sent.extend(replies)
        self.sock.sendall("".join(f"{command}\n\n" for command in commands).encode("utf-8"))
        return replies

    def handle_event(self, event: object) -> None:
        headers = event.headers
        if headers.get("Content-Type") != "text/event-plain":
            super().handle_event(event)
            return
        event.headers = parse_plain(self._read_socket(self.sock_file, int(headers["Content-Length"])))
        dict.__setitem__(event.headers, "Content-Type", "text/event-plain")
        self._esl_event_queue.put(event)
