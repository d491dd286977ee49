"""Parse the reference ESL transcripts (``>>``/``<<`` notation) into messages.

The stand-in is built from and checked against recordings of a real FreeSWITCH 1.10.12; this module
turns a recording back into wire messages so tests can replay the application's script and compare
FreeSWITCH's answers header by header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .wire import parse_headers

_MSG_RE = re.compile(r"^#@ (\d+) (>>|<<) \+([0-9.]+)s (.*)$")


@dataclass
class TranscriptMessage:
    """One framed ESL message of a transcript: direction, time and exact bytes."""

    index: int
    direction: str  # ">>" = sent by the ESL application, "<<" = sent by FreeSWITCH
    t: float
    summary: str
    raw: bytes
    line: int  # line number of the "#@" marker (1-based)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def event_headers(self) -> list[tuple[str, str]]:
        """Headers of an event body (text/event-plain); empty for other messages."""
        if self.content_type != "text/event-plain":
            return []
        text = self.body.decode("utf-8", "replace")
        head = text.split("\n\n", 1)[0]
        return parse_headers(head)

    @property
    def event_name(self) -> str | None:
        for k, v in self.event_headers:
            if k == "Event-Name":
                return v
        return None

    @property
    def kind(self) -> str:
        """A short comparable digest: 'cmd:<first line>', 'reply:<text>', 'event:<name>', ..."""
        if self.direction == ">>":
            return "cmd:" + self.raw.split(b"\n", 1)[0].decode()
        ct = self.content_type
        if ct == "command/reply":
            return "reply"
        if ct == "text/event-plain":
            return "event:" + (self.event_name or "?")
        if ct == "text/disconnect-notice":
            return "notice:" + (self.header("Content-Disposition") or "")
        return ct


@dataclass
class Transcript:
    path: Path
    header_comment: str
    notes: list[tuple[int, str]]
    messages: list[TranscriptMessage]

    def events(self) -> list[TranscriptMessage]:
        return [m for m in self.messages if m.content_type == "text/event-plain"]


def parse_transcript(path: str | Path) -> Transcript:
    """Parse a transcript file; every message's bytes are rebuilt exactly as the README describes."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    comment: list[str] = []
    notes: list[tuple[int, str]] = []
    messages: list[TranscriptMessage] = []
    cur: dict | None = None

    def flush() -> None:
        nonlocal cur
        if cur is None:
            return
        data = "\n".join(cur["lines"])
        if not cur["no_nl"]:
            data += "\n"
        raw = data.encode("utf-8")
        head, _, rest = raw.partition(b"\n\n")
        hdrs = parse_headers(head.decode("utf-8"))
        msg = TranscriptMessage(cur["index"], cur["dir"], cur["t"], cur["summary"], raw, cur["line"], hdrs, rest)
        messages.append(msg)
        cur = None

    for no, line in enumerate(lines, start=1):
        m = _MSG_RE.match(line)
        if m:
            flush()
            cur = {"index": int(m.group(1)), "dir": m.group(2), "t": float(m.group(3)),
                   "summary": m.group(4), "lines": [], "no_nl": False, "line": no}
            continue
        if line.startswith("#!"):
            if cur is not None and "message ends without a newline" in line:
                cur["no_nl"] = True
                continue
            notes.append((no, line[2:].strip()))
            continue
        if line.startswith("#"):
            if not messages and cur is None:
                comment.append(line)
            continue
        if cur is None:
            continue
        if line in (">>", "<<"):
            cur["lines"].append("")
        elif line.startswith((">> ", "<< ")):
            cur["lines"].append(line[3:])
        else:  # pragma: no cover - malformed transcript
            raise ValueError(f"{path}:{no}: unexpected line {line!r}")
    flush()
    return Transcript(path, "\n".join(comment), notes, messages)
