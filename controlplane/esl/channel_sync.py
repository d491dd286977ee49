"""Channel sync: calls a media node no longer has are closed and billed within a bounded time.

Every `sync_interval` call-seconds each node with calls in flight is asked `uuid_exists` for
them. A call missing twice in a row, or every call of a node unreachable for `node_lost_after`,
is closed: its CDR is billed for the usage known (answer to the last time it was seen).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import gevent

from controlplane.core.cdr import CallRecord
from controlplane.errors import NodeError
from controlplane.esl.nodes import NodeAddress
from controlplane.freeswitch.esl_client import apis
from controlplane.services.call_control import registered_addresses
from controlplane.state.rating_codec import load_match

if TYPE_CHECKING:
    from controlplane.esl.context import ControllerContext
    from controlplane.esl.timers import BalanceTimers

log = logging.getLogger(__name__)

MISSING_ROUNDS = 2


class ChannelSync:
    def __init__(self, ctx: ControllerContext, nodes: dict[str, NodeAddress], timers: BalanceTimers) -> None:
        self.ctx = ctx
        self.nodes = nodes
        self.timers = timers
        self.unreachable_since: dict[str, float] = {}
        self.missing: dict[str, int] = {}

    def run(self) -> None:
        while True:
            gevent.sleep(self.ctx.clock.real_seconds(self.ctx.settings.sync_interval))
            try:
                self.refresh_nodes()
                self.sync_once()
            except Exception:
                log.exception("channel sync failed")

    def refresh_nodes(self) -> None:
        """Nodes registered since the start (`controlplane node add`) join; the dict is shared with
        the balance timers, so both see the same nodes. A node disabled at the edge stays: its
        calls in flight still need cuts and checks."""
        fresh = registered_addresses()
        if fresh != self.nodes:
            self.nodes.clear()
            self.nodes.update(fresh)

    def sync_once(self) -> list[str]:
        """One round over every node; returns the uuids it closed."""
        closed: list[str] = []
        for name, node in self.nodes.items():
            uuids = sorted(self.ctx.live.uuids("node", name))
            if not uuids:
                self.unreachable_since.pop(name, None)
                continue
            lock = self.ctx.live.key("sync", name)
            if not self.ctx.live.client.set(lock, self.ctx.name, nx=True, px=2000):
                continue  # another controller is syncing this node right now
            try:
                closed += self._sync_node(name, node, uuids)
            finally:
                self.ctx.live.client.delete(lock)
        return closed

    def _sync_node(self, name: str, node: NodeAddress, uuids: list[str]) -> list[str]:
        now = self.ctx.clock.now()
        try:
            replies = apis(node, [f"uuid_exists {uuid}" for uuid in uuids])
        except NodeError as exc:
            since = self.unreachable_since.setdefault(name, now)
            log.warning("node %s unreachable for %.0f s: %s", name, now - since, exc)
            if now - since < self.ctx.settings.node_lost_after:
                return []
            return [u for u in uuids if u not in self.ctx.in_hand and self.close(u, f"media node {name} lost")]
        self.unreachable_since.pop(name, None)
        closed = []
        for uuid, reply in zip(uuids, replies, strict=True):
            if reply.strip() == "true":
                self.missing.pop(uuid, None)
                self.ctx.live.update(uuid, seen_at=now)
                continue
            if uuid in self.ctx.in_hand:  # hung up, its own flow is writing it from FreeSWITCH's figures
                continue
            self.missing[uuid] = self.missing.get(uuid, 0) + 1
            if self.missing[uuid] >= MISSING_ROUNDS and self.close(uuid, f"call vanished from media node {name}"):
                closed.append(uuid)
        return closed

    def close(self, uuid: str, reason: str) -> bool:
        info = self.ctx.live.get(uuid)
        self.missing.pop(uuid, None)
        if not info:
            return False
        answered = float(info["answered_at"]) if info.get("answered_at") else None
        seen = float(info["seen_at"]) if info.get("seen_at") else answered
        billsec = max(0, math.floor(seen - answered)) if answered is not None and seen is not None else 0
        record = CallRecord(
            uuid=uuid, direction=info.get("direction") or "outbound",
            tenant_id=int(info["tenant"]) if info.get("tenant") else None,
            sip_account_id=int(info["account"]) if info.get("account") else None,
            caller_id_number=info.get("caller") or None, dialed=info.get("dialed") or None,
            number=info.get("number") or None, billsec=billsec,
            disposition="ANSWERED" if answered is not None else "FAILED", reason=reason,
            trunk_id=int(info["trunk"]) if info.get("trunk") else None, node=info.get("node"), written_by="sync",
        )
        if info.get("rating"):
            record.bill(*load_match(info["rating"]))
        result = self.ctx.writer(record)
        log.warning("call %s closed by channel sync (%s): billsec %d, %s", uuid, reason, billsec, result)
        self.ctx.live.end(uuid)
        if record.tenant_id is not None:
            self.timers.recompute(record.tenant_id)
        return True
