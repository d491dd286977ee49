"""Framing and encoding unit tests (README facts 3, 5, 6, 16)."""

from __future__ import annotations

import socket

from fs_standin.wire import (
    MessageReader,
    api_response,
    command_reply,
    event_plain,
    parse_headers,
    url_encode,
)


def test_url_encode_keeps_comma_and_slash() -> None:
    assert url_encode("Sun, 22 Nov 2026 16:21:28 GMT") == "Sun,%2022%20Nov%202026%2016%3A21%3A28%20GMT"
    assert url_encode("+4930111222@127.0.0.1:5070") == "%2B4930111222%40127.0.0.1%3A5070"
    assert url_encode("sofia/internal/x") == "sofia/internal/x"


def test_command_reply_has_no_content_length() -> None:
    assert command_reply("+OK") == b"Content-Type: command/reply\nReply-Text: +OK\n\n"


def test_api_response_short_body_without_newline() -> None:
    assert api_response("42") == b"Content-Type: api/response\nContent-Length: 2\n\n42"


def test_event_plain_framing_and_inner_body() -> None:
    data = event_plain([("Event-Name", "BACKGROUND_JOB"), ("Job-Command-Arg", "a b")], "digest")
    head, _, body = data.partition(b"\n\n")
    assert head.startswith(b"Content-Length: ")
    assert head.endswith(b"Content-Type: text/event-plain")
    assert int(head.split(b"\n")[0].split(b": ")[1]) == len(body)
    assert body == b"Event-Name: BACKGROUND_JOB\nJob-Command-Arg: a%20b\nContent-Length: 6\n\ndigest"


def test_duplicate_headers_kept() -> None:
    hdrs = parse_headers("Hangup-Cause: A\nX: 1\nHangup-Cause: A")
    assert [k for k, _ in hdrs].count("Hangup-Cause") == 2


def test_reader_splits_messages_with_bodies() -> None:
    a, b = socket.socketpair()
    a.sendall(command_reply("+OK") + api_response("true") + event_plain([("Event-Name", "X")]))
    a.close()
    r = MessageReader(b)
    m1, m2, m3 = r.read(), r.read(), r.read()
    assert m1 and m1[0][1] == ("Reply-Text", "+OK")
    assert m2 and m2[1] == b"true"
    assert m3 and m3[1] == b"Event-Name: X\n\n"
    assert r.read() is None
