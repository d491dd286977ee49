"""ESL wire format: framing and value encoding exactly as FreeSWITCH 1.10.12 produces them.

Why a module of its own: every byte the stand-in emits goes through here, so the header order,
Content-Length placement and URL-encoding rules (README facts 3, 5, 6) live in one place.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote

# switch_url_encode() leaves alnum and "-_.!~*'()" plus (in event serialisation) "," and "/" alone.
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'(),/")


def url_encode(value: str) -> str:
    """Encode a header value as switch_event_serialize does (a:38 ``Sun,%2022%20Nov``, a:90 ``%2B``)."""
    out = []
    for b in value.encode("utf-8"):
        if b in _SAFE:
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def url_decode(value: str) -> str:
    return unquote(value)


def parse_headers(text: str) -> list[tuple[str, str]]:
    """Parse ``Name: value`` lines in order; duplicate names are kept (fact 16)."""
    out: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            out.append((line, ""))
            continue
        out.append((name, value.removeprefix(" ")))
    return out


def command_line(raw: bytes) -> str:
    """The first line of a command exactly as sent: ``api uuid_broadcast <uuid> tone_stream://...`` must not be
    split at its ':' like a header."""
    return raw.lstrip(b"\n").split(b"\n", 1)[0].decode("utf-8", "replace")


def header_block(headers: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8")


def command_reply(reply_text: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    """``command/reply`` without Content-Length (fact 5); extra headers come after Reply-Text (f3:209)."""
    hdrs = [("Content-Type", "command/reply"), ("Reply-Text", reply_text)]
    if extra:
        hdrs.extend(extra)
    return header_block(hdrs) + b"\n"


def api_response(body: str) -> bytes:
    """``api/response``: Content-Type first, then Content-Length (fact 6); body verbatim."""
    data = body.encode("utf-8")
    return header_block([("Content-Type", "api/response"), ("Content-Length", str(len(data)))]) + b"\n" + data


def serialize_event(headers: list[tuple[str, str]], body: str | None = None) -> str:
    """Body of a text/event-plain message: encoded ``Name: value`` lines, blank line, optional body."""
    lines = "".join(f"{k}: {url_encode(v)}\n" for k, v in headers)
    if body is not None:
        data = body.encode("utf-8")
        return f"{lines}Content-Length: {len(data)}\n\n{body}"
    return lines + "\n"


def event_plain(headers: list[tuple[str, str]], body: str | None = None) -> bytes:
    """Outer framing of an event: Content-Length first, then Content-Type (a:206-208)."""
    payload = serialize_event(headers, body).encode("utf-8")
    return (f"Content-Length: {len(payload)}\nContent-Type: text/event-plain\n\n").encode() + payload


def disconnect_notice(headers: list[tuple[str, str]], body: str = "") -> bytes:
    data = body.encode("utf-8")
    return header_block(headers) + b"\n" + data


GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class MessageReader:
    """Reads ESL messages (headers up to a blank line, then Content-Length bytes) from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read(self) -> tuple[list[tuple[str, str]], bytes, bytes] | None:
        """Return (headers, body, raw bytes) or None on EOF. Leading blank lines are skipped."""
        while True:
            while self.buf.startswith(b"\n"):
                self.buf = self.buf[1:]
            idx = self.buf.find(b"\n\n")
            if idx >= 0:
                break
            if not self._fill():
                return None
        head = self.buf[:idx].decode("utf-8", "replace")
        headers = parse_headers(head)
        length = 0
        for k, v in headers:
            if k.lower() == "content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = 0
        end = idx + 2 + length
        while len(self.buf) < end:
            if not self._fill():
                return None
        body = self.buf[idx + 2:end]
        raw = self.buf[:end]
        self.buf = self.buf[end:]
        return headers, body, raw


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def separate_string(buf: str, delim: str) -> list[str]:
    """switch_separate_string() for a delimiter other than a blank (switch_utils.c, v1.10.12): split at
    `delim` outside paired single quotes and not after a backslash, then per field drop leading blanks,
    the quotes, trailing blanks outside quotes, and turn `\\x` escapes into their character
    (`\\'`, `\\"`, `\\<delim>`, `\\\\`, `\\n`, `\\r`, `\\t`, `\\s`; any other backslash stays as it is)."""
    if buf.startswith("^^") and len(buf) >= 4:
        delim, buf = buf[2], buf[3:]
    fields, start, i, quoted = [], 0, 0, False
    while i < len(buf):
        ch = buf[i]
        if ch == "\\":
            i += 1
        elif ch == "'" and (quoted or "'" in buf[i + 1:]):
            quoted = not quoted
        elif ch == delim and not quoted:
            fields.append(buf[start:i])
            start = i + 1
        i += 1
    if start < len(buf):
        fields.append(buf[start:])
    return [_cleanup(f, delim) for f in fields]


def _cleanup(text: str, delim: str) -> str:
    """cleanup_separated_string()."""
    text = text.lstrip(" ")
    out: list[str] = []
    end, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch == "\\" and nxt and (nxt in ("'", '"', delim, "\\") or nxt in _UNESCAPE):
            out.append(_UNESCAPE.get(nxt, nxt))
            end = len(out)
            i += 2
            continue
        if ch == "'" and (quoted or "'" in text[i + 1:]):
            quoted = not quoted
            if quoted:
                end = len(out)
        else:
            out.append(ch)
            if ch != " " or quoted:
                end = len(out)
        i += 1
    return "".join(out[:end])
