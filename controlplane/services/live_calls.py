"""Calls in flight, kept in Redis so every controller and web process sees the same picture.

Keys (all under the installation's prefix):
  call:<uuid>            hash: tenant, account, caller, number, trunk, state, times, node, rating
  tenant:<id>:calls      set of uuids      account:<id>:calls   set of uuids
  trunk:<id>:calls       set of uuids      node:<name>:calls    set of uuids
  calls                  set of every uuid in flight
  deadline               pub/sub channel: {"tenant": id, "deadline": t} when an account's cut moves
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from controlplane.credit import RunningCall
from controlplane.rating import load_match
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

ADMITTED, ACCOUNT_FULL, TENANT_FULL = 0, 1, 2


@dataclass
class LiveCalls:
    client: redis.Redis
    prefix: str

    @classmethod
    def connect(cls, url: str | None = None, prefix: str | None = None) -> LiveCalls:
        settings = get_settings()
        client = redis.Redis.from_url(url or settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
                                      decode_responses=True)
        return cls(client, settings.redis_prefix if prefix is None else prefix)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # --- admission and release -------------------------------------------------------------
    def admit(self, uuid: str, tenant_id: int, account_id: int | None, account_limit: int | None,
              tenant_limit: int | None, fields: dict[str, object]) -> int:
        """Count the call against its account and tenant limits atomically; ADMITTED or why not."""
        account_key = self.key("account", account_id if account_id is not None else f"t{tenant_id}", "calls")
        result = self.client.eval(
            _ADMIT, 2, account_key, self.key("tenant", tenant_id, "calls"), uuid,
            -1 if account_limit is None else account_limit, -1 if tenant_limit is None else tenant_limit,
        )
        if result == ADMITTED:
            pipe = self.client.pipeline()
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
            self.client.hset(self.key("call", uuid), "trunk", trunk_id)
        return bool(taken)

    def release_channel(self, uuid: str, trunk_id: int) -> None:
        self.client.srem(self.key("trunk", trunk_id, "calls"), uuid)

    def update(self, uuid: str, **fields: object) -> None:
        self.client.hset(self.key("call", uuid), mapping={k: "" if v is None else str(v) for k, v in fields.items()})

    def end(self, uuid: str) -> dict[str, str]:
        """Forget the call everywhere; returns what was known of it."""
        info = self.client.hgetall(self.key("call", uuid))
        pipe = self.client.pipeline()
        tenant, account, node, trunk = info.get("tenant"), info.get("account"), info.get("node"), info.get("trunk")
        if tenant:
            pipe.srem(self.key("tenant", tenant, "calls"), uuid)
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
        calls = []
        for info in self.details(self.uuids("tenant", tenant_id)):
            if not info.get("rating"):
                continue
            match, ctx = load_match(info["rating"])
            answered = float(info["answered_at"]) if info.get("answered_at") else None
            calls.append(RunningCall(info["uuid"], answered, match, ctx))
        return calls

    # --- deadlines ---------------------------------------------------------------------------
    def publish_deadline(self, tenant_id: int, deadline: float | None) -> None:
        message = json.dumps({"tenant": tenant_id, "deadline": deadline})
        self.client.set(self.key("tenant", tenant_id, "deadline"), message)
        self.client.publish(self.key("deadline"), message)

    def request_recompute(self, tenant_id: int) -> None:
        self.client.publish(self.key("deadline"), json.dumps({"tenant": tenant_id, "recompute": True}))

    def deadline_channel(self) -> str:
        return self.key("deadline")
