"""One call, start to finish: identify, decide, bridge with failover, time it, record it.

Every decision comes from the domain core (`authorization`, `rating`, `routing`, `credit`);
this module only turns them into ESL commands and turns FreeSWITCH's events back into facts.
"""

from __future__ import annotations

import json
import logging
import math
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field

from controlplane.core.authorization import Refusal, identify, refuse
from controlplane.core.cdr import CallRecord
from controlplane.core.click_to_call import ORIGIN, click_to_call_of
from controlplane.core.credit import burn_terms
from controlplane.core.numbers import strip_then_add
from controlplane.core.routing import Route
from controlplane.db import session_scope
from controlplane.esl.channel import CallChannel, Gone, sip_headers
from controlplane.esl.context import ControllerContext
from controlplane.esl.events import Event, Variables
from controlplane.freeswitch.cdr_variables import profile_times, record_from_variables, sip_code
from controlplane.services.call_decisions import Decision, decide
from controlplane.state.live_calls import ACCOUNT_FULL, ADMITTED

log = logging.getLogger(__name__)

# Causes after which the next trunk is tried (congestion, unavailable, timeout, 5xx).
FAILOVER_CAUSES = {
    "NORMAL_TEMPORARY_FAILURE", "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "DESTINATION_OUT_OF_ORDER",
    "NETWORK_OUT_OF_ORDER", "RECOVERY_ON_TIMER_EXPIRE", "ALLOTTED_TIMEOUT", "SERVICE_UNAVAILABLE",
    "GATEWAY_DOWN", "NO_ROUTE_DESTINATION", "FACILITY_NOT_SUBSCRIBED", "BEARERCAPABILITY_NOTAVAIL",
}
EXECUTE_TIMEOUT = 10.0  # seconds to wait for a quick application such as `respond`
# FreeSWITCH adds `sip_rh_*` variables as headers to its final reply to the caller (mod_sofia.c,
# sofia_on_hangup). Kamailio fails a call over to the next media node on a 5xx; a 5xx the
# controller decided (every carrier failed, no route) is no fault of the node, and another node
# would decide the same: with this header Kamailio relays it instead of marking the node down.
DECIDED_HEADER = "sip_rh_X-CP-Decided"


@dataclass
class LegAttempt:
    trunk_id: int | None
    trunk: str
    dial: str
    cause: str | None = None
    sip_code: int | None = None
    answered: bool = False

    def as_dict(self) -> dict:
        return {"trunk_id": self.trunk_id, "trunk": self.trunk, "cause": self.cause, "sip_code": self.sip_code,
                "answered": self.answered}


@dataclass
class CallState:
    uuid: str
    decision: Decision | None = None
    attempts: list[LegAttempt] = field(default_factory=list)
    answered_at: float | None = None  # controller clock
    admitted: bool = False


class CallFlow:
    def __init__(self, channel: CallChannel, ctx: ControllerContext) -> None:
        self.channel = channel
        self.ctx = ctx
        self.state = CallState(channel.uuid)
        self.pending_vars: dict[str, str] = {}
        # The node's switchname (`controlplane freeswitch render --node-name`), which is what nodes are
        # registered by; FreeSWITCH-Hostname is the machine's host name, which a real node reports
        # apart from it (seen: "vm" against "fs-test"). Only where no switchname is set are they equal.
        data = channel.data
        self.node = data.get("FreeSWITCH-Switchname") or data.get("FreeSWITCH-Hostname") or data.get("Core-UUID", "")
        # A click-to-call leg is the account's own phone, answered before it reached us: the call
        # is answered when the far end answers, which the A leg tells in CHANNEL_BRIDGE.
        self.click = click_to_call_of(data)
        self.answer_event = "CHANNEL_BRIDGE" if self.click else "CHANNEL_ANSWER"

    # --- entry point -------------------------------------------------------------------------
    def run(self) -> None:
        started = self.ctx.clock.now()
        try:
            self.channel.subscribe(bridge=self.click is not None)
            decision = self._decide()
            self.ctx.metrics.decided(self.ctx.clock.now() - started)
            if decision.refused:
                self._refuse(decision.refusal)
            elif decision.local_user:
                self._bridge_local(decision)
            else:
                self._bridge_routes(decision)
        except Gone:
            log.info("call %s: socket gone", self.state.uuid)
        except Exception:
            log.exception("call %s: controller error", self.state.uuid)
            if not self.channel.hung_up:
                self.channel.hangup("NORMAL_TEMPORARY_FAILURE")
        finally:
            try:
                self._finish()
            finally:
                self.ctx.in_hand.discard(self.state.uuid)

    # --- decision ------------------------------------------------------------------------------
    def _decide(self) -> Decision:
        data = self.channel.data
        dialed = data.get("Caller-Destination-Number", "")
        caller_number = data.get("Caller-Caller-ID-Number", "")
        caller_name = data.get("Caller-Caller-ID-Name", "")
        caller = identify(sip_headers(data)) if self.click is None else self.click.caller
        if self.click is not None:
            dialed, caller_number, caller_name = self.click.destination, self.click.caller_id, ""
        if isinstance(caller, Refusal):
            decision = Decision("outbound", dialed, refusal=caller, caller_id_number=caller_number,
                                caller_id_name=caller_name)
        else:
            with session_scope() as session:
                decision = decide(session, self.ctx.live, caller, dialed, caller_number, caller_name,
                                  self.ctx.clock.now(), self.ctx.decisions)
        if self.click is not None:
            decision.origin = ORIGIN
        self.state.decision = decision
        if decision.tenant_id is not None and not decision.refused:
            self._admit(decision)
        return decision

    def _admit(self, d: Decision) -> None:
        fields = {
            "tenant": d.tenant_id, "account": d.account_id, "caller": d.caller_id_number, "dialed": d.dialed,
            "number": d.number, "direction": d.direction, "state": "routing", "node": self.node,
            "controller": self.ctx.name, "started_at": self.ctx.clock.now(),
            "rating": d.rating_blob,
        }
        burn = burn_terms(d.match, d.rating) if d.match is not None else (0, 0)
        result = self.ctx.live.admit(self.state.uuid, d.tenant_id, d.account_id, d.account_limit, d.tenant_limit,
                                     fields, burn, self.ctx.clock.now())
        if result == ADMITTED:
            self.state.admitted = True
            if self.click is not None:
                self.ctx.live.stop_ringing(self.state.uuid, d.tenant_id)
        else:
            which = "account" if result == ACCOUNT_FULL else "tenant"
            d.refusal = refuse(486, f"{which} concurrent-call limit reached")

    def _facts(self) -> dict[str, str]:
        return self.facts_of(self.state.decision)

    @staticmethod
    def facts_of(d: Decision) -> dict[str, str]:
        """Channel variables that let FreeSWITCH's own CDR push rebuild this call's record, and the
        header that tells Kamailio a failure reply was decided here (DECIDED_HEADER)."""
        values = {"cp_direction": d.direction, "cp_dialed": d.dialed, DECIDED_HEADER: "1"}
        for name, value in (("cp_tenant_id", d.tenant_id), ("cp_account_id", d.account_id),
                            ("cp_number", d.number), ("cp_carrier_id", d.carrier_id),
                            ("cp_caller", d.caller_id_number), ("cp_caller_name", d.caller_id_name),
                            ("cp_origin", d.origin)):
            if value is not None:
                values[name] = str(value)
        if d.rating_blob:
            values["cp_rating"] = d.rating_blob
        if d.refusal is not None:
            values["cp_refusal"] = f"{d.refusal.sip_code} {d.refusal.reason}"
        return values

    # --- refusal -------------------------------------------------------------------------------
    def _refuse(self, refusal: Refusal) -> None:
        log.info("call %s refused: %s %s", self.state.uuid, refusal.sip_code, refusal.reason)
        done = self.channel.execute("respond", refusal.respond, variables=self._facts())
        self.channel.wait_complete(done, EXECUTE_TIMEOUT)
        if not self.channel.hung_up:
            self.channel.hangup(refusal.hangup_cause)

    # --- bridging ------------------------------------------------------------------------------
    def _prepare_bridge(self) -> None:
        """The call's facts, and: we decide after a failed leg; FreeSWITCH ends A when B ends.
        They go to FreeSWITCH with the first bridge."""
        self.pending_vars = {**self._facts(), "continue_on_fail": "true", "hangup_after_bridge": "true"}

    def _bridge_local(self, d: Decision) -> None:
        """Internal call or DID to an account: ring the registered user through Kamailio."""
        dial = self.ctx.dial.local(d.local_user, d.local_realm)
        self._prepare_bridge()
        attempt = self._attempt(LegAttempt(None, "local", dial))
        if not attempt.answered and not self.channel.hung_up:
            self.channel.hangup(attempt.cause or "NO_ROUTE_DESTINATION")

    def _bridge_routes(self, d: Decision) -> None:
        self._prepare_bridge()
        last_cause = "NORMAL_CIRCUIT_CONGESTION"
        for route in d.routes:
            if self.channel.hung_up:
                return
            if not self.ctx.live.take_channel(self.state.uuid, route.trunk.id, route.trunk.max_channels,
                                              route.trunk.name):
                self.state.attempts.append(LegAttempt(route.trunk.id, route.trunk.name, "", "CHANNEL_LIMIT", 503))
                continue
            attempt = self._attempt(LegAttempt(route.trunk.id, route.trunk.name, self._dial(d, route)))
            if attempt.answered or self.channel.hung_up:
                return
            self.ctx.live.release_channel(self.state.uuid, route.trunk.id)
            last_cause = attempt.cause or last_cause
            if last_cause not in FAILOVER_CAUSES and not (attempt.sip_code and attempt.sip_code >= 500):
                break
        if not self.channel.hung_up:
            self.channel.set_vars({"cp_attempts": attempts_json(self.state.attempts)})
            self.channel.hangup(last_cause)

    def _dial(self, d: Decision, route: Route) -> str:
        number = strip_then_add(d.number, route.trunk.strip_prefix, route.trunk.add_prefix)
        return self.ctx.dial.carrier(number, route.trunk, d.caller_id_number, d.caller_id_name)

    def _attempt(self, attempt: LegAttempt) -> LegAttempt:
        """One bridge. The attempt list goes on the channel first, so FreeSWITCH's own CDR
        (posted before our hang-up event arrives) carries it: the answered one is the last."""
        self.state.attempts.append(attempt)
        if attempt.trunk_id is None:  # a trunk's channel, when taken, has said so already
            self.ctx.live.update(self.state.uuid, state="dialing", trunk_name=attempt.trunk)
        variables, self.pending_vars = {**self.pending_vars, "cp_attempts": attempts_json(self.state.attempts)}, {}
        done = self.channel.execute("bridge", attempt.dial, event_lock=False, variables=variables)
        complete = self.channel.wait_complete(done, None, self._on_event)
        if complete is not None and complete.name == "CHANNEL_EXECUTE_COMPLETE":
            attempt.answered = attempt.answered or self.state.answered_at is not None
            if not attempt.answered:
                attempt.cause = complete.var("originate_disposition") or complete.var("last_bridge_hangup_cause")
                attempt.sip_code = sip_code(Variables(complete))
        elif self.channel.hangup_event is not None and attempt.cause is None and not attempt.answered:
            attempt.cause = self.channel.hangup_event.get("Hangup-Cause")
            attempt.sip_code = sip_code(Variables(self.channel.hangup_event))
        return attempt

    def _on_event(self, event: Event) -> None:
        if event.name == self.answer_event and self.state.answered_at is None:
            # FreeSWITCH bills whole seconds of its own clock (billsec = end_epoch - answer_epoch),
            # so the answer is placed on FreeSWITCH's second boundary, in our clock.
            time_name = "Caller-Channel-Bridged-Time" if self.click else "Caller-Channel-Answered-Time"
            answered_us = event.get(time_name) or ""
            phase = (int(answered_us) % 1_000_000) / 1_000_000 if answered_us.isdigit() else 0.0
            self.state.answered_at = self.ctx.clock.now() - phase
            if self.state.attempts:
                self.state.attempts[-1].answered = True
            if self.state.admitted:
                self.ctx.live.answered(self.state.uuid, self.state.decision.tenant_id, self.state.answered_at)
            self.ctx.timers.answered(self)

    # --- the end -------------------------------------------------------------------------------
    def _finish(self) -> None:
        ch = self.channel
        self.ctx.in_hand.add(self.state.uuid)  # channel sync: this call's record is ours to write now
        if not ch.disconnected and ch.hangup_complete is None:
            ch.wait(lambda e: e.name in ("CHANNEL_HANGUP_COMPLETE", "DISCONNECT"), None)
        if ch.hangup_complete is None and not ch.disconnected:
            ch.wait(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE", self.ctx.hangup_complete_grace)
        self.ctx.timers.ended(self)
        if not (ch.hung_up or ch.hangup_complete is not None):
            # The node vanished under the call: channel sync closes and bills it from what is known.
            log.warning("call %s: lost contact with node %s before hang-up", self.state.uuid, self.node)
            return
        self._record(ch.hangup_complete or ch.hangup_event)
        if self.state.admitted:
            ended = self.ctx.live.end(self.state.uuid)
            # The account's other calls may now run longer: move their cut, if they have one. A
            # call's end never brings the others' cut nearer (its charge is what it had used), so
            # a cut beyond the horizon (or none) stays where it is.
            if ended.info.get("tenant") and ended.tenant_calls and ended.deadline not in (None, math.inf):
                self.ctx.timers.recompute(int(ended.info["tenant"]))

    def _record(self, event: Event | None) -> None:
        self.ctx.writer(build_record(self.state, event, self.node, self.channel.profile_times, self.channel.hung_up_at))


def build_record(state: CallState, event: Event | None, node: str, times: Mapping[str, str] | None = None,
                 hung_up_at: float | None = None) -> CallRecord:
    """The record from the hang-up event's variables (the same function the CDR push uses),
    with what only the controller knows filled in: the attempts, and the decision itself when
    FreeSWITCH never got the `cp_*` variables (a call refused before they were set)."""
    # What the controller knows goes over the event's variables, which are decoded only if read.
    variables: ChainMap[str, str] = ChainMap({}, Variables(event) if event is not None else {})
    variables.setdefault("uuid", state.uuid)
    variables["cp_attempts"] = attempts_json(state.attempts)
    d = state.decision
    if d is not None:
        variables.update(CallFlow.facts_of(d))
    if event is None or not variables.get("end_epoch"):
        # FreeSWITCH has not reported (its HANGUP_COMPLETE came too late or not at all): its
        # times, computed its way from the last event's caller profile, or from when the
        # controller learned of the hang-up. Never from how long the controller then waited.
        counted_from = "Caller-Channel-Bridged-Time" if d is not None and d.origin else "Caller-Channel-Answered-Time"
        variables.update(profile_times(times or {}, hung_up_at, counted_from))
        if d is not None and d.origin:  # bridge_epoch, as FreeSWITCH would have reported it
            variables["bridge_epoch"] = variables.get("answer_epoch", "0")
    if not variables.get("hangup_cause") and event is not None and event.get("Hangup-Cause"):
        variables["hangup_cause"] = event["Hangup-Cause"]
    record, _, _ = record_from_variables(variables, "controller", node)
    return record


def attempts_json(attempts: list[LegAttempt]) -> str:
    return json.dumps([a.as_dict() for a in attempts], separators=(",", ":"))

