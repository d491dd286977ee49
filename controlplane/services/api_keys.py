"""API keys: shown once, kept only as a hash; the visible prefix finds the row to check.

A key acts as its owner (the owner's Scope decides which tenants it sees), narrowed by its grants:
`resource:read`, `resource:write` (write implies read) or `*`. It may expire and may be bound to
source addresses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Forbidden, Invalid, NotFound, Unauthorized
from controlplane.models import ApiKey, User
from controlplane.models.base import utcnow
from controlplane.services import audit
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope

PREFIX = "cp_"
LAST_USED_EVERY = dt.timedelta(seconds=60)
GRANT = re.compile(r"^(\*|[a-z_]{1,32}:(read|write))$")


def _digest(secret: str) -> str:
    # Keys are 256-bit random strings: a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # the only time the full key exists outside the caller's hands


def grants(scopes: str, resource: str, access: str) -> bool:
    """Does a key with `scopes` allow `access` ("read" or "write") to `resource`?"""
    held = set(scopes.split())
    if "*" in held or f"{resource}:write" in held:
        return True
    return access == "read" and f"{resource}:read" in held


def _networks(text: str, errors: dict[str, str]) -> str:
    nets = []
    for item in text.split():
        try:
            nets.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            errors["allowed_ips"] = f"{item!r} is not an address or network"
    return " ".join(nets)


def covers(held: str, wanted: str) -> bool:
    """May a key holding `held` hand out the grant `wanted`? Only what it holds itself."""
    if wanted == "*":
        return "*" in held.split()
    resource, _, level = wanted.partition(":")
    return grants(held, resource, level)


def issue(
    session: Session,
    scope: Scope,
    user: User,
    scopes: list[str],
    *,
    name: str = "",
    expires_at: dt.datetime | None = None,
    allowed_ips: str = "",
    issued_with: str | None = None,
) -> IssuedKey:
    """A key for `user` (someone the scope manages). `issued_with`: the grants of the key making this request;
    a key never mints one wider than itself."""
    scope.require_manager(user, user.tenant_id, f"user {user.id}")
    if issued_with is not None:
        wider = [s for s in scopes if GRANT.match(s) and not covers(issued_with, s)]
        if wider:
            raise Forbidden(f"a key cannot grant what it does not hold: {', '.join(wider)}")
    errors: dict[str, str] = {}
    bad = [s for s in scopes if not GRANT.match(s)]
    if bad or not scopes:
        errors["scopes"] = f"not a scope: {', '.join(bad)}" if bad else "at least one, e.g. cdrs:read"
    if len(name) > 128:
        errors["name"] = "at most 128 characters"
    if expires_at is not None and expires_at <= utcnow():
        errors["expires_at"] = "must be in the future"
    nets = _networks(allowed_ips or "", errors)
    if errors:
        raise Invalid(errors)
    ident = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, name=name, key_prefix=ident, key_hash=_digest(secret),
                 scopes=" ".join(sorted(set(scopes))), expires_at=expires_at, allowed_ips=nets)
    session.add(row)
    session.flush()
    audit.record(session, scope.actor, "api_key.issue", "api_key", row.id, user.tenant_id,
                 {"name": name, "scopes": row.scopes, "user_id": user.id, "allowed_ips": nets,
                  "expires_at": expires_at.isoformat() if expires_at else None})
    return IssuedKey(row, f"{PREFIX}{ident}.{secret}")


def _visible(scope: Scope):  # noqa: ANN202 - a Select
    stmt = select(ApiKey).join(User, ApiKey.user_id == User.id)
    stmt = scope.restrict(stmt, User.tenant_id)
    if scope.user_id is not None:
        stmt = stmt.where(User.id == scope.user_id)
    return stmt


def page_keys(session: Session, scope: Scope, *, after: int | None = None, limit: int = 50) -> Page[ApiKey]:
    return keyset(session, _visible(scope), ApiKey.id, after=after, limit=limit)


def get_key(session: Session, scope: Scope, key_id: int) -> ApiKey:
    key = session.scalar(_visible(scope).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    return key


def revoke(session: Session, scope: Scope, key_id: int) -> ApiKey:
    key = get_key(session, scope, key_id)
    if not key.revoked:
        key.revoked, key.revoked_at = True, utcnow()
        session.flush()
        audit.record(session, scope.actor, "api_key.revoke", "api_key", key.id, key.user.tenant_id,
                     {"name": key.name})
    return key


def verify(session: Session, token: str) -> ApiKey | None:
    """The unrevoked key this token belongs to, or None; compared in constant time."""
    if not token.startswith(PREFIX) or "." not in token:
        return None
    ident, _, secret = token[len(PREFIX):].partition(".")
    row = session.scalar(select(ApiKey).where(ApiKey.key_prefix == ident, ApiKey.revoked.is_(False)))
    if row is None or not hmac.compare_digest(row.key_hash, _digest(secret)):
        return None
    return row


def authenticate(session: Session, token: str, source_ip: str | None, now: dt.datetime) -> ApiKey:
    """The key for `token`, usable now from `source_ip`, with its last use recorded; Unauthorized otherwise.

    Every refusal says the same thing, so a caller cannot tell a revoked key from an expired or a made-up one.
    """
    key = verify(session, token)
    refused = Unauthorized("invalid, expired or revoked API key")
    if key is None or not key.user.active:
        raise refused
    if key.expires_at is not None and key.expires_at <= now:
        raise refused
    if key.allowed_ips:
        try:
            address = ipaddress.ip_address(source_ip or "")
        except ValueError:
            raise refused from None
        if not any(address in ipaddress.ip_network(net) for net in key.allowed_ips.split()):
            raise refused
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        key.last_used_at = now  # to the minute: a busy key does not write a row per request
    return key
