"""Calls in flight, from any process: list them (live state), hang one up on its node, and start a
click-to-call there.

The ESL command goes through the `api` (or `bgapi`) the adapter hands in (controlplane.freeswitch.esl_client
for the web app and the CLI, plain non-gevent processes: one short inbound connection per command).
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.click_to_call import originate_command
from controlplane.errors import Conflict, Invalid, NodeError, NotFound, refuse
from controlplane.esl.nodes import NodeAddress
from controlplane.models import MediaNode, SipAccount, SipAccountKind, Status
from controlplane.services import audit
from controlplane.services.accounts import get_account
from controlplane.services.nodes import address_of, node_addresses
from controlplane.services.pricing import quote
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
    in_flight = {c.uuid for c in calls}
    if tenant_ids is None:
        tenant_ids = set(registered_tenants())
    calls += [LiveCall.from_redis(info) for info in live.ringing_calls(tenant_ids, time.time())
              if info["uuid"] not in in_flight]
    if scope.user_id is not None:
        calls = [c for c in calls if c.account_id == scope.account_id]
    return calls


def registered_tenants() -> list[int]:
    """Every tenant id, for an operator's list of ringing click-to-calls (kept per tenant)."""
    from controlplane.db import session_scope
    from controlplane.models import Tenant

    with session_scope() as session:
        return list(session.scalars(select(Tenant.id)))


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
    if info.get("state") == RINGING:
        # Seen on FreeSWITCH 1.10.12: the leg an originate is ringing cannot be found by its uuid (uuid_kill and
        # uuid_exists answer "no such channel", hupall passes it by) until the phone answers; it ends by itself
        # when the phone declines or after the ring time.
        raise Conflict({"uuid": f"the phone is still ringing: a ringing click-to-call cannot be hung up on the "
                                f"media node; it stops by itself within {click_to_call_ring_seconds()} s"})
    result = api(node, f"uuid_kill {uuid} {cause}").strip()
    if not result.startswith("+OK"):
        raise NodeError(f"node {node.name} refused: {result}")
    return result


RINGING = "ringing account"  # a click-to-call's state until the phone answers


def click_to_call_ring_seconds() -> int:
    from controlplane.settings import get_settings

    return get_settings().click_to_call_ring_seconds


@dataclass(frozen=True)
class Originated:
    uuid: str  # the call's uuid from the start: its live entry and its CDR carry it
    node: str
    account_id: int
    destination: str


def click_to_call(session: Session, scope: Scope, account_id: int, destination: str,
                  bgapi: Callable[[NodeAddress, str], str], phone_leg: Callable[[str, str], str],
                  live: LiveCalls | None = None, nodes: list[NodeAddress] | None = None) -> Originated:
    """Ring account `account_id`'s phone from a media node; when it answers, the node hands the leg to the
    controller, which decides and bridges it to `destination` like a call the phone dialled (and bills it
    from the far end's answer). Refused at once, ringing nothing, when the account or its tenant may not
    call, the destination is not dialable or no deck rates it, or no node takes the command.

    `phone_leg(username, realm)` is the dial string to the registered phone (through the SIP edge);
    `nodes`: where to try, in order (default: the active nodes, weighted like the edge's dispatcher).
    Whether the phone answers is not waited for: the node runs the originate in the background; with `live`
    the ringing call is listed (state RINGING) until the phone answers or the ring time is over."""
    account = get_account(session, scope, account_id)
    tenant = account.tenant
    destination = (destination or "").strip()
    errors: dict[str, str] = {}
    if account.kind != SipAccountKind.ACCOUNT:
        errors["sip_account_id"] = "a customer trunk has no phone to ring"
    if not destination:
        errors["destination"] = "a number to call is required"
    refuse(errors)
    if account.status != Status.ACTIVE or tenant.status != Status.ACTIVE:
        raise Conflict({"sip_account_id": "the account or its tenant is not active"})
    local = session.scalar(select(SipAccount.id).where(SipAccount.tenant_id == tenant.id,
                                                       SipAccount.username == destination))
    if local is None:
        try:
            quote(session, tenant, destination, 0, account)
        except Invalid as exc:
            raise Invalid({"destination": exc.errors.get("number", str(exc))}) from None
        except NotFound as exc:
            raise Invalid({"destination": str(exc)}) from None
    uuid = str(uuidlib.uuid4())
    ring = click_to_call_ring_seconds()
    try:
        command = originate_command(uuid, account.id, tenant.id, destination,
                                    account.caller_id_number or account.username,
                                    phone_leg(account.username, tenant.realm), ring)
    except ValueError as exc:
        raise Invalid({"destination": str(exc)}) from None
    failures = []
    for node in nodes if nodes is not None else dispatch_order(session):
        try:
            reply = bgapi(node, command).strip()
        except NodeError as exc:
            failures.append(str(exc))
            continue
        if reply.startswith("+OK"):
            if live is not None:
                live.ringing(uuid, tenant.id, {"tenant": tenant.id, "account": account.id, "number": destination,
                                               "caller": account.username, "direction": "outbound",
                                               "state": RINGING, "started_at": time.time(),
                                               "node": node.name}, ring + 5, time.time())
            audit.record(session, scope.actor, "call.originate", "sip_account", account.id, tenant.id,
                         {"uuid": uuid, "destination": destination, "node": node.name})
            return Originated(uuid, node.name, account.id, destination)
        failures.append(f"node {node.name} refused: {reply}")
    raise NodeError("no media node took the call: " + ("; ".join(failures) or "none is active"))


def dispatch_order(session: Session, rng: random.Random | None = None) -> list[NodeAddress]:
    """The active media nodes, a weighted draw first (as Kamailio's dispatcher spreads calls), the rest after."""
    active = session.scalars(select(MediaNode).where(MediaNode.status == Status.ACTIVE)
                             .order_by(MediaNode.id)).all()
    if not active:
        registered = session.scalar(select(MediaNode.id).limit(1))
        return [] if registered is not None else list(node_addresses(session).values())
    rng = rng or random.Random()
    ordered: list[MediaNode] = []
    pool = list(active)
    while pool:
        pick = rng.choices(pool, weights=[max(n.weight or 1, 1) for n in pool])[0]
        ordered.append(pick)
        pool.remove(pick)
    return [address_of(n) for n in ordered]
