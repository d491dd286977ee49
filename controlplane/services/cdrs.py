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
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from controlplane.cdr import CallRecord
from controlplane.db import session_scope
from controlplane.models import Cdr, LedgerKind
from controlplane.services import ledger

log = logging.getLogger(__name__)

WRITTEN, DUPLICATE, SPOOLED = "written", "duplicate", "spooled"
CDR_INSERT = Cdr.__table__.insert()  # one compiled statement; values travel as parameters
RETRYABLE = {1213, 1205}  # deadlock, lock wait timeout: the transaction is simply tried again
WRITE_ATTEMPTS = 5


def write(session: Session, record: CallRecord) -> str:
    """Insert the CDR and debit its cost in the caller's transaction; DUPLICATE if the uuid exists
    (the caller then rolls back, as try_write does)."""
    try:
        if record.cost and record.tenant_id is not None:
            # The debit first: ledger.post locks the tenant's row, so the CDR's foreign key cannot
            # take a shared lock that two writers would both try to upgrade (a deadlock). Its unique
            # reference `call:<uuid>` refuses a second charge for the same call.
            ledger.post(session, record.tenant_id, -record.cost, LedgerKind.CALL, reference=f"call:{record.uuid}",
                        note=f"{record.direction} call to {record.number or record.dialed}", actor=record.written_by)
        # The unique uuid refuses a second record of the same call.
        session.connection().execute(CDR_INSERT, {f.name: getattr(record, f.name) for f in dataclasses.fields(record)})
    except (IntegrityError, ledger.DuplicateEntry):
        return DUPLICATE
    return WRITTEN


def try_write(record: CallRecord, url: str | None = None) -> str | None:
    """Write in a transaction of its own, retrying deadlocks; None when MariaDB is unavailable."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with session_scope(url) as session:
                result = write(session, record)
                if result == DUPLICATE:
                    session.rollback()
                return result
        except IntegrityError:
            return DUPLICATE  # a concurrent writer committed the same uuid first
        except (OperationalError, InterfaceError) as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code in RETRYABLE and attempt < WRITE_ATTEMPTS:
                time.sleep(0.01 * attempt)
                continue
            log.warning("database unavailable writing CDR %s (%s)", record.uuid, exc.orig)
            return None
    return None


def write_once(record: CallRecord, spool: Spool | None = None, url: str | None = None) -> str:
    """Write now, or keep the record in the spool until the database is back: never lose it."""
    result = try_write(record, url)
    if result is None:
        (spool or Spool.default()).put(record)
        return SPOOLED
    return result


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
