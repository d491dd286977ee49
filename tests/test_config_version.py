"""A change committed through the services applies to the next call, however long the cache's ttl.

Every test keeps decisions for an hour (and decks unchecked for as long) with the controller's
background refresher, so only the config version (config_version.py, read in the decision's
snapshot) can make a decision see a change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal as D

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from controlplane.core.authorization import Caller
from controlplane.db import session_scope
from controlplane.models import DeckKind, LedgerKind, Role, SipAccount, Status, Tenant, User
from controlplane.services import carriers, decks, dids, ledger, plans
from controlplane.services.accounts import create_sip_account
from controlplane.services.call_decisions import Decision, decide
from controlplane.services.call_views import DecisionCache
from controlplane.services.scope import Scope
from controlplane.services.tenants import create_tenant, ensure_operator
from controlplane.state import config_version
from controlplane.state.decision_cache import Reading
from controlplane.state.deck_cache import DeckCache
from controlplane.state.live_calls import LiveCalls

TTL = 3600.0
NUMBER = "+4930123456"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class World:
    """A tenant on a plan with a sell deck and credit, one SIP account; no carrier yet."""

    def __init__(self, session: Session) -> None:
        ensure_operator(session)
        decks.import_deck(session, Scope.operator(), "sell", ["49,Germany,0.60,1,1,0"])
        plans.create_plan(session, Scope.operator(), name="p", decks=["sell"])
        self.tenant = create_tenant(session, Scope.operator(), name="acme", realm="acme.example.com", plan="p")
        self.account = create_sip_account(session, Scope.operator(), self.tenant, "alice", "secret-pass").account
        ledger.add_credit(session, Scope.operator(), self.tenant, "10", "top-up")
        session.commit()
        self.session = session
        self.live = LiveCalls.connect()
        self.clock = Clock()
        self.refreshes: list[Callable[[], None]] = []  # the background refresher: run when told
        self.cache = DecisionCache(ttl=TTL, decks=DeckCache(check_interval=TTL, clock=self.clock), clock=self.clock,
                                   background=self.refreshes.append)

    def call(self, dialed: str = NUMBER, caller: Caller | None = None) -> Decision:
        """One decision as the controller makes it: its own session, its own transaction."""
        caller = caller or Caller("digest", self.tenant.id, self.account.id, None)
        with session_scope() as s:
            return decide(s, self.live, caller, dialed, "100", "Alice", 0.0, self.cache)

    def add_carrier(self, name: str = "carrier1", rate: str = "0.30") -> None:
        decks.import_deck(self.session, Scope.operator(),
                          f"buy-{name}", [f"49,Germany,{rate},1,1,0"], kind=DeckKind.BUY)
        carriers.create_carrier(self.session, Scope.operator(), name=name, host="10.0.0.1", buy_deck=f"buy-{name}")
        self.session.commit()

    def version(self) -> str:
        return self.live.client.get(config_version.key(self.live.prefix)) or ""


def user(world: World, email: str) -> User:
    return User(tenant_id=world.tenant.id, email=email, password_hash="x", role=Role.CLIENT)


@pytest.fixture()
def world(session: Session, redis_client: redis.Redis) -> World:
    return World(session)


def test_a_carrier_created_before_a_call_routes_it(world: World) -> None:
    first = world.call()
    assert first.refusal is not None and "no route" in first.refusal.reason
    world.add_carrier()
    routed = world.call()
    assert routed.refusal is None and [r.trunk.name for r in routed.routes] == ["carrier1"]
    assert not world.refreshes  # nothing waited for the ttl


def test_an_account_suspended_before_a_call_refuses_it(world: World) -> None:
    world.add_carrier()
    assert world.call().refusal is None
    world.session.get(SipAccount, world.account.id).status = Status.DISABLED
    world.session.commit()
    refused = world.call()
    assert refused.refusal is not None and refused.refusal.sip_code == 403 and "account" in refused.refusal.reason


def test_a_deck_reimport_applies_its_new_rate_to_the_next_call(world: World) -> None:
    world.add_carrier()
    assert world.call().match.row.rate == D("0.60")
    decks.import_deck(world.session, Scope.operator(),
                      "sell", ["49,Germany,0.90,1,1,0", "4930,Berlin,0.75,1,1,0"])  # Core inserts
    world.session.commit()
    after = world.call()
    assert (after.match.row.prefix, after.match.row.rate) == ("4930", D("0.75"))


def test_a_tenant_disabled_before_a_carrier_call_refuses_it(world: World) -> None:
    world.add_carrier()
    dids.add_did(world.session, Scope.operator(), world.tenant, "+4930999000", to_account="alice")
    world.session.commit()
    carrier = world.session.scalar(text("SELECT id FROM carriers WHERE name = 'carrier1'"))
    inbound = Caller("carrier", None, None, carrier)
    assert world.call("4930999000", inbound).local_user == "alice"
    world.session.get(Tenant, world.tenant.id).status = Status.DISABLED
    world.session.commit()
    refused = world.call("4930999000", inbound)
    assert refused.refusal is not None and refused.refusal.reason == "tenant disabled"


def test_money_moves_its_own_version_not_the_config_version(world: World) -> None:
    world.add_carrier()
    assert world.call().refusal is None
    view = world.cache._items[("account", world.account.id)]
    config, money = world.version(), world.live.snapshot(world.tenant.id).money_version
    assert config  # the setup's commits moved it
    ledger.add_credit(world.session, Scope.operator(), world.tenant, "5", "top-up")
    world.session.commit()
    ledger.post(world.session, world.tenant.id, D("-1"), LedgerKind.CALL, reference="call:u1")  # a CDR's debit
    world.session.commit()
    tenant = world.session.get(Tenant, world.tenant.id)
    tenant.balance += D("1")  # an ORM change of the balance alone is not configuration either
    world.session.commit()
    assert world.version() == config
    assert world.live.snapshot(world.tenant.id).money_version != money
    assert world.call().refusal is None
    assert world.cache._items[("account", world.account.id)] is view  # the kept view still serves


def test_a_rolled_back_change_bumps_nothing(world: World) -> None:
    world.add_carrier()
    assert world.call().refusal is None
    view, config = world.cache._items[("account", world.account.id)], world.version()
    world.session.get(SipAccount, world.account.id).status = Status.DISABLED
    world.session.flush()
    world.session.rollback()
    world.session.add(user(world, "ops@example.com"))  # not configuration
    world.session.commit()
    assert config and world.version() == config
    assert world.call().refusal is None and world.cache._items[("account", world.account.id)] is view
    world.session.get(SipAccount, world.account.id).status = Status.DISABLED  # the same change, committed
    world.session.commit()
    assert world.version() != config and world.call().refusal is not None


def test_a_direct_database_edit_applies_only_after_the_ttl(world: World) -> None:
    """As designed: an edit that goes around the services bumps nothing."""
    world.add_carrier()
    assert world.call().refusal is None
    config = world.version()
    world.session.execute(text("UPDATE sip_accounts SET status = 'disabled' WHERE id = :id"),
                          {"id": world.account.id})
    world.session.commit()
    assert config and world.version() == config and world.call().refusal is None
    world.clock.now += TTL + 1
    assert world.call().refusal is None  # the expired views serve while one refresh each runs
    assert world.call().refusal is None and len(world.refreshes) == 2  # the account's, the routing's
    while world.refreshes:
        world.refreshes.pop()()
    refused = world.call()
    assert refused.refusal is not None and "account" in refused.refusal.reason


def test_the_bump_follows_the_commit_not_a_savepoint(world: World) -> None:
    config = world.version()
    with world.session.begin_nested():
        world.session.get(SipAccount, world.account.id).caller_id_name = "Alice B"
    assert world.version() == config  # released, not committed: others cannot see it yet
    with world.session.begin_nested() as savepoint:
        world.session.add(user(world, "x@example.com"))
        savepoint.rollback()  # a savepoint rolled back keeps what came before it
    world.session.commit()
    assert world.version() != config


def test_an_orm_bulk_statement_bumps(world: World) -> None:
    from sqlalchemy import update

    config = world.version()
    world.session.execute(update(SipAccount).where(SipAccount.id == world.account.id).values(caller_id_name="B"))
    world.session.commit()
    assert world.version() != config


def test_an_entry_loaded_while_the_version_moved_is_not_trusted_after(session, redis_client) -> None:
    cache, loads = DecisionCache(ttl=TTL), []

    def load(s: Session, reading: Reading) -> int:
        loads.append(reading)
        if len(loads) == 1:
            cache.sync("2")  # another call saw a commit land while this load read the database
        return len(loads)

    assert cache._get(session, ("k",), load, cache.sync("1")) == 1
    assert cache._get(session, ("k",), load, cache.sync("2")) == 2  # loaded under "1": read again
    assert cache._get(session, ("k",), load, cache.sync("2")) == 2 and len(loads) == 2
    # A session that read the database before its snapshot keeps nothing it loads under a newer one.
    reading = cache.sync("3", loaded_under="2")
    assert cache._get(session, ("k",), load, reading) == 3 and ("k",) not in cache._items


def test_a_refresh_that_finishes_after_the_version_moved_is_dropped(session, redis_client) -> None:
    clock, queued = Clock(), []
    cache = DecisionCache(ttl=2, clock=clock, background=queued.append)
    values = iter(["old", "refreshed-under-1", "new"])

    def load(s: Session, reading: Reading) -> str:
        return next(values)

    assert cache._get(session, ("k",), load, cache.sync("1")) == "old"
    clock.now = 5
    assert cache._get(session, ("k",), load, cache.sync("1")) == "old" and len(queued) == 1
    reading = cache.sync("2")  # a commit: the kept entry is not served any more, expired or not
    queued.pop()()  # the refresh begun under "1" lands now
    assert cache._get(session, ("k",), load, reading) == "new"


def test_calls_needing_the_same_entry_after_a_change_share_one_load(session) -> None:
    cache, started, release, loads = DecisionCache(ttl=TTL), threading.Event(), threading.Event(), []
    reading = cache.sync("1")

    def load(s: Session, r: Reading) -> str:
        loads.append(r)
        started.set()
        release.wait(5)
        return "view"

    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(cache._get(session, ("k",), load, reading)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: results.append(cache._get(session, ("k",), load, reading)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the load under way, not loading
    release.set()
    first.join(5)
    second.join(5)
    assert results == ["view", "view"] and len(loads) == 1


def test_a_deck_checked_under_another_config_version_is_checked_again(session, redis_client) -> None:
    ensure_operator(session)
    report = decks.import_deck(session, Scope.operator(), "d", ["49,Germany,0.60,1,1,0"])
    session.commit()
    cache = DeckCache(check_interval=TTL)
    assert cache.index(session, report.deck_id, "1").lookup("4930").rate == D("0.60")
    decks.import_deck(session, Scope.operator(), "d", ["49,Germany,0.70,1,1,0"])
    session.commit()
    assert cache.index(session, report.deck_id, "1").lookup("4930").rate == D("0.60")  # trusted: same version
    assert cache.index(session, report.deck_id, "2").lookup("4930").rate == D("0.70")
    assert cache.loads == 2


def test_the_snapshot_reads_the_version_the_services_bump(world: World) -> None:
    before = world.live.snapshot(world.tenant.id).config_version
    assert before == world.version()  # the same key, under the prefix the controller reads
    world.session.get(SipAccount, world.account.id).caller_id_name = "Alice C"
    world.session.commit()
    assert int(world.live.snapshot(world.tenant.id).config_version) == int(before or 0) + 1


def test_a_monthly_cap_set_before_a_call_applies_to_it(world: World) -> None:
    world.add_carrier()
    assert world.call().refusal is None  # the money is kept now (its money version holds)
    world.session.get(Tenant, world.tenant.id).monthly_spend_cap = D("0.001")
    world.session.commit()
    refused = world.call()
    assert refused.refusal is not None and refused.refusal.sip_code == 402
