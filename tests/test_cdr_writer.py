"""The CDR writer: many records in one transaction, each charged once, duplicates refused."""

from __future__ import annotations

from decimal import Decimal as D

import gevent
import pytest
from sqlalchemy import func, select

from controlplane.cdr_delivery import drain, try_write, try_write_many
from controlplane.core.cdr import CallRecord
from controlplane.esl.cdr_writer import BatchWriter
from controlplane.models import Cdr, LedgerEntry, Tenant
from controlplane.services import ledger
from controlplane.services.cdrs import DUPLICATE, WRITTEN
from controlplane.services.scope import Scope
from controlplane.services.tenants import create_tenant, ensure_operator


@pytest.fixture()
def tenants(session) -> list[int]:
    ensure_operator(session)
    ids = []
    for name in ("acme", "globex"):
        t = create_tenant(session, Scope.operator(), name=name, realm=f"{name}.example.com")
        ledger.add_credit(session, Scope.operator(), t, "10", "top-up")
        ids.append(t.id)
    session.commit()
    return ids


def record(uuid: str, tenant_id: int | None, cost: str) -> CallRecord:
    return CallRecord(uuid=uuid, direction="outbound", tenant_id=tenant_id, number="49891234567",
                      billsec=10, disposition="ANSWERED", cost=D(cost))


def state(session, tenant_id: int) -> tuple[D, D, int]:
    session.expire_all()
    balance = session.scalar(select(Tenant.balance).where(Tenant.id == tenant_id))
    cdrs = session.scalar(select(func.count()).select_from(Cdr).where(Cdr.tenant_id == tenant_id))
    return balance, ledger.ledger_sum(session, tenant_id), cdrs


def test_a_batch_charges_each_call_once_across_tenants(session, tenants) -> None:
    a, b = tenants
    assert try_write(record("u-0", a, "0.50")) == WRITTEN
    results = try_write_many([record("u-1", a, "0.10"), record("u-2", b, "0.20"), record("u-1", a, "0.10"),
                              record("u-0", a, "0.50"), record("u-3", None, "0"), record("u-4", a, "0")])
    assert results == [WRITTEN, WRITTEN, DUPLICATE, DUPLICATE, WRITTEN, WRITTEN]
    assert state(session, a) == (D("9.40"), D("9.40"), 3)
    assert state(session, b) == (D("9.80"), D("9.80"), 1)
    afters = session.scalars(select(LedgerEntry.balance_after).where(LedgerEntry.tenant_id == a)
                             .order_by(LedgerEntry.id)).all()
    assert afters == [D("10"), D("9.50"), D("9.40")]


def test_a_batch_meeting_a_concurrent_write_falls_back_to_one_record_at_a_time(session, tenants) -> None:
    a, _ = tenants
    # Another writer has charged u-9 and not yet inserted its CDR (the state a race leaves): the
    # batch's unique ledger reference fails, and each record is then written on its own.
    ledger.post(session, a, D("-1"), ledger.LedgerKind.CALL, reference="call:u-9")
    session.commit()
    results = try_write_many([record("u-8", a, "0.25"), record("u-9", a, "1")])
    assert results == [WRITTEN, DUPLICATE]
    assert state(session, a) == (D("8.75"), D("8.75"), 1)


def test_the_controller_writer_batches_calls_that_end_together(session, tenants) -> None:
    a, _ = tenants
    sizes: list[int] = []

    def write_all(records):
        sizes.append(len(records))
        return try_write_many(records)

    writer = BatchWriter(write_all)
    outcomes = gevent.joinall([gevent.spawn(writer, record(f"c-{n}", a, "0.01")) for n in range(50)])
    assert [g.value for g in outcomes] == [WRITTEN] * 50
    assert sum(sizes) == 50 and len(sizes) < 50
    assert state(session, a) == (D("9.50"), D("9.50"), 50)
    assert writer(record("c-1", a, "0.01")) == DUPLICATE


def test_with_redis_down_too_records_wait_on_disk_and_are_written_once(session, tenants, tmp_path) -> None:
    """MariaDB and Redis both gone at hang-up: the record goes to a file; the worker writes it once."""
    import redis

    from controlplane.state.spool import Spool
    from controlplane.testing.net import free_port

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_timeout=0.5, socket_connect_timeout=0.5)
    spool = Spool(dead, "cp:test:spool", tmp_path / "spool")
    first = record("spool-disk-1", tenants[0], "0.40")
    spool.put(first)
    spool.put(record("spool-disk-2", tenants[0], "0.10"))
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["spool-disk-1.json", "spool-disk-2.json"]
    back = Spool(None, "cp:test:spool", tmp_path / "spool")  # the worker, Redis still away
    assert drain(back) == {WRITTEN: 2, DUPLICATE: 0}
    assert state(session, tenants[0]) == (D("9.50"), D("9.50"), 2)
    spool.put(first)  # the same record again (a retry after a crash): kept once, charged once
    assert drain(back) == {WRITTEN: 0, DUPLICATE: 1}
    assert state(session, tenants[0]) == (D("9.50"), D("9.50"), 2)
    assert back.size() == 0
