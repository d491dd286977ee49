"""Calls in flight, kept in Redis so every controller and web process sees the same picture.

Keys (all under the installation's prefix):
  call:<uuid>            hash: tenant, account, caller, number, trunk, state, times, node, rating
  tenant:<id>:calls      set of uuids      account:<id>:calls   set of uuids
  tenant:<id>:billing    hash uuid -> "<answered_at>|<rating id>": all the shared-credit math reads
  rating:<id>            a price function (rating_codec.dump_match), addressed by its content's hash
  tenant:<id>:burn       hash F, P, W: summed credit.burn_terms of the calls in flight, so "is the
                         credit anywhere near running out?" costs one HMGET, not a walk of every call
  tenant:<id>:money      counter bumped after every committed balance change (money_version.py)
  tenant:<id>:deadline   the last deadline published for the tenant
  config:version         counter bumped after every commit that changed what decisions read
                         (config_version.py)
  trunk:<id>:calls       set of uuids      node:<name>:calls    set of uuids
  calls                  set of every uuid in flight
  ringing:<uuid>         hash: a click-to-call whose phone rings (tenant, account, number, node), gone when
                         the phone answers (the call is then admitted) or when it could no longer ring
  tenant:<id>:ringing    sorted set of those uuids, scored by when they stop ringing at the latest
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

from controlplane.core.credit import RunningCall, bound_at
from controlplane.core.rating import RateMatch, RatingContext, client_factor
from controlplane.settings import get_settings
from controlplane.state import config_version
from controlplane.state.rating_codec import load_match

# Admission and every write it implies, in one round trip. KEYS: 1 account calls, 2 tenant calls,
# 3 call hash, 4 all calls, 5 node calls, 6 tenant billing, 7 tenant burn, 8 rating.
# ARGV: 1 uuid, 2 account limit, 3 tenant limit, 4 rating id ('' for none), 5 rating blob,
# 6 rating ttl, 7-9 burn terms F P W, 10 '1' when the call has a node, 11.. call fields.
_ADMIT = """
local account_limit = tonumber(ARGV[2])
local tenant_limit = tonumber(ARGV[3])
if account_limit >= 0 and redis.call('SCARD', KEYS[1]) >= account_limit then return 1 end
if tenant_limit >= 0 and redis.call('SCARD', KEYS[2]) >= tenant_limit then return 2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[8], ARGV[5], 'EX', ARGV[6])
  redis.call('HSET', KEYS[6], ARGV[1], '|' .. ARGV[4])
end
if ARGV[7] ~= '0' or ARGV[8] ~= '0' then
  redis.call('HINCRBY', KEYS[7], 'F', ARGV[7])
  redis.call('HINCRBY', KEYS[7], 'P', ARGV[8])
  redis.call('HINCRBY', KEYS[7], 'W', ARGV[9])
end
redis.call('HSET', KEYS[3], unpack(ARGV, 11))
redis.call('SADD', KEYS[4], ARGV[1])
if ARGV[10] == '1' then redis.call('SADD', KEYS[5], ARGV[1]) end
return 0
"""

# A trunk channel for the call, and the call's hash says which. KEYS: 1 trunk calls, 2 call hash.
_TAKE_CHANNEL = """
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[1]) >= limit then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'trunk', ARGV[3], 'trunk_name', ARGV[4], 'state', 'dialing')
end
return 1
"""

# Touch a call's hash only while it exists, so a late update never resurrects an ended call.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# The call draws on the credit from ARGV[2]. KEYS: 1 tenant billing, 2 call hash.
_ANSWERED = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry then
  local bar = string.find(entry, '|', 1, true)
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(entry, bar))
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'state', 'answered', 'answered_at', ARGV[2])
end
return 1
"""

# Forget the call everywhere. The sets to leave are named in the call's own hash, so their keys
# are built here (one Redis server, not a cluster). KEYS: 1 call hash, 2 all calls.
# ARGV: 1 uuid, 2 key prefix. Returns the hash, the tenant's calls left, its published deadline.
_END = """
local flat = redis.call('HGETALL', KEYS[1])
local info = {}
for i = 1, #flat, 2 do info[flat[i]] = flat[i + 1] end
local uuid, p = ARGV[1], ARGV[2]
local left, deadline = 0, ''
if info.tenant and info.tenant ~= '' then
  local t = p .. 'tenant:' .. info.tenant
  redis.call('SREM', t .. ':calls', uuid)
  redis.call('HDEL', t .. ':billing', uuid)
  if info.burn and info.burn ~= '' then
    local f, ps, w = string.match(info.burn, '^(%d+)|(%d+)|(%d+)$')
    if f then
      redis.call('HINCRBY', t .. ':burn', 'F', '-' .. f)
      redis.call('HINCRBY', t .. ':burn', 'P', '-' .. ps)
      redis.call('HINCRBY', t .. ':burn', 'W', '-' .. w)
    end
  end
  local account = info.account
  if not account or account == '' then account = 't' .. info.tenant end
  redis.call('SREM', p .. 'account:' .. account .. ':calls', uuid)
  left = redis.call('SCARD', t .. ':calls')
  deadline = redis.call('GET', t .. ':deadline') or ''
end
if info.node and info.node ~= '' then redis.call('SREM', p .. 'node:' .. info.node .. ':calls', uuid) end
if info.trunk and info.trunk ~= '' then redis.call('SREM', p .. 'trunk:' .. info.trunk .. ':calls', uuid) end
redis.call('SREM', KEYS[2], uuid)
redis.call('DEL', KEYS[1])
return {flat, left, deadline}
"""

ADMITTED, ACCOUNT_FULL, TENANT_FULL = 0, 1, 2


@dataclass(frozen=True)
class TenantLoad:
    account_calls: int
    tenant_calls: int
    burn: tuple[int, int, int]  # summed credit.burn_terms (F, P, W) of the tenant's calls in flight
    money_version: str  # bumped after every committed change of the tenant's balance (money_version.py)
    deadline_message: str | None = None  # the tenant's cut as last published, by any controller
    config_version: str = ""  # bumped after every commit that changed what decisions read (config_version.py)

    def burn_bound(self, t: float) -> Decimal:
        """An upper bound of what the tenant's calls in flight will have cost by time t."""
        return bound_at(*self.burn, t)


@dataclass(frozen=True)
class Ended:
    info: dict[str, str]  # the call's hash as it was
    tenant_calls: int  # the tenant's calls still in flight
    deadline: float | None  # the tenant's cut as last published (inf: beyond the horizon)


RATING_TTL = 2 * 86_400


@dataclass
class LiveCalls:
    client: redis.Redis
    prefix: str
    _ratings: dict[str, tuple[RateMatch, RatingContext, Decimal]] = field(default_factory=dict, repr=False)
    _scripts: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        scripts = {"admit": _ADMIT, "take_channel": _TAKE_CHANNEL, "update": _UPDATE, "answered": _ANSWERED,
                   "end": _END}
        self._scripts = {name: self.client.register_script(body) for name, body in scripts.items()}

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
        """Count the call against its account and tenant limits and record it, atomically in one
        round trip; ADMITTED or why not."""
        blob = str(fields.get("rating") or "")
        rating_id = hashlib.sha1(blob.encode()).hexdigest()[:16] if blob else ""
        fixed, per_second = burn
        weighted = per_second * math.floor(now)
        if fixed or per_second:
            fields = {**fields, "burn": f"{fixed}|{per_second}|{weighted}"}
        node = str(fields.get("node") or "")
        pairs = [item for k, v in fields.items() for item in (k, "" if v is None else str(v))]
        keys = [self.key("account", account_id if account_id is not None else f"t{tenant_id}", "calls"),
                self.key("tenant", tenant_id, "calls"), self.key("call", uuid), self.key("calls"),
                self.key("node", node, "calls"), self.key("tenant", tenant_id, "billing"),
                self.key("tenant", tenant_id, "burn"), self.key("rating", rating_id)]
        args = [uuid, -1 if account_limit is None else account_limit, -1 if tenant_limit is None else tenant_limit,
                rating_id, blob, RATING_TTL, fixed, per_second, weighted, "1" if node else "0", *pairs]
        return int(self._scripts["admit"](keys, args))

    def take_channel(self, uuid: str, trunk_id: int, max_channels: int | None, trunk_name: str = "") -> bool:
        return bool(self._scripts["take_channel"](
            [self.key("trunk", trunk_id, "calls"), self.key("call", uuid)],
            [uuid, -1 if max_channels is None else max_channels, trunk_id, trunk_name]))

    def release_channel(self, uuid: str, trunk_id: int) -> None:
        self.client.srem(self.key("trunk", trunk_id, "calls"), uuid)

    def answered(self, uuid: str, tenant_id: int, answered_at: float) -> None:
        """The call now draws on the account's credit from `answered_at` (controller clock)."""
        self._scripts["answered"]([self.key("tenant", tenant_id, "billing"), self.key("call", uuid)],
                                  [uuid, repr(answered_at)])

    def update(self, uuid: str, **fields: object) -> bool:
        args = [item for k, v in fields.items() for item in (k, "" if v is None else str(v))]
        return bool(self._scripts["update"]([self.key("call", uuid)], args))

    def end(self, uuid: str) -> Ended:
        """Forget the call everywhere; what was known of it, and what its tenant has left."""
        flat, left, deadline = self._scripts["end"]([self.key("call", uuid), self.key("calls")], [uuid, self.prefix])
        info = dict(zip(flat[::2], flat[1::2], strict=True))
        published = json.loads(deadline)["deadline"] if deadline else None
        return Ended(info, int(left), published)

    def ringing(self, uuid: str, tenant_id: int, fields: dict[str, object], seconds: float, now: float) -> None:
        """A click-to-call rings the account's phone: listed and hung up like a call until it is admitted."""
        pipe = self.client.pipeline()
        pipe.hset(self.key("ringing", uuid), mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(self.key("ringing", uuid), int(math.ceil(seconds)))
        pipe.zadd(self.key("tenant", tenant_id, "ringing"), {uuid: now + seconds})
        pipe.execute()

    def stop_ringing(self, uuid: str, tenant_id: int) -> None:
        """The phone answered (the call is in flight now, admitted) or the ringing was hung up."""
        pipe = self.client.pipeline()
        pipe.delete(self.key("ringing", uuid))
        pipe.zrem(self.key("tenant", tenant_id, "ringing"), uuid)
        pipe.execute()

    def ringing_calls(self, tenant_ids: Iterable[int], now: float) -> list[dict[str, str]]:
        """The click-to-calls still ringing for these tenants (entries past their time are dropped)."""
        tenant_ids = list(tenant_ids)
        pipe = self.client.pipeline()
        for tenant in tenant_ids:
            pipe.zremrangebyscore(self.key("tenant", tenant, "ringing"), "-inf", now)
            pipe.zrange(self.key("tenant", tenant, "ringing"), 0, -1)
        uuids = [u for i, members in enumerate(pipe.execute()) if i % 2 for u in members]
        pipe = self.client.pipeline()
        for uuid in uuids:
            pipe.hgetall(self.key("ringing", uuid))
        return [dict(info, uuid=u) for u, info in zip(uuids, pipe.execute(), strict=True) if info]

    # --- reading -----------------------------------------------------------------------------
    def get(self, uuid: str) -> dict[str, str]:
        """The call in flight, or the click-to-call still ringing, with this uuid ({} when neither)."""
        call = self.client.hgetall(self.key("call", uuid))
        return call or self.client.hgetall(self.key("ringing", uuid))

    def snapshot(self, tenant_id: int, account_id: int | None = None) -> TenantLoad:
        """What a decision or a deadline needs of the tenant's calls in flight, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.scard(self.key("account", account_id if account_id is not None else f"t{tenant_id}", "calls"))
        pipe.scard(self.key("tenant", tenant_id, "calls"))
        pipe.hmget(self.key("tenant", tenant_id, "burn"), "F", "P", "W")
        pipe.get(self.key("tenant", tenant_id, "money"))
        pipe.get(self.key("tenant", tenant_id, "deadline"))
        pipe.get(config_version.key(self.prefix))
        account_calls, tenant_calls, burn, version, deadline, config = pipe.execute()
        return TenantLoad(int(account_calls), int(tenant_calls), tuple(int(v or 0) for v in burn), version or "",
                        deadline, config or "")

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
    def publish_deadline(self, tenant_id: int, deadline: float | None, seen: str | None = None) -> None:
        """Tell every controller where the account's cut now is, unless the last one published
        (by any controller; `seen`, read with the snapshot) says so already."""
        message = json.dumps({"tenant": tenant_id, "deadline": deadline})
        if message == seen:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.key("tenant", tenant_id, "deadline"), message)
        pipe.publish(self.key("deadline"), message)
        pipe.execute()

    def request_recompute(self, tenant_id: int) -> None:
        self.client.publish(self.key("deadline"), json.dumps({"tenant": tenant_id, "recompute": True}))

    def deadline_channel(self) -> str:
        return self.key("deadline")
