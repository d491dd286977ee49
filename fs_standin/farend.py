"""Scripted far ends for ``bridge``: each endpoint's SIP behaviour, chosen by a dial-string match.

FreeSWITCH maps the far end's final SIP response to a hangup cause with
``sofia_glue_sip_cause_to_freeswitch`` (mod_sofia/sofia_glue.c); the table below copies that mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

SIP_PHRASES = {
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


def sip_cause_to_freeswitch(status: int) -> str:
    """sofia_glue_sip_cause_to_freeswitch() of FreeSWITCH 1.10."""
    table = {
        200: "NORMAL_CLEARING",
        401: "CALL_REJECTED", 402: "CALL_REJECTED", 403: "CALL_REJECTED", 407: "CALL_REJECTED", 603: "CALL_REJECTED",
        404: "UNALLOCATED_NUMBER", 485: "NO_ROUTE_DESTINATION", 604: "NO_ROUTE_DESTINATION",
        408: "RECOVERY_ON_TIMER_EXPIRE", 504: "RECOVERY_ON_TIMER_EXPIRE", 410: "NUMBER_CHANGED",
        480: "NO_USER_RESPONSE", 400: "NORMAL_TEMPORARY_FAILURE", 481: "NORMAL_TEMPORARY_FAILURE",
        500: "NORMAL_TEMPORARY_FAILURE", 503: "NORMAL_TEMPORARY_FAILURE", 486: "USER_BUSY", 600: "USER_BUSY",
        484: "INVALID_NUMBER_FORMAT", 488: "INCOMPATIBLE_DESTINATION", 606: "INCOMPATIBLE_DESTINATION",
        502: "NETWORK_OUT_OF_ORDER", 405: "SERVICE_UNAVAILABLE", 406: "SERVICE_NOT_IMPLEMENTED",
        415: "SERVICE_NOT_IMPLEMENTED", 501: "SERVICE_NOT_IMPLEMENTED", 482: "EXCHANGE_ROUTING_ERROR",
        483: "EXCHANGE_ROUTING_ERROR", 487: "ORIGINATOR_CANCEL",
    }
    for code in (413, 414, 416, 420, 421, 423, 505, 513):
        table[code] = "INTERWORKING"
    return table.get(status, "NORMAL_UNSPECIFIED")


Q850 = {
    "UNALLOCATED_NUMBER": 1, "NO_ROUTE_DESTINATION": 3, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "CALL_REJECTED": 21, "NUMBER_CHANGED": 22,
    "EXCHANGE_ROUTING_ERROR": 25, "DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_UNSPECIFIED": 31, "NETWORK_OUT_OF_ORDER": 38, "NORMAL_TEMPORARY_FAILURE": 41,
    "SERVICE_UNAVAILABLE": 63, "SERVICE_NOT_IMPLEMENTED": 79, "INCOMPATIBLE_DESTINATION": 88,
    "RECOVERY_ON_TIMER_EXPIRE": 102, "INTERWORKING": 127,
}


def q850(cause: str) -> int:
    """Causes above 127 (ALLOTTED_TIMEOUT, ORIGINATOR_CANCEL...) report 16 (d4 HANGUP_COMPLETE)."""
    return Q850.get(cause, 16)


def dialstatus(cause: str) -> str:
    """DIALSTATUS as seen in d1 (BUSY), d2 (NOANSWER), c/d4 (the cause name)."""
    return {"USER_BUSY": "BUSY", "NO_ANSWER": "NOANSWER"}.get(cause, cause)


@dataclass
class FarEnd:
    """What a far end does with the INVITE. Times are simulated seconds after the INVITE / answer.

    ring_after: when it sends 180 (None: never rings). answer_after: 200 OK (None: never answers).
    reject_code: final SIP code (486, 503...) sent reject_after seconds after the INVITE.
    hangup_after: far end sends BYE this long after answering (None: waits for our BYE).
    unreachable: nothing answers at all (times out like an unanswered INVITE).
    live: the far end is a real UA (e.g. reached over SIP by sip_side.py): the bridge calls
    ``live(call, leg, attempt)`` when it dials it and takes what the returned LiveLeg reports instead of the
    times above.
    """

    ring_after: float | None = 0.02
    answer_after: float | None = None
    hangup_after: float | None = None
    reject_code: int | None = None
    reject_after: float = 0.2
    unreachable: bool = False
    callee_name: str = "Outbound Call"
    media_port: int = 16100  # the reference far ends are sipp UASes offering audio on 16100 (j1 a-leg switch_m_sdp)
    live: Callable[[Any, Any, Any], LiveLeg] | None = None

    def sdp(self) -> str:
        """The far end's SDP (sipp's, as the A leg stores it in switch_m_sdp)."""
        return ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n")

    @classmethod
    def answer(cls, after: float = 0.5, hangup_after: float | None = None) -> FarEnd:
        return cls(ring_after=0.02, answer_after=after, hangup_after=hangup_after)

    @classmethod
    def reject(cls, code: int, after: float = 0.2) -> FarEnd:
        return cls(ring_after=None, reject_code=code, reject_after=after)

    @classmethod
    def ring_forever(cls) -> FarEnd:
        return cls(ring_after=0.02)

    @classmethod
    def unreachable_host(cls) -> FarEnd:
        return cls(ring_after=None, unreachable=True)


class LiveLeg(Protocol):
    """One dialled leg whose far end is real. Its owner sets the instants (the node clock's simulated epoch
    seconds) as the far end's replies come in and notifies the calling ``Call.cond`` after each change."""

    rang_at: float | None  # 180/183
    answered_at: float | None  # 2xx
    rejected_code: int | None  # final >= 300 (408 when nothing answered)
    ended_at: float | None  # the far end hung up after answering (its BYE)
    sdp: str | None  # the far end's SDP, from its 2xx

    def cancel(self) -> None:
        """A gave up (or the leg timed out) before an answer: CANCEL."""

    def hangup(self) -> None:
        """A ended the bridged call: BYE."""


class FarEndRegistry:
    """Far-end scripts keyed by a substring of the endpoint string (gateway name, host:port...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, FarEnd]] = []
        self.default: FarEnd = FarEnd.unreachable_host()

    def add(self, match: str, far_end: FarEnd) -> None:
        with self._lock:
            self._entries.insert(0, (match, far_end))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def lookup(self, endpoint: str) -> FarEnd:
        with self._lock:
            for match, fe in self._entries:
                if match in endpoint:
                    return fe
        return self.default
