"""Delivering CDRs to the one writer (services.cdrs.write_many) from plain code: a transaction of their own,
deadlocks retried, and the spool (controlplane.state.spool) when MariaDB is unavailable, so none is lost.

The controller's batch writer, FreeSWITCH's CDR push, channel sync and the worker's spool replay use it.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from controlplane.core.cdr import CallRecord
from controlplane.db import session_scope
from controlplane.services import ledger
from controlplane.services.cdrs import DUPLICATE, SPOOLED, write_many
from controlplane.state.spool import Spool

log = logging.getLogger(__name__)

RETRYABLE = {1213, 1205}  # deadlock, lock wait timeout: the transaction is simply tried again
WRITE_ATTEMPTS = 5


def try_write_many(records: list[CallRecord], url: str | None = None) -> list[str] | None:
    """Write in a transaction of their own, retrying deadlocks; None when MariaDB is unavailable.

    A batch that meets a uuid another writer committed meanwhile is written again one record at a
    time, so that only the duplicate is refused."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with session_scope(url) as session:
                return write_many(session, records)
        except (IntegrityError, ledger.DuplicateEntry):
            if len(records) == 1:
                return [DUPLICATE]  # a concurrent writer committed the same uuid first
            results = [try_write_many([r], url) for r in records]
            return None if any(r is None for r in results) else [r[0] for r in results]
        except (OperationalError, InterfaceError) as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code in RETRYABLE and attempt < WRITE_ATTEMPTS:
                time.sleep(0.01 * attempt)
                continue
            log.warning("database unavailable writing %d CDR(s) (%s)", len(records), exc.orig)
            return None
    return None


def try_write(record: CallRecord, url: str | None = None) -> str | None:
    results = try_write_many([record], url)
    return None if results is None else results[0]


def write_once(record: CallRecord, spool: Spool | None = None, url: str | None = None) -> str:
    """Write now, or keep the record in the spool until the database is back: never lose it."""
    return write_all_once([record], spool, url)[0]


def write_all_once(records: list[CallRecord], spool: Spool | None = None, url: str | None = None) -> list[str]:
    results = try_write_many(records, url)
    if results is None:
        spool = spool or Spool.default()
        for record in records:
            spool.put(record)
        return [SPOOLED] * len(records)
    return results


def drain(spool: Spool, url: str | None = None) -> dict[str, int]:
    """Write every spooled record; stops at the first database outage, losing nothing."""
    return spool.drain(lambda record: try_write(record, url))
