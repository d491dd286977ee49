"""Inbound ESL connections to FreeSWITCH nodes: hang up or check a call from any process."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from greenswitch.esl import InboundESL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeAddress:
    name: str
    host: str
    port: int
    password: str


def parse_nodes(text: str) -> dict[str, NodeAddress]:
    """`name=host:port:password;...` -> addresses by node name."""
    nodes = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, address = item.partition("=")
        host, port, password = (address.split(":", 2) + ["", "ClueCon"])[:3]
        nodes[name.strip()] = NodeAddress(name.strip(), host, int(port or 8021), password or "ClueCon")
    return nodes


class NodeUnreachable(Exception):
    pass


def node_api(node: NodeAddress, commands: list[str], timeout: float = 3.0) -> list[str]:
    """Run api commands on a node over one inbound connection; NodeUnreachable on any failure."""
    conn = InboundESL(node.host, node.port, node.password, timeout=timeout)
    try:
        conn.connect()
    except Exception as exc:
        raise NodeUnreachable(f"{node.name} ({node.host}:{node.port}): {exc}") from exc
    try:
        return [getattr(conn.send(f"api {command}"), "data", "") or "" for command in commands]
    except Exception as exc:
        raise NodeUnreachable(f"{node.name}: {exc}") from exc
    finally:
        try:
            conn.stop()
        except Exception:  # noqa: BLE001 - closing a dead connection must not mask the result
            log.debug("closing ESL connection to %s failed", node.name)
