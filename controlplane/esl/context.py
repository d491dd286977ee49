"""What every call of one controller process shares: clock, Redis, caches, timers, writer."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram

from controlplane.core.cdr import CallRecord
from controlplane.esl.clock import Clock
from controlplane.freeswitch.dial_strings import DialStrings
from controlplane.services.call_views import DecisionCache
from controlplane.settings import Settings
from controlplane.state.live_calls import LiveCalls

DECISION_SECONDS = Histogram("cp_call_decision_seconds", "From the ESL connect to the call's first command")
CALLS = Counter("cp_calls_total", "Calls handled by this controller")


class Metrics:
    def decided(self, seconds: float) -> None:
        CALLS.inc()
        DECISION_SECONDS.observe(seconds)


@dataclass
class ControllerContext:
    settings: Settings
    clock: Clock
    live: LiveCalls
    writer: Callable[[CallRecord], str]
    dial: DialStrings
    decisions: DecisionCache = field(default_factory=DecisionCache)
    name: str = field(default_factory=socket.gethostname)
    metrics: Metrics = field(default_factory=Metrics)
    hangup_complete_grace: float = 5.0
    # Calls that ended while this process had their socket, their record not yet written: channel sync
    # leaves them to their own flow (FreeSWITCH's uuid_exists is false from the hang-up on, long
    # before it reports and the flow writes).
    in_hand: set[str] = field(default_factory=set)
    timers: object = None  # BalanceTimers, set by the server once the context exists
