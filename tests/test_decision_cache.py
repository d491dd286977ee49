"""The decision cache serves an expired entry while one refresh runs beside the calls."""

from __future__ import annotations

from controlplane.services.call_decisions import DecisionCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_entry_is_served_while_a_single_refresh_runs(session) -> None:
    clock, queued, loads = Clock(), [], []
    cache = DecisionCache(ttl=2, clock=clock, background=queued.append)

    def load(s) -> int:
        loads.append(s)
        return len(loads)

    assert cache._get(session, ("k",), load) == 1
    clock.now = 1.9
    assert cache._get(session, ("k",), load) == 1 and not queued
    clock.now = 2.5
    assert [cache._get(session, ("k",), load) for _ in range(5)] == [1] * 5  # stale, no herd
    assert len(queued) == 1 and len(loads) == 1
    queued.pop()()  # the refresh runs (in the controller: its own greenlet, its own session)
    assert cache._get(session, ("k",), load) == 2 and loads[-1] is not session


def test_without_background_or_with_ttl_zero_an_expired_entry_is_reloaded_in_line(session) -> None:
    clock, loads = Clock(), []
    inline = DecisionCache(ttl=2, clock=clock)
    uncached = DecisionCache(ttl=0, clock=clock, background=lambda fn: None)
    for cache in (inline, uncached):
        loads.clear()
        cache._get(session, ("k",), loads.append)
        clock.now += 3
        cache._get(session, ("k",), loads.append)
        assert loads == [session, session]
