"""API keys: shown once, kept only as a hash; the visible prefix finds the row to check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid
from controlplane.models import ApiKey, User
from controlplane.services import audit

PREFIX = "cp_"


def _digest(secret: str) -> str:
    # Keys are 256-bit random strings: a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # the only time the full key exists outside the caller's hands


def issue(session: Session, user: User, scopes: list[str], actor: str = "system") -> IssuedKey:
    bad = [s for s in scopes if not s.replace(":", "").replace("_", "").isalnum()]
    if bad:
        raise Invalid({"scopes": f"not a scope: {', '.join(bad)}"})
    ident = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, key_prefix=ident, key_hash=_digest(secret), scopes=" ".join(sorted(set(scopes))))
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_key.issue", "api_key", row.id, user.tenant_id, {"scopes": row.scopes})
    return IssuedKey(row, f"{PREFIX}{ident}.{secret}")


def verify(session: Session, token: str) -> ApiKey | None:
    """The active key this token belongs to, or None; compared in constant time."""
    if not token.startswith(PREFIX) or "." not in token:
        return None
    ident, _, secret = token[len(PREFIX):].partition(".")
    row = session.scalar(select(ApiKey).where(ApiKey.key_prefix == ident, ApiKey.revoked.is_(False)))
    if row is None or not hmac.compare_digest(row.key_hash, _digest(secret)):
        return None
    return row
