"""Calls in flight, kept in Redis so every controller and web process sees the same picture.

Keys (all under the installation's prefix):
  call:<uuid>            hash: tenant, account, caller, number, trunk, state, times, node, rating
  tenant:<id>:calls      set of uuids      account:<id>:calls   set of uuids
  tenant:<id>:billing    hash uuid -> "<answered_at>|<rating id>": all the shared-credit math reads
  rating:<id>            a price function (rating.dump_match), addressed by its content's hash
  tenant:<id>:burn       hash F, P, W: summed credit.burn_terms of the calls in flight, so "is the
                         credit anywhere near running out?" costs one HMGET, not a walk of every call
  trunk:<id>:calls       set of uuids      node:<name>:calls    set of uuids
  calls                  set of every uuid in flight
  deadline               pub/sub channel: {"tenant": id, "deadline": t} when an account's cut moves
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import redis

from controlplane.credit import RunningCall, bound_at
from controlplane.rating import RateMatch, RatingContext, client_factor, load_match
from controlplane.settings import get_settings

_ADMIT = """
local account_limit = tonumber(ARGV[2])
local tenant_limit = tonumber(ARGV[3])
if account_limit >= 0 and redis.call('SCARD', KEYS[1]) >= account_limit then return 1 end
if tenant_limit >= 0 and redis.call('SCARD', KEYS[2]) >= tenant_limit then return 2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 0
"""

_TAKE_CHANNEL = """
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[1]) >= limit then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""

# Touch a call's hash only while it exists, so a late update never resurrects an ended call.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

ADMITTED, ACCOUNT_FULL, TENANT_FULL = 0, 1, 2


RATING_TTL = 2 * 86_400


@dataclass
class LiveCalls:
    client: redis.Redis
    prefix: str
    _ratings: dict[str, tuple[RateMatch, RatingContext, Decimal]] = field(default_factory=dict, repr=False)
    _published: dict[int, float | None] = field(default_factory=dict, repr=False)

    @classmethod
    def connect(cls, url: str | None = None, prefix: str | None = None) -> LiveCalls:
        settings = get_settings()
        # Many greenlets share one client: a bounded pool that waits for a free connection
        # rather than failing a call with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(url or settings.redis_url, max_connections=100, timeout=5,
                                                     socket_timeout=2, socket_connect_timeout=2,
                                                     decode_responses=True)
        client = redis.Redis(connection_pool=pool)
        return cls(client, settings.redis_prefix if prefix is None else prefix)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # --- admission and release -------------------------------------------------------------
    def admit(self, uuid: str, tenant_id: int, account_id: int | None, account_limit: int | None,
              tenant_limit: int | None, fields: dict[str, object], burn: tuple[int, int] = (0, 0),
              now: float = 0.0) -> int:
        """Count the call against its account and tenant limits atomically; ADMITTED or why not."""
        account_key = self.key("account", account_id if account_id is not None else f"t{tenant_id}", "calls")
        result = self.client.eval(
            _ADMIT, 2, account_key, self.key("tenant", tenant_id, "calls"), uuid,
            -1 if account_limit is None else account_limit, -1 if tenant_limit is None else tenant_limit,
        )
        if result == ADMITTED:
            pipe = self.client.pipeline()
            blob = str(fields.get("rating") or "")
            if blob:
                rating_id = hashlib.sha1(blob.encode()).hexdigest()[:16]
                pipe.set(self.key("rating", rating_id), blob, nx=True, ex=RATING_TTL)
                pipe.hset(self.key("tenant", tenant_id, "billing"), uuid, f"|{rating_id}")
            fixed, per_second = burn
            weighted = per_second * math.floor(now)
            if fixed or per_second:
                burn_key = self.key("tenant", tenant_id, "burn")
                pipe.hincrby(burn_key, "F", fixed)
                pipe.hincrby(burn_key, "P", per_second)
                pipe.hincrby(burn_key, "W", weighted)
                fields = {**fields, "burn": f"{fixed}|{per_second}|{weighted}"}
            pipe.hset(self.key("call", uuid), mapping={k: "" if v is None else str(v) for k, v in fields.items()})
            pipe.sadd(self.key("calls"), uuid)
            if fields.get("node"):
                pipe.sadd(self.key("node", fields["node"], "calls"), uuid)
            pipe.execute()
        return int(result)

    def take_channel(self, uuid: str, trunk_id: int, max_channels: int | None) -> bool:
        taken = self.client.eval(_TAKE_CHANNEL, 1, self.key("trunk", trunk_id, "calls"), uuid,
                                 -1 if max_channels is None else max_channels)
        if taken:
            self.update(uuid, trunk=trunk_id)
        return bool(taken)

    def release_channel(self, uuid: str, trunk_id: int) -> None:
        self.client.srem(self.key("trunk", trunk_id, "calls"), uuid)

    def answered(self, uuid: str, tenant_id: int, answered_at: float) -> None:
        """The call now draws on the account's credit from `answered_at` (controller clock)."""
        billing = self.key("tenant", tenant_id, "billing")
        entry = self.client.hget(billing, uuid)
        pipe = self.client.pipeline()
        if entry is not None:
            pipe.hset(billing, uuid, f"{answered_at}|{entry.split('|', 1)[1]}")
        pipe.execute()
        self.update(uuid, state="answered", answered_at=answered_at)

    def update(self, uuid: str, **fields: object) -> bool:
        args = [item for k, v in fields.items() for item in (k, "" if v is None else str(v))]
        return bool(self.client.eval(_UPDATE, 1, self.key("call", uuid), *args))

    def end(self, uuid: str) -> dict[str, str]:
        """Forget the call everywhere; returns what was known of it."""
        info = self.client.hgetall(self.key("call", uuid))
        pipe = self.client.pipeline()
        tenant, account, node, trunk = info.get("tenant"), info.get("account"), info.get("node"), info.get("trunk")
        if tenant:
            pipe.srem(self.key("tenant", tenant, "calls"), uuid)
            pipe.hdel(self.key("tenant", tenant, "billing"), uuid)
            if info.get("burn"):
                fixed, per_second, weighted = (int(x) for x in info["burn"].split("|"))
                burn_key = self.key("tenant", tenant, "burn")
                pipe.hincrby(burn_key, "F", -fixed)
                pipe.hincrby(burn_key, "P", -per_second)
                pipe.hincrby(burn_key, "W", -weighted)
            pipe.srem(self.key("account", account or f"t{tenant}", "calls"), uuid)
        if node:
            pipe.srem(self.key("node", node, "calls"), uuid)
        if trunk:
            pipe.srem(self.key("trunk", trunk, "calls"), uuid)
        pipe.srem(self.key("calls"), uuid)
        pipe.delete(self.key("call", uuid))
        pipe.execute()
        return info

    # --- reading -----------------------------------------------------------------------------
    def get(self, uuid: str) -> dict[str, str]:
        return self.client.hgetall(self.key("call", uuid))

    def burn_bound(self, tenant_id: int, t: float) -> Decimal:
        """An upper bound of what the tenant's calls in flight will have cost by time t."""
        fixed, per_second, weighted = (int(v or 0) for v in self.client.hmget(
            self.key("tenant", tenant_id, "burn"), "F", "P", "W"))
        return bound_at(fixed, per_second, weighted, t)

    def count(self, scope: str, ident: object) -> int:
        return int(self.client.scard(self.key(scope, ident, "calls")))

    def uuids(self, scope: str = "calls", ident: object = None) -> set[str]:
        key = self.key("calls") if ident is None else self.key(scope, ident, "calls")
        return set(self.client.smembers(key))

    def details(self, uuids: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline()
        ordered = sorted(uuids)
        for uuid in ordered:
            pipe.hgetall(self.key("call", uuid))
        return [dict(info, uuid=u) for u, info in zip(ordered, pipe.execute(), strict=True) if info]

    def running(self, tenant_id: int) -> list[RunningCall]:
        """The account's calls as price functions: one small HGETALL, ratings cached by id."""
        entries = self.client.hgetall(self.key("tenant", tenant_id, "billing"))
        missing = {entry.split("|", 1)[1] for entry in entries.values()} - self._ratings.keys()
        if missing:
            ids = sorted(missing)
            for rating_id, blob in zip(ids, self.client.mget([self.key("rating", i) for i in ids]), strict=True):
                if blob:
                    match, ctx = load_match(blob)
                    self._ratings[rating_id] = (match, ctx, client_factor(match, ctx))
        calls = []
        for uuid, entry in entries.items():
            answered, rating_id = entry.split("|", 1)
            if rating_id in self._ratings:
                match, ctx, factor = self._ratings[rating_id]
                calls.append(RunningCall(uuid, float(answered) if answered else None, match, ctx, factor))
        return calls

    # --- deadlines ---------------------------------------------------------------------------
    def publish_deadline(self, tenant_id: int, deadline: float | None) -> None:
        """Tell every controller where the account's cut now is (only when it moved)."""
        if tenant_id in self._published and self._published[tenant_id] == deadline:
            return
        self._published[tenant_id] = deadline
        message = json.dumps({"tenant": tenant_id, "deadline": deadline})
        self.client.set(self.key("tenant", tenant_id, "deadline"), message)
        self.client.publish(self.key("deadline"), message)

    def request_recompute(self, tenant_id: int) -> None:
        self.client.publish(self.key("deadline"), json.dumps({"tenant": tenant_id, "recompute": True}))

    def deadline_channel(self) -> str:
        return self.key("deadline")
