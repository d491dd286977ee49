"""FreeSWITCH media nodes: what Kamailio's dispatcher spreads calls over, and where their ESL is.

The caller owns the transaction and runs the edge sync (`kamailio.sync.sync`) after committing;
a disabled node leaves the dispatcher set, so it gets no new calls.
"""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Conflict, NotFound, refuse
from controlplane.esl.nodes import NodeAddress, parse_nodes
from controlplane.models import MediaNode, Status
from controlplane.services import audit
from controlplane.services.scope import Scope
from controlplane.settings import get_settings

# FreeSWITCH's switchname ends up in CDRs and live calls as the node's name: keep it plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HOSTNAME = re.compile(r"^(?=.{1,190}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# ESL sends `auth <password>` on one line: no whitespace.
PASSWORD = re.compile(r"^\S{1,128}$")
TRANSPORTS = ("udp", "tcp")
# Kamailio's dispatcher reads `weight` as a percentage of calls (1 to 100).
WEIGHT_MIN, WEIGHT_MAX = 1, 100
SIP_PORT, ESL_PORT, ESL_PASSWORD = 5060, 8021, "ClueCon"


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address -> (host, port); ValueError if bad."""
    text = (text or "").strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not host[:port]")
        has_port, port_text = bool(rest), rest[1:]
        ipaddress.IPv6Address(host)
    elif text.count(":") > 1:
        host, has_port, port_text = str(ipaddress.IPv6Address(text)), False, ""
    else:
        host, colon, port_text = text.partition(":")
        has_port = bool(colon)
        if not _is_host(host):
            raise ValueError(f"{host!r} is not a host name or address")
    if not has_port:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not 1 to 65535")
    return host, int(port_text)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(HOSTNAME.match(host)) and not host.replace(".", "").isdigit()


def by_name(session: Session, name: str) -> MediaNode:
    node = session.scalar(select(MediaNode).where(MediaNode.name == name))
    if node is None:
        raise NotFound(f"media node {name!r} not found")
    return node


def list_nodes(session: Session) -> list[MediaNode]:
    return list(session.scalars(select(MediaNode).order_by(MediaNode.name)))


def add_node(
    session: Session,
    scope: Scope,
    *,
    name: str,
    sip: str,
    transport: str = "udp",
    esl: str | None = None,
    esl_password: str | None = None,
    weight: int = 50,
) -> MediaNode:
    """Register a node; `name` must be its switchname (FreeSWITCH-Switchname) so calls map to it."""
    scope.require_operator("media nodes")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name = (name or "").strip()
    if not NAME.match(name):
        errors["name"] = "1 to 64 of letters, digits and _ . - (the node's switchname)"
    elif session.scalar(select(MediaNode.id).where(MediaNode.name == name)):
        conflicts["name"] = f"media node {name!r} exists already"
    host, port = "", SIP_PORT
    try:
        host, port = parse_host_port(sip, SIP_PORT)
    except ValueError as exc:
        errors["sip"] = str(exc)
    else:
        other = session.scalar(select(MediaNode.name).where(MediaNode.host == host, MediaNode.port == port))
        if other:
            conflicts["sip"] = f"{host}:{port} is media node {other!r} already"
    if transport not in TRANSPORTS:
        errors["transport"] = " or ".join(TRANSPORTS)
    esl_host, esl_port = None, ESL_PORT
    if esl:
        try:
            esl_host, esl_port = parse_host_port(esl, ESL_PORT)
        except ValueError as exc:
            errors["esl"] = str(exc)
    if esl_password is not None and not PASSWORD.match(esl_password):
        errors["esl_password"] = "1 to 128 characters, no spaces"
    if not isinstance(weight, int) or not WEIGHT_MIN <= weight <= WEIGHT_MAX:
        errors["weight"] = f"{WEIGHT_MIN} to {WEIGHT_MAX} (dispatcher weight, a share of calls)"
    refuse(errors, conflicts)
    node = MediaNode(name=name, host=host, port=port, transport=transport, weight=weight, status=Status.ACTIVE,
                     esl_host=esl_host if esl_host != host else None, esl_port=esl_port, esl_password=esl_password)
    session.add(node)
    session.flush()
    audit.record(session, scope.actor, "media_node.create", "media_node", node.id,
                 details={"name": name, "sip": f"{host}:{port}", "transport": transport, "weight": weight,
                          "esl": f"{esl_host or host}:{esl_port}"})  # never the ESL password
    return node


def set_status(session: Session, scope: Scope, name: str, status: Status) -> tuple[MediaNode, bool]:
    """Enable or disable a node; (node, whether it changed). Audited only when it changed."""
    scope.require_operator("media nodes")
    node = by_name(session, name)
    if node.status == status:
        return node, False
    before = node.status
    node.status = status
    session.flush()
    audit.record(session, scope.actor, f"media_node.{'enable' if status == Status.ACTIVE else 'disable'}",
                 "media_node", node.id, details={"name": name, "from": before.value, "to": status.value})
    return node, True


def remove_node(session: Session, scope: Scope, name: str, *, live_calls: int = 0) -> None:
    """Delete a node's row. Only a disabled node (out of the dispatcher, so no new calls) with no call left on it
    (`live_calls`, which the adapter asks the live state): its draining calls must stay reachable over ESL."""
    scope.require_operator("media nodes")
    node = by_name(session, name)
    if node.status == Status.ACTIVE:
        raise Conflict({"status": "the node is active (calls may run on it): disable it first"})
    if live_calls:
        raise Conflict({"calls": f"{live_calls} call(s) still run on it: remove it once they ended"})
    before = {"name": node.name, "sip": f"{node.host}:{node.port}", "transport": node.transport,
              "weight": node.weight, "status": node.status.value}
    node_id = node.id
    session.delete(node)
    session.flush()
    audit.record(session, scope.actor, "media_node.delete", "media_node", node_id,
                 details={"before": before, "after": None})


def address_of(node: MediaNode) -> NodeAddress:
    """The node's inbound ESL: its own host unless one was given, FreeSWITCH's defaults otherwise."""
    return NodeAddress(node.name, node.esl_host or node.host, node.esl_port or ESL_PORT,
                       node.esl_password or ESL_PASSWORD)


def node_addresses(session: Session, fs_nodes: str | None = None, *,
                   active_only: bool = False) -> dict[str, NodeAddress]:
    """ESL addresses of the registered nodes, by name (= FreeSWITCH-Switchname).

    Disabled nodes are kept unless `active_only`: disabling only takes a node out of the
    dispatcher, and the calls still draining on it must stay reachable for balance cuts,
    channel sync and `calls hangup`. CP_FS_NODES (`fs_nodes`) is only the default for a
    deployment that has registered no node at all.
    """
    nodes = list_nodes(session)
    if not nodes:
        return parse_nodes(get_settings().fs_nodes if fs_nodes is None else fs_nodes)
    return {n.name: address_of(n) for n in nodes if not active_only or n.status == Status.ACTIVE}


def visible_nodes(session: Session, scope: Scope) -> list[MediaNode]:
    """Media nodes, for operators only (their addresses and ESL ports are the switch's inside)."""
    scope.require_operator("media nodes")
    return list_nodes(session)
