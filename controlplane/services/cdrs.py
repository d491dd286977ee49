"""The one CDR writer: CDR row, ledger debit and balance in the caller's transaction, once per call uuid.

Every path (controller hang-up, FreeSWITCH's JSON CDR push, channel sync, spool replay) ends here,
through controlplane.cdr_delivery (its own transaction, retries, the spool when MariaDB is away). A second
write for the same uuid changes nothing.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from controlplane.core.cdr import CallRecord
from controlplane.models import Cdr, LedgerKind
from controlplane.services import ledger

WRITTEN, DUPLICATE, SPOOLED = "written", "duplicate", "spooled"
CDR_INSERT = Cdr.__table__.insert()  # one compiled statement; values travel as parameters
FIELDS = dataclasses.fields(CallRecord)
RECORDED = select(Cdr.__table__.c.uuid).where(Cdr.__table__.c.uuid.in_(bindparam("uuids", expanding=True)))


def write_many(session: Session, records: list[CallRecord]) -> list[str]:
    """Insert the CDRs and debit their costs in the caller's transaction: WRITTEN, or DUPLICATE
    for a uuid already recorded (or twice in `records`). Raises IntegrityError when a concurrent
    writer commits one of these uuids meanwhile; the caller then rolls back (try_write_many).

    Every tenant of the batch is locked first, in id order, so neither the debits nor the CDR
    rows' foreign keys (which take shared locks on those rows) can wait on another writer in a
    circle. With the locks held, the uuids already recorded are read and left out.
    """
    balances = ledger.lock_tenants(session, (r.tenant_id for r in records if r.tenant_id is not None))
    uuids = [r.uuid for r in records]
    seen = set(session.connection().execute(RECORDED, {"uuids": uuids}).scalars()) if uuids else set()
    fresh, results = [], []
    for record in records:
        results.append(DUPLICATE if record.uuid in seen else WRITTEN)
        if record.uuid not in seen:
            seen.add(record.uuid)
            fresh.append(record)
    if not fresh:
        return results
    # Its unique reference `call:<uuid>` refuses a second charge for the same call.
    ledger.post_many(session, [
        ledger.Posting(r.tenant_id, -r.cost, LedgerKind.CALL, f"call:{r.uuid}",
                       f"{r.direction} call to {r.number or r.dialed}", r.written_by)
        for r in fresh if r.cost and r.tenant_id is not None
    ], balances)
    # The unique uuid refuses a second record of the same call.
    session.connection().execute(CDR_INSERT, [{f.name: getattr(r, f.name) for f in FIELDS} for r in fresh])
    return results
