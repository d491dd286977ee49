"""Balance timers: every answered call is cut when the account's shared credit runs out.

The deadline comes from `credit.deadline` over all of the account's answered calls (Redis),
whichever controller runs them. Whoever starts or ends a call recomputes it and publishes it;
each controller re-arms the calls it owns. Two cuts are armed per call: the controller's own
(precise) and `sched_hangup` on FreeSWITCH (so the cut happens even if the controller dies).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import TYPE_CHECKING

import gevent
from gevent import Greenlet
from gevent.lock import RLock
from sqlalchemy.exc import InterfaceError, NoResultFound, OperationalError

from controlplane.core.credit import HORIZON, deadline
from controlplane.db import session_scope
from controlplane.errors import NodeError
from controlplane.esl.channel import Gone
from controlplane.esl.nodes import NodeAddress
from controlplane.freeswitch.esl_client import apis

if TYPE_CHECKING:
    from controlplane.esl.call_flow import CallFlow
    from controlplane.esl.context import ControllerContext

log = logging.getLogger(__name__)

# Call-seconds before the deadline: calls are answered-time aligned to FreeSWITCH's whole
# seconds (see CallFlow._on_event), so this lands mid-second, clear of latency either way.
CUT_EARLY = 0.5
CUT_RETRIES = 3


class BalanceTimers:
    def __init__(self, ctx: ControllerContext, nodes: dict[str, NodeAddress]) -> None:
        self.ctx = ctx
        self.nodes = nodes
        self.flows: dict[str, CallFlow] = {}
        self.cuts: dict[str, Greenlet] = {}
        self.warnings: dict[str, Greenlet] = {}
        self.armed: dict[str, float | None] = {}
        self.fs_cap: dict[str, float] = {}  # when FreeSWITCH's sched_hangup fires, our clock
        self.locks: dict[str, RLock] = {}
        self.applied: dict[int, float | None] = {}  # each tenant's cut as last armed on all its calls

    # --- call lifecycle ------------------------------------------------------------------------
    def answered(self, flow: CallFlow) -> None:
        d = flow.state.decision
        if d is None or d.tenant_id is None or d.match is None or d.match.free:
            return
        self.flows[flow.state.uuid] = flow
        self.locks[flow.state.uuid] = RLock()
        self.recompute(d.tenant_id, flow)

    def ended(self, flow: CallFlow) -> None:
        uuid = flow.state.uuid
        self.flows.pop(uuid, None)
        self.locks.pop(uuid, None)
        self._cancel(uuid)
        self.armed.pop(uuid, None)
        self.fs_cap.pop(uuid, None)

    # --- deadlines ----------------------------------------------------------------------------
    def recompute(self, tenant_id: int, new: CallFlow | None = None) -> float | None:
        """The tenant's cut, from its money and every answered call; armed on its calls here and
        published to the other controllers. When only `new` joined and the cut did not move,
        only `new` is armed: the others hold it already."""
        snap = self.ctx.live.snapshot(tenant_id)
        today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            kept = self.ctx.decisions.money.peek(tenant_id, snap.money_version, today)
            if kept is None:
                with session_scope() as session:
                    kept = self.ctx.decisions.money.get(session, tenant_id, snap.money_version, today)
            money = kept.budget
        except (OperationalError, InterfaceError) as exc:
            # Keep the deadlines already armed (FreeSWITCH holds its own cap) until the database is back.
            log.warning("tenant %s: deadline not recomputed, database unavailable (%s)", tenant_id, exc.orig)
            return None
        except NoResultFound:
            return None  # no such tenant: nothing of it to time
        now = self.ctx.clock.now()
        if snap.burn_bound(now + HORIZON) <= money:
            when = math.inf  # even the upper bound of every call's cost fits: skip the exact walk
        else:
            when = deadline(money, self.ctx.live.running(tenant_id), now)
        if when is not None and when >= now + HORIZON - 1:
            when = math.inf  # the credit outlasts the horizon: nothing to re-arm until it does not
        self.ctx.live.publish_deadline(tenant_id, when, snap.deadline_message)
        if new is not None and tenant_id in self.applied and self.applied[tenant_id] == when:
            self._arm(new, when)
        else:
            self.apply(tenant_id, when)
        return when

    def apply(self, tenant_id: int, when: float | None) -> None:
        self.applied[tenant_id] = when
        for flow in list(self.flows.values()):
            if flow.state.decision.tenant_id == tenant_id:
                self._arm(flow, when)

    def on_message(self, payload: str) -> None:
        data = json.loads(payload)
        tenant_id = int(data["tenant"])
        if data.get("recompute"):
            # A call ended somewhere without a controller (FreeSWITCH's CDR push): if we run
            # calls of this account, their shared deadline has moved.
            if any(f.state.decision.tenant_id == tenant_id for f in self.flows.values()):
                self.recompute(tenant_id)
            return
        self.apply(tenant_id, data["deadline"])

    def listen(self) -> None:
        """Follow deadlines published by every controller (runs in its own greenlet)."""
        while True:
            try:
                pubsub = self.ctx.live.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.ctx.live.deadline_channel())
                for message in pubsub.listen():
                    if message and message.get("type") == "message":
                        self.on_message(message["data"])
            except Exception:
                log.exception("deadline subscription lost; resubscribing")
                gevent.sleep(1)

    # --- arming ------------------------------------------------------------------------------
    def _arm(self, flow: CallFlow, when: float | None) -> None:
        """Arm (or move) the call's two cuts; serialised per call, as deadlines arrive from
        several greenlets (our own answers and hang-ups, and other controllers' messages)."""
        uuid = flow.state.uuid
        lock = self.locks.get(uuid)
        if lock is None:
            return  # the call has ended meanwhile
        with lock:
            now = self.ctx.clock.now()
            if when is not None and when >= now + HORIZON - 1:
                when = math.inf  # credit lasts beyond the horizon: only FreeSWITCH's day-long cap
            previous = self.armed.get(uuid, -1.0)
            if when == previous or (when is not None and previous is not None and abs(when - previous) < 0.05):
                return
            self.armed[uuid] = when
            self._cancel(uuid)
            if when is None:
                self._fs_cap(flow, None)
                return
            if when == math.inf:
                self._fs_cap(flow, now + HORIZON)
                return
            cut_in = max(0.0, when - now - CUT_EARLY)
            log.info("call %s: cut in %.2f call-seconds", uuid, cut_in)
            self.cuts[uuid] = gevent.spawn_later(self.ctx.clock.real_seconds(cut_in), self.cut, flow)
            warn = self.ctx.settings.warn_seconds
            if warn and cut_in > warn:
                self.warnings[uuid] = gevent.spawn_later(self.ctx.clock.real_seconds(cut_in - warn), self._warn, flow)
            # FreeSWITCH's whole-second scheduler may fire up to a second early: one spare second.
            self._fs_cap(flow, now + max(1, math.ceil(when - now)) + 1)

    def _fs_cap(self, flow: CallFlow, at: float | None) -> None:
        """FreeSWITCH's own hard cap at `at` (our clock): sched_hangup is grouped by the channel
        uuid, so `sched_del <uuid>` removes the previous one. Moved only when it moves a second."""
        uuid = flow.state.uuid
        armed = self.fs_cap.get(uuid)
        if armed is not None and at is not None and abs(armed - at) < 1:
            return
        try:
            if armed is not None:
                flow.channel.api(f"sched_del {uuid}")
                self.fs_cap.pop(uuid, None)
            if at is not None:
                seconds = max(1, math.ceil(at - self.ctx.clock.now()))
                flow.channel.api(f"sched_hangup +{seconds} {uuid} ALLOTTED_TIMEOUT")
                self.fs_cap[uuid] = at
        except Gone:
            log.warning("call %s: could not arm FreeSWITCH's cap (socket gone)", uuid)

    def _cancel(self, uuid: str) -> None:
        for table in (self.cuts, self.warnings):
            greenlet = table.pop(uuid, None)
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)

    def _warn(self, flow: CallFlow) -> None:
        try:
            flow.channel.api(f"uuid_broadcast {flow.state.uuid} {self.ctx.settings.warn_tone} aleg")
        except Gone:
            pass

    def cut(self, flow: CallFlow) -> bool:
        """Hang the call up; retry, then go around the socket to the node, then escalate."""
        uuid = flow.state.uuid
        log.info("call %s: credit exhausted, cutting", uuid)
        for attempt in range(1, CUT_RETRIES + 1):
            if flow.channel.hung_up:
                return True
            if not flow.channel.hangup("ALLOTTED_TIMEOUT"):
                self._kill_on_node(flow)
            for _ in range(20):
                if flow.channel.hung_up:
                    return True
                gevent.sleep(0.05)
            log.warning("call %s: cut attempt %d did not end the call", uuid, attempt)
            self._kill_on_node(flow)
        log.error("call %s: could not be cut after %d attempts; escalating", uuid, CUT_RETRIES)
        try:
            self.ctx.live.update(uuid, state="cut_failed")
        except Exception:  # noqa: BLE001 - escalation must not raise
            log.exception("call %s: could not flag cut_failed", uuid)
        return False

    def _kill_on_node(self, flow: CallFlow) -> None:
        node = self.nodes.get(flow.node)
        if node is None:
            log.warning("call %s: node %r has no ESL address configured", flow.state.uuid, flow.node)
            return
        try:
            apis(node, [f"uuid_kill {flow.state.uuid} ALLOTTED_TIMEOUT"])
        except NodeError as exc:
            log.warning("call %s: uuid_kill failed: %s", flow.state.uuid, exc)
