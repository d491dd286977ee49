"""The decision cache serves an expired entry while one refresh runs beside the calls."""

from __future__ import annotations

from controlplane.services.call_views import DecisionCache
from controlplane.services.scope import Scope


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_entry_is_served_while_a_single_refresh_runs(session) -> None:
    clock, queued, loads = Clock(), [], []
    cache = DecisionCache(ttl=2, clock=clock, background=queued.append)

    def load(s, reading) -> int:
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
        cache._get(session, ("k",), lambda s, reading: loads.append(s))
        clock.now += 3
        cache._get(session, ("k",), lambda s, reading: loads.append(s))
        assert loads == [session, session]


def test_a_kept_balance_is_read_again_once_a_ledger_commit_bumps_its_version(session, redis_client) -> None:
    import datetime as dt
    from decimal import Decimal as D

    from controlplane.models import LedgerKind
    from controlplane.services import ledger
    from controlplane.services.tenants import create_tenant, ensure_operator
    from controlplane.state.live_calls import LiveCalls

    ensure_operator(session)
    tenant = create_tenant(session, Scope.operator(), name="acme", realm="acme.example.com")
    ledger.add_credit(session, Scope.operator(), tenant, "10", "top-up")
    session.commit()
    live, now, clock = LiveCalls.connect(), dt.datetime(2026, 11, 22, 12), Clock()
    cache = DecisionCache(ttl=2, clock=clock).money
    version = live.snapshot(tenant.id).money_version
    assert version and cache.get(session, tenant.id, version, now).budget == D("10")
    ledger.post(session, tenant.id, D("-4"), LedgerKind.CALL, reference="call:x")
    session.rollback()  # rolled back: no bump, the kept reading holds
    assert live.snapshot(tenant.id).money_version == version
    ledger.post(session, tenant.id, D("-4"), LedgerKind.CALL, reference="call:x")
    assert cache.peek(tenant.id, version, now).budget == D("10")  # not committed yet
    session.commit()
    moved = live.snapshot(tenant.id).money_version
    assert moved != version and cache.peek(tenant.id, moved, now) is None
    assert cache.get(session, tenant.id, moved, now).budget == D("6")
    assert cache.peek(tenant.id, moved, now + dt.timedelta(days=30)) is None  # a new month: its spend restarts
    clock.now += 10  # past the ttl a reading is not trusted even if no bump arrived
    assert cache.peek(tenant.id, moved, now) is None


def test_a_balance_this_process_changes_follows_in_its_cache_unless_someone_else_moved_it(session,
                                                                                         redis_client) -> None:
    import datetime as dt
    from decimal import Decimal as D

    from controlplane.models import LedgerKind
    from controlplane.services import ledger
    from controlplane.services.tenants import create_tenant, ensure_operator
    from controlplane.state import money_version
    from controlplane.state.live_calls import LiveCalls

    ensure_operator(session)
    tenant = create_tenant(session, Scope.operator(), name="acme", realm="acme.example.com")
    tenant.monthly_spend_cap = D("100")
    ledger.add_credit(session, Scope.operator(), tenant, "10", "top-up")
    session.commit()
    live, now = LiveCalls.connect(), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cache = DecisionCache(ttl=2).money
    money_version.listeners.append(cache.posted)
    try:
        version = live.snapshot(tenant.id).money_version
        assert cache.get(session, tenant.id, version, now).budget == D("10")
        session.commit()
        ledger.post(session, tenant.id, D("-4"), LedgerKind.CALL, reference="call:y")
        session.commit()
        moved = live.snapshot(tenant.id).money_version
        kept = cache.peek(tenant.id, moved, now)  # followed without a query
        assert kept is not None and (kept.balance, kept.spent_this_month) == (D("6"), D("4"))
        # Another process changes the balance (here: only its bump is seen) before ours commits.
        redis_client.incr(money_version.key(live.prefix, tenant.id))
        ledger.post(session, tenant.id, D("-1"), LedgerKind.CALL, reference="call:z")
        session.commit()
        assert cache.peek(tenant.id, live.snapshot(tenant.id).money_version, now) is None  # read again
    finally:
        money_version.listeners.remove(cache.posted)
