"""CDRs waiting for the database: a Redis list, or files when Redis is down too (controlplane.cdr_delivery
puts them here and replays them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import redis

from controlplane.core.cdr import CallRecord
from controlplane.services.cdrs import DUPLICATE, WRITTEN

log = logging.getLogger(__name__)


def encode(record: CallRecord) -> str:
    def default(value: object) -> str:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.datetime):
            return value.isoformat()
        raise TypeError(type(value))

    return json.dumps(dataclasses.asdict(record), default=default)


_DECIMAL_FIELDS = {"rate", "cost", "buy_cost"}
_TIME_FIELDS = {"start_at", "answer_at", "end_at"}


def decode(text: str) -> CallRecord:
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
        payload = encode(record)
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

    def drain(self, write: Callable[[CallRecord], str | None]) -> dict[str, int]:
        """Hand every spooled record to `write` (None: the database is away, stop), oldest first; a record
        leaves the spool only once written, so nothing is lost."""
        counts = {WRITTEN: 0, DUPLICATE: 0}
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                result = write(decode(path.read_text()))
                if result is None:
                    return counts
                counts[result] += 1
                path.unlink()
        while self.client is not None:
            payload = self.client.lindex(self.key, 0)
            if payload is None:
                break
            result = write(decode(payload))
            if result is None:
                break
            counts[result] += 1
            self.client.lrem(self.key, 1, payload)
        return counts
