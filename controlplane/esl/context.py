"""What every call of one controller process shares: clock, Redis, caches, timers, writer."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram

from controlplane.core.cdr import CallRecord
from controlplane.core.routing import TrunkInfo
from controlplane.esl.clock import Clock
from controlplane.services.call_views import DecisionCache
from controlplane.settings import Settings
from controlplane.state.live_calls import LiveCalls

DECISION_SECONDS = Histogram("cp_call_decision_seconds", "From the ESL connect to the call's first command")
CALLS = Counter("cp_calls_total", "Calls handled by this controller")


class Metrics:
    def decided(self, seconds: float) -> None:
        CALLS.inc()
        DECISION_SECONDS.observe(seconds)


@dataclass(frozen=True)
class DialStrings:
    """FreeSWITCH dial strings; legs leave through Kamailio so carriers see one address."""

    profile: str = "controlplane"
    kamailio: str = ""  # host:port of Kamailio; empty sends legs straight to their host
    leg_timeout: int = 60

    def _via(self) -> str:
        # mod_sofia reads fs_path up to the next ';' and URL-decodes it into a Route: hence %3Blr.
        return f";fs_path=sip:{self.kamailio}%3Blr" if self.kamailio else ""

    def carrier(self, number: str, trunk: TrunkInfo, cid_number: str | None, cid_name: str | None) -> str:
        # Kamailio relays a leg to a carrier only when asked to and only to a known trunk's host:port.
        leg = ["sip_h_X-CP-Route=carrier", f"sip_h_X-CP-Trunk={trunk.id}", f"leg_timeout={self.leg_timeout}"]
        if cid_number:
            leg.append(f"origination_caller_id_number={_clean(cid_number)}")
        if cid_name:
            leg.append(f"origination_caller_id_name={_clean(cid_name)}")
        return f"[{','.join(leg)}]sofia/{self.profile}/{number}@{trunk.host}:{trunk.port}{self._via()}"

    def local(self, user: str, realm: str | None) -> str:
        return f"[leg_timeout={self.leg_timeout}]sofia/{self.profile}/{user}@{realm}{self._via()}"


def _clean(value: str) -> str:
    """A caller ID for the carrier leg's `[...]` variables: without the dial string's separators, and
    without backslashes and control characters, which FreeSWITCH's parser turns into newlines (a
    caller name `A\\nB` became a header break in the carrier's INVITE, which then went unanswered)."""
    return "".join(ch for ch in value if ch.isprintable() and ch not in ",[]{}'\"|^\\;<>").strip()


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
