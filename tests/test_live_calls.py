"""Live-call state in Redis: one script per change, nothing left behind, deadlines published once."""

from __future__ import annotations

import json
import math
import time

from controlplane.state.live_calls import ACCOUNT_FULL, ADMITTED, TENANT_FULL, LiveCalls

T, A = 987_007, 987_003  # ids no other test's tenants or accounts reach


def test_admission_answer_and_end_leave_nothing_behind(redis_client) -> None:
    live = LiveCalls.connect()
    fields = {"tenant": T, "account": A, "node": "fs-node-1", "state": "routing", "rating": '{"r": 1}'}
    assert live.admit("u1", T, A, 2, 5, fields, (1500, 10_000), 1000.4) == ADMITTED
    assert live.admit("u2", T, A, 2, 5, fields, (1500, 10_000), 1001.0) == ADMITTED
    assert live.admit("u3", T, A, 2, 5, fields, (1500, 10_000), 1001.0) == ACCOUNT_FULL
    assert live.admit("u3", T, A + 1, 2, 2, dict(fields, account=A + 1), (0, 0), 1001.0) == TENANT_FULL
    assert live.take_channel("u1", T, 1, "carrier-a") and not live.take_channel("u2", T, 1, "carrier-a")
    live.answered("u1", T, 1002.5)
    snap = live.snapshot(T, A)
    assert (snap.account_calls, snap.tenant_calls, snap.burn) == (2, 2, (3000, 20_000, 20_000 * 1000 + 10_000))
    assert live.get("u1")["state"] == "answered" and live.get("u1")["trunk_name"] == "carrier-a"
    billing = live.client.hgetall(live.key("tenant", T, "billing"))
    assert billing["u1"].startswith("1002.5|") and billing["u2"].startswith("|")  # u2 still rings
    ended = live.end("u1")
    assert ended.info["trunk"] == str(T) and ended.tenant_calls == 1 and ended.deadline is None
    live.end("u2")
    snap = live.snapshot(T, A)
    assert (snap.account_calls, snap.tenant_calls, snap.burn) == (0, 0, (0, 0, 0))
    assert not live.client.exists(live.key("call:u1"), live.key("call:u2"))
    for name in ("calls", f"tenant:{T}:calls", f"account:{A}:calls", f"trunk:{T}:calls", "node:fs-node-1:calls"):
        assert not {"u1", "u2"} & live.client.smembers(live.key(name)), name
    assert live.client.hmget(live.key(f"tenant:{T}:billing"), "u1", "u2") == [None, None]
    assert not live.update("u1", state="late")  # an update after the end resurrects nothing
    assert live.get("u1") == {}


def test_a_deadline_is_published_unless_the_last_one_published_says_so(redis_client) -> None:
    a, b = LiveCalls.connect(), LiveCalls.connect()  # two controllers
    pubsub = a.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(a.deadline_channel())
    a.publish_deadline(1, 100.0, a.snapshot(1).deadline_message)
    b.publish_deadline(1, math.inf, b.snapshot(1).deadline_message)
    a.publish_deadline(1, 100.0, a.snapshot(1).deadline_message)  # the last one said inf: again
    a.publish_deadline(1, 100.0, a.snapshot(1).deadline_message)  # it says 100 already: not again
    seen, until = [], time.monotonic() + 2
    while time.monotonic() < until and len(seen) < 4:
        message = pubsub.get_message(timeout=0.2)
        if message:
            seen.append(json.loads(message["data"])["deadline"])
    assert seen == [100.0, math.inf, 100.0]
    assert a.end("nothing").deadline is None
