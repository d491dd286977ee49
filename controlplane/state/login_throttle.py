"""Failed portal logins, counted in Redis per account and per address, so a guesser is locked out on every web
process at once.

Keys (under the installation's prefix): `login:fail:email:<email>` and `login:fail:ip:<ip>` count failures for
`window` seconds from the first; `login:lock:email:<email>` / `login:lock:ip:<ip>` exist while locked. A
success clears the account's count (not the address's: one right password does not excuse a spray).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class LoginThrottle:
    client: redis.Redis
    prefix: str
    max_failures: int = 5  # per account
    ip_max_failures: int = 20  # per address
    lock_seconds: int = 900

    @classmethod
    def from_settings(cls, settings) -> LoginThrottle:  # noqa: ANN001 - controlplane.settings.Settings
        return cls(redis.Redis.from_url(settings.redis_url, decode_responses=True), settings.redis_prefix,
                   settings.login_max_failures, settings.login_ip_max_failures, settings.login_lock_minutes * 60)

    def _key(self, *parts: str) -> str:
        return self.prefix + "login:" + ":".join(parts)

    def locked_for(self, email: str, ip: str) -> int:
        """Seconds until this account or this address may try again (0: it may now)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.ttl(self._key("lock", "email", email))
        pipe.ttl(self._key("lock", "ip", ip))
        return max(0, *pipe.execute())

    def failed(self, email: str, ip: str) -> list[str]:
        """Count a failure; what it locked now ("account", "address"), for the audit log."""
        locked = []
        for kind, ident, limit in (("email", email, self.max_failures), ("ip", ip, self.ip_max_failures)):
            key = self._key("fail", kind, ident)
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.lock_seconds, nx=True)
            count = pipe.execute()[0]
            if count >= limit and self.client.set(self._key("lock", kind, ident), "1", ex=self.lock_seconds, nx=True):
                self.client.delete(key)
                locked.append("account" if kind == "email" else "address")
        return locked

    def succeeded(self, email: str) -> None:
        self.client.delete(self._key("fail", "email", email))

    def unlock(self, email: str) -> None:
        """An operator lifts an account's lock (or a password reset proves the owner)."""
        self.client.delete(self._key("fail", "email", email), self._key("lock", "email", email))
