"""Inbound ESL, the one client: `api` commands to a media node over one short connection, NodeError on any failure.

Built on greenswitch's InboundESL (gevent sockets), so the same client serves the gevent controller (channel
sync, balance cuts) and plain processes (the CLI's `calls hangup`, test rigs) without blocking a loop.
Services are handed it (`call_control.hangup_call(..., api=esl_client.api)`); none imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from greenswitch.esl import InboundESL

from controlplane.errors import NodeError
from controlplane.esl.nodes import NodeAddress

log = logging.getLogger(__name__)


@contextmanager
def _connected(node: NodeAddress, timeout: float) -> Iterator[InboundESL]:
    conn = InboundESL(node.host, node.port, node.password, timeout=timeout)
    try:
        conn.connect()
    except Exception as exc:
        raise NodeError(f"media node {node.name} ({node.host}:{node.port}) is not reachable: {exc}") from exc
    try:
        yield conn
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(f"media node {node.name}: {exc}") from exc
    finally:
        try:
            conn.stop()
        except Exception:  # noqa: BLE001 - closing a dead connection must not mask the result
            log.debug("closing ESL connection to %s failed", node.name)


def apis(node: NodeAddress, commands: list[str], timeout: float = 3.0) -> list[str]:
    """Run api commands on a node over one inbound connection; their reply bodies, in order."""
    with _connected(node, timeout) as conn:
        return [getattr(conn.send(f"api {command}"), "data", "") or "" for command in commands]


def api(node: NodeAddress, command: str, timeout: float = 3.0) -> str:
    return apis(node, [command], timeout)[0]


def bgapi(node: NodeAddress, command: str, timeout: float = 3.0) -> str:
    """Start a command that runs long (an originate rings for up to half a minute) without waiting for
    it: FreeSWITCH's `+OK Job-UUID: ...` reply, or its -ERR."""
    with _connected(node, timeout) as conn:
        return conn.send(f"bgapi {command}").headers.get("Reply-Text", "")
