"""Event parsing: values stay URL-encoded on the wire form and read decoded, like greenswitch's."""

from __future__ import annotations

from greenswitch.esl import ESLEvent

from controlplane.esl.events import Event, parse_plain

BODY = (
    "Event-Name: CHANNEL_EXECUTE_COMPLETE\n"
    "Event-Date-Local: 2026-11-22%2018%3A00%3A01\n"
    "Answer-State: hangup\n"
    "Hangup-Cause: NORMAL_CLEARING\n"
    "variable_sip_from_display: Alice%20%22A%22%0ASecond%20line\n"
    "variable_percent: 100%25\n"
    "\n"
)


def test_values_are_decoded_when_read_and_agree_with_greenswitch() -> None:
    event = parse_plain(BODY)
    reference = ESLEvent("")
    reference.parse_data(BODY.replace("%0A", ""))  # greenswitch decodes before splitting lines
    assert event.name == "CHANNEL_EXECUTE_COMPLETE"
    assert event["Event-Date-Local"] == reference.headers["Event-Date-Local"] == "2026-11-22 18:00:01"
    assert event.var("sip_from_display") == 'Alice "A"\nSecond line'  # an encoded newline stays in its value
    assert event.var("percent") == "100%"
    assert dict(event.items())["variable_percent"] == "100%"
    assert event.get("Missing", "x") == "x"


def test_decoded_headers_are_not_decoded_twice() -> None:
    channel_data = Event({"variable_percent": "100%25 is literal"})
    assert channel_data["variable_percent"] == "100%25 is literal"


def test_an_event_body_is_kept_apart() -> None:
    event = parse_plain("Event-Name: BACKGROUND_JOB\nContent-Length: 3\n\n+OK")
    assert event.name == "BACKGROUND_JOB" and event["_body"] == "+OK"
