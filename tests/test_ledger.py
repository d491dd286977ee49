"""Every balance change is a ledger row committed with it; the balance is always the ledger's sum."""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from controlplane.db import get_engine
from controlplane.errors import Invalid
from controlplane.models import LedgerEntry, LedgerKind, Tenant
from controlplane.services import ledger
from controlplane.services.scope import Scope
from controlplane.services.tenants import create_tenant, ensure_operator


@pytest.fixture()
def tenant(session) -> Tenant:
    ensure_operator(session)
    t = create_tenant(session, Scope.operator(), name="acme", realm="acme.example.com")
    session.commit()
    return t


def balance_and_sum(session, tenant_id: int) -> tuple[D, D]:
    session.expire_all()
    balance = session.scalar(select(Tenant.balance).where(Tenant.id == tenant_id))
    return balance, ledger.ledger_sum(session, tenant_id)


def test_credit_and_debits_keep_balance_equal_to_ledger_sum(session, tenant) -> None:
    ledger.add_credit(session, Scope.operator(), tenant, "10.00", "top-up")
    ledger.post(session, tenant.id, D("-0.1342"), LedgerKind.CALL, reference="call:a")
    ledger.post(session, tenant.id, D("-0.0001"), LedgerKind.CALL, reference="call:b")
    session.commit()
    balance, total = balance_and_sum(session, tenant.id)
    assert balance == total == D("9.8657")
    rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
    assert [r.balance_after for r in rows] == [D("10"), D("9.8658"), D("9.8657")]


def test_same_reference_is_posted_once(session, tenant) -> None:
    ledger.post(session, tenant.id, D("-1"), LedgerKind.CALL, reference="call:x")
    session.commit()
    with pytest.raises(ledger.DuplicateEntry):
        ledger.post(session, tenant.id, D("-1"), LedgerKind.CALL, reference="call:x")
    session.rollback()
    assert balance_and_sum(session, tenant.id) == (D("-1"), D("-1"))


def test_rolled_back_transaction_changes_neither_balance_nor_ledger(session, tenant) -> None:
    ledger.post(session, tenant.id, D("5"), LedgerKind.CREDIT)
    session.rollback()
    assert balance_and_sum(session, tenant.id) == (D("0"), D("0"))
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_credit_needs_a_note_and_a_nonzero_amount(session, tenant) -> None:
    with pytest.raises(Invalid) as err:
        ledger.add_credit(session, Scope.operator(), tenant, "0", "")
    assert "amount" in err.value.errors
    with pytest.raises(Invalid) as err:
        ledger.add_credit(session, Scope.operator(), tenant, "5", "  ")
    assert "note" in err.value.errors
    with pytest.raises(ValueError):
        ledger.post(session, tenant.id, 0.1, LedgerKind.CREDIT)  # floats are refused


def test_concurrent_posts_from_many_connections_lose_nothing(session, tenant, clean_db) -> None:
    factory = sessionmaker(bind=get_engine(clean_db))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                with factory() as s, s.begin():
                    ledger.post(s, tenant.id, D("-0.0007"), LedgerKind.CALL, reference=f"call:{n}:{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    balance, total = balance_and_sum(session, tenant.id)
    assert balance == total == D("-0.0840")
