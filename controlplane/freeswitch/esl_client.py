"""Inbound ESL: one `api` command to a media node over python-ESL (FreeSWITCH's own binding).

This is the adapter services are handed (`call_control.hangup_call(..., api=esl_client.api)`): no service
imports an ESL library itself.
"""

from __future__ import annotations

from controlplane.errors import NodeError
from controlplane.esl.nodes import NodeAddress


def api(node: NodeAddress, command: str, timeout_ms: int = 3000) -> str:
    import ESL  # FreeSWITCH's binding; built by scripts/bootstrap.sh

    conn = ESL.ESLconnection(node.host, str(node.port), node.password)
    if not conn.connected():
        raise NodeError(f"media node {node.name} ({node.host}:{node.port}) is not reachable")
    try:
        reply = conn.api(command)
        return reply.getBody() if reply is not None else ""
    finally:
        conn.disconnect()
