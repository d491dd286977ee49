"""The one inbound-ESL client: an unreachable node is a NodeError (one error type), quickly, from a plain process."""

from __future__ import annotations

import time

import pytest

from controlplane.errors import NodeError
from controlplane.esl.nodes import NodeAddress
from controlplane.freeswitch.esl_client import api
from controlplane.testing.net import free_port


def test_unreachable_node_is_a_node_error():
    node = NodeAddress("fs-gone", "127.0.0.1", free_port(), "ClueCon")
    started = time.monotonic()
    with pytest.raises(NodeError, match="fs-gone .*not reachable"):
        api(node, "status", timeout=1.0)
    assert time.monotonic() - started < 3
