"""Where the media nodes' inbound ESL listens (the client: controlplane.freeswitch.esl_client)."""

from __future__ import annotations

from dataclasses import dataclass


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
