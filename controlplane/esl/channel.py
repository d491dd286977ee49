"""One call's ESL socket: send commands, wait for the events FreeSWITCH sends back."""

from __future__ import annotations

import logging
import time
import uuid as uuidlib
from collections.abc import Callable
from urllib.parse import unquote

import gevent
from gevent.queue import Empty, Queue
from greenswitch.esl import NotConnectedError, OutboundSessionHasGoneAway

from controlplane.esl.events import ControllerSession, Event

log = logging.getLogger(__name__)

# The only events the controller reacts to. Subscribing to these names, filtered to the call's
# own Unique-ID, gives the A leg's events like `myevents` does (reference fact 18) without the
# CHANNEL_EXECUTE / STATE / PROGRESS / BRIDGE / UNPARK traffic nobody here reads. CHANNEL_HANGUP
# is not needed either: the linger notice says the channel hung up (e1:1191), and every later
# event says so in Answer-State and Hangup-Cause (e1:1437-1438).
SUBSCRIBED = ("CHANNEL_EXECUTE_COMPLETE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE")
WATCHED = (*SUBSCRIBED, "DISCONNECT")

PROFILE_TIMES = ("Caller-Channel-Created-Time", "Caller-Channel-Answered-Time", "Caller-Channel-Hangup-Time",
                 "Caller-Channel-Bridged-Time")
HANGUP_STAMP = "Hangup-Event-Date-Timestamp"  # fs_cdr.profile_times: the hang-up time while FreeSWITCH shows 0
Gone = (NotConnectedError, OutboundSessionHasGoneAway, OSError)
COMMAND_TIMEOUT = 10.0


class CallChannel:
    def __init__(self, session: ControllerSession) -> None:
        self.session = session
        self.data: Event = session.session_data or Event()
        self.uuid: str = self.data.get("Unique-ID") or self.data.get("Channel-Unique-ID", "")
        self.events: Queue[Event] = Queue()
        self.hung_up = False
        # When this controller learned of it, in epoch seconds: a node's clock is the wall clock.
        self.hung_up_at: float | None = None
        self.hangup_event: Event | None = None
        self.hangup_complete: Event | None = None
        self.disconnected = False
        # The caller profile's times as last reported (the record's fallback, fs_cdr.profile_times).
        self.profile_times: dict[str, str] = {}
        self._note_times(self.data)
        for name in (*WATCHED, "CHANNEL_BRIDGE"):
            session.register_handle(name, self._on_event)

    def _on_event(self, raw: object) -> None:
        event: Event = raw.headers  # ControllerSession parses every message into an Event
        name = event.name
        was_up = not self.hung_up
        self._note_times(event)
        if name == "CHANNEL_HANGUP_COMPLETE":
            self.hung_up = True
            self.hangup_complete = event
        elif name == "DISCONNECT":
            if event.get("Content-Disposition") == "linger":
                self.hung_up = True  # FreeSWITCH lingers only once the channel has hung up
            else:
                self.disconnected = True
        elif event.get("Answer-State") == "hangup":
            self.hung_up = True
            self.hangup_event = event
        if was_up and self.hung_up:
            self.hung_up_at = time.time()
        self.events.put(event)

    def _note_times(self, event: Event) -> None:
        for name in PROFILE_TIMES:
            value = event.get(name)
            if value and value != "0":
                self.profile_times[name] = value
        # FreeSWITCH reports Caller-Channel-Hangup-Time as 0 until CS_REPORTING (b:2231 against the
        # events before it); the last event sent after the hang-up and before reporting (the socket
        # app's EXECUTE_COMPLETE) is stamped with the very time it later reports (b, d1, e1).
        if event.get("Answer-State") == "hangup" and event.name != "CHANNEL_HANGUP_COMPLETE":
            stamp = event.get("Event-Date-Timestamp")
            if stamp and stamp.isdigit():
                self.profile_times[HANGUP_STAMP] = stamp

    # --- commands ------------------------------------------------------------------------------
    def _send_all(self, commands: list[str]) -> list[object]:
        """Send the commands in one write and wait for every reply; greenswitch would wait forever,
        and a node that dies mid-command must not hang us."""
        try:
            with gevent.Timeout(COMMAND_TIMEOUT):
                return [reply.get() for reply in self.session.send_many(commands)]
        except gevent.Timeout:
            self.disconnected = True
            raise NotConnectedError(f"no reply to {commands[-1].splitlines()[0]!r} in {COMMAND_TIMEOUT} s") from None

    def _send(self, text: str) -> object:
        return self._send_all([text])[0]

    def command(self, text: str) -> str:
        return self._send(text).headers.get("Reply-Text", "")

    def subscribe(self, bridge: bool = False) -> None:
        """Ask for the call's events and to linger; the replies are not waited for here (they
        come back, in order, before the reply to whatever is sent next). `bridge`: CHANNEL_BRIDGE
        too, for a leg answered before it reached us (click-to-call), whose call starts there."""
        names = " ".join((*SUBSCRIBED, "CHANNEL_BRIDGE") if bridge else SUBSCRIBED)
        self.session.send_many([f"filter Unique-ID {self.uuid}", f"event plain {names}", "linger"])

    def execute(self, app: str, arg: str = "", event_lock: bool = True, variables: dict[str, str] | None = None
                ) -> str:
        """Queue an application on the channel, after setting `variables` (both in one write);
        returns its Event-UUID for wait_complete.

        With event-lock FreeSWITCH parses no further sendmsg while the app runs; without it a
        running bridge still takes private events (e.g. uuid_broadcast's warning tone).
        """
        event_uuid = str(uuidlib.uuid4())
        lines = ["sendmsg", "call-command: execute", f"execute-app-name: {app}"]
        if arg:
            lines.append(f"execute-app-arg: {arg}")
        if event_lock:
            lines.append("event-lock: true")
        lines.append(f"Event-UUID: {event_uuid}")
        commands = [self._setvars_command(variables)] if variables else []
        replies = self._send_all([*commands, "\n".join(lines)])
        if variables:
            self._check_setvars(replies[0])
        return event_uuid

    def set_vars(self, values: dict[str, str]) -> None:
        """One `api uuid_setvar_multi`: immediate, and unlike a `set` per variable it costs
        FreeSWITCH (and us) no CHANNEL_EXECUTE / EXECUTE_COMPLETE event pair per variable."""
        self._check_setvars(self._send(self._setvars_command(values)))

    def _setvars_command(self, values: dict[str, str]) -> str:
        pairs = ";".join(f"{name}={setvar_escape(str(value))}" for name, value in values.items())
        return f"api uuid_setvar_multi {self.uuid} {pairs}"

    def _check_setvars(self, reply: object) -> None:
        text = getattr(reply, "data", "") or ""
        if not text.startswith("+OK"):
            log.warning("call %s: uuid_setvar_multi refused: %s", self.uuid, text.strip())

    def hangup(self, cause: str = "NORMAL_CLEARING") -> bool:
        """End the call now. `api uuid_kill` acts at once, where a sendmsg hangup would wait
        behind an event-locked application such as a running bridge."""
        try:
            return self.api(f"uuid_kill {self.uuid} {cause}").startswith("+OK")
        except Gone:
            return False

    def api(self, command: str) -> str:
        return getattr(self._send(f"api {command}"), "data", "") or ""

    def exit(self) -> None:
        try:
            self.command("exit")
        except Gone:
            pass

    # --- waiting -------------------------------------------------------------------------------
    def wait(self, match: Callable[[Event], bool], timeout: float | None,
             on_event: Callable[[Event], None] | None = None) -> Event | None:
        """Consume events until one matches; every event also goes to `on_event`."""
        deadline = None if timeout is None else gevent.get_hub().loop.now() + timeout
        while True:
            remaining = None if deadline is None else deadline - gevent.get_hub().loop.now()
            if remaining is not None and remaining <= 0:
                return None
            try:
                event = self.events.get(timeout=1.0 if remaining is None else min(remaining, 1.0))
            except Empty:
                if not self.session.connected:  # the socket died without a disconnect notice
                    self.disconnected = True
                    return None
                continue
            if on_event is not None:
                on_event(event)
            if match(event):
                return event

    def wait_complete(self, event_uuid: str, timeout: float | None,
                      on_event: Callable[[Event], None] | None = None) -> Event | None:
        """Wait for the application's EXECUTE_COMPLETE, or the channel's end."""
        return self.wait(
            lambda e: (e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application-UUID") == event_uuid)
            or e.name == "DISCONNECT",
            timeout, on_event,
        )


_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", ";": "\\;", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def setvar_escape(value: str) -> str:
    """A value as uuid_setvar_multi must be sent so the channel gets it unchanged.

    FreeSWITCH splits the list with switch_separate_string(';'), whose cleanup drops paired single
    quotes, consumes backslash escapes and trims trailing blanks (switch_utils.c,
    cleanup_separated_string): "O'Brien's" would become "OBriens", a `;` inside JSON would cut the
    value. Escaped, every character comes through; a newline also stays off the ESL command line.
    """
    escaped = value.translate(_ESCAPES)
    body = escaped.rstrip(" ")
    return body + "\\s" * (len(escaped) - len(body))


def sip_headers(data: dict[str, str]) -> dict[str, str]:
    """SIP headers FreeSWITCH exposes as variable_sip_h_<Name> (reference fact 4)."""
    prefix = "variable_sip_h_"
    return {k[len(prefix):]: unquote(v) for k, v in data.items() if k.startswith(prefix)}
