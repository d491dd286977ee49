"""The one CDR writer: CDR row, ledger debit and balance in one transaction, once per call uuid.

Every path (controller hang-up, FreeSWITCH's JSON CDR push, channel sync, spool replay) ends
here. A second write for the same uuid changes nothing. When MariaDB is unreachable the record
is spooled (Redis, else a local file) and `drain_spool` writes it once the database is back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import time
from decimal import Decimal
from pathlib import Path

import redis
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from controlplane.cdr import CallRecord
from controlplane.db import session_scope
from controlplane.models import Cdr, LedgerKind
from controlplane.services import ledger

log = logging.getLogger(__name__)

WRITTEN, DUPLICATE, SPOOLED = "written", "duplicate", "spooled"
CDR_INSERT = Cdr.__table__.insert()  # one compiled statement; values travel as parameters
FIELDS = dataclasses.fields(CallRecord)
RECORDED = select(Cdr.__table__.c.uuid).where(Cdr.__table__.c.uuid.in_(bindparam("uuids", expanding=True)))
RETRYABLE = {1213, 1205}  # deadlock, lock wait timeout: the transaction is simply tried again
WRITE_ATTEMPTS = 5


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


# --- spool -----------------------------------------------------------------------------------
def _encode(record: CallRecord) -> str:
    def default(value: object) -> str:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.datetime):
            return value.isoformat()
        raise TypeError(type(value))

    return json.dumps(dataclasses.asdict(record), default=default)


_DECIMAL_FIELDS = {"rate", "cost", "buy_cost"}
_TIME_FIELDS = {"start_at", "answer_at", "end_at"}


def _decode(text: str) -> CallRecord:
    data = json.loads(text)
    for name in _DECIMAL_FIELDS:
        if data.get(name) is not None:
            data[name] = Decimal(data[name])
    for name in _TIME_FIELDS:
        if data.get(name):
            data[name] = dt.datetime.fromisoformat(data[name])
    return CallRecord(**data)


@dataclasses.dataclass
class Spool:
    """Records waiting for the database: a Redis list, or files when Redis is down too."""

    client: redis.Redis | None
    key: str
    folder: Path

    @classmethod
    def default(cls) -> Spool:
        from controlplane.settings import get_settings

        settings = get_settings()
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
                                      decode_responses=True)
        return cls(client, settings.redis_prefix + "cdr:spool", Path(settings.spool_dir))

    def put(self, record: CallRecord) -> None:
        payload = _encode(record)
        if self.client is not None:
            try:
                self.client.rpush(self.key, payload)
                return
            except redis.RedisError as exc:
                log.warning("redis unavailable spooling CDR %s (%s); writing to disk", record.uuid, exc)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{record.uuid}.json.tmp"
        tmp.write_text(payload)
        os.replace(tmp, self.folder / f"{record.uuid}.json")

    def size(self) -> int:
        files = len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0
        return files + (self.client.llen(self.key) if self.client is not None else 0)

    def drain(self, url: str | None = None) -> dict[str, int]:
        """Write every spooled record; stops at the first database outage, losing nothing."""
        counts = {WRITTEN: 0, DUPLICATE: 0}
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                result = try_write(_decode(path.read_text()), url)
                if result is None:
                    return counts
                counts[result] += 1
                path.unlink()
        while self.client is not None:
            payload = self.client.lindex(self.key, 0)
            if payload is None:
                break
            result = try_write(_decode(payload), url)
            if result is None:
                break
            counts[result] += 1
            self.client.lrem(self.key, 1, payload)
        return counts
