"""Calls in flight, from any process: list them (live state) and hang one up on its node.

The ESL command goes through the `api` the adapter hands in (controlplane.freeswitch.esl_client for the
web app and the CLI, plain non-gevent processes: one short inbound connection per command).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controlplane.errors import NodeError, NotFound
from controlplane.esl.nodes import NodeAddress
from controlplane.services.scope import Scope
from controlplane.state.live_calls import LiveCalls


@dataclass(frozen=True)
class LiveCall:
    uuid: str
    tenant_id: int | None
    account_id: int | None
    caller: str
    destination: str
    direction: str
    trunk: str
    state: str
    started_at: float | None
    answered_at: float | None
    node: str

    @classmethod
    def from_redis(cls, info: dict[str, str]) -> LiveCall:
        def num(name: str) -> int | None:
            return int(info[name]) if info.get(name) else None

        def time(name: str) -> float | None:
            return float(info[name]) if info.get(name) else None

        return cls(info["uuid"], num("tenant"), num("account"), info.get("caller", ""),
                   info.get("number") or info.get("dialed", ""), info.get("direction", ""),
                   info.get("trunk_name", ""), info.get("state", ""), time("started_at"), time("answered_at"),
                   info.get("node", ""))


def list_calls(live: LiveCalls, scope: Scope, tenant_ids: set[int] | None = None) -> list[LiveCall]:
    """The calls in flight that `scope` sees, optionally only those of `tenant_ids`."""
    if scope.tenant_ids is not None:
        tenant_ids = set(scope.tenant_ids) if tenant_ids is None else set(tenant_ids) & scope.tenant_ids
    if tenant_ids is None:
        uuids = live.uuids()
    else:
        uuids = set().union(*(live.uuids("tenant", t) for t in tenant_ids)) if tenant_ids else set()
    calls = [LiveCall.from_redis(info) for info in live.details(uuids)]
    if scope.user_id is not None:
        calls = [c for c in calls if c.account_id == scope.account_id]
    return calls


def registered_addresses() -> dict[str, NodeAddress]:
    """`nodes.node_addresses` in a short read-only session of its own, for plain processes."""
    from controlplane.db import session_scope
    from controlplane.services.nodes import node_addresses

    with session_scope() as session:
        return node_addresses(session)


def hangup_call(live: LiveCalls, scope: Scope, uuid: str, api: Callable[[NodeAddress, str], str],
                cause: str = "NORMAL_CLEARING", nodes: dict[str, NodeAddress] | None = None) -> str:
    """`uuid_kill` on the node that has the call, if `scope` sees it; the CDR then follows the usual path."""
    info = live.get(uuid)
    tenant = info.get("tenant") if info else None
    visible = info and scope.sees(int(tenant) if tenant else None) and (
        scope.user_id is None or info.get("account") == str(scope.account_id))
    if not visible:
        raise NotFound(f"no call {uuid} in flight")
    if nodes is None:
        nodes = registered_addresses()
    node = nodes.get(info.get("node", ""))
    if node is None:
        raise NodeError(f"call {uuid} runs on node {info.get('node')!r}, which has no ESL address "
                        "(`controlplane node list`; CP_FS_NODES when no node is registered)")
    result = api(node, f"uuid_kill {uuid} {cause}").strip()
    if not result.startswith("+OK"):
        raise NodeError(f"node {node.name} refused: {result}")
    return result
