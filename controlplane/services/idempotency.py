"""Money writes sent twice with the same `Idempotency-Key` happen once: the first answer is stored in the same
transaction as the write, and a repeat gets that answer back instead of a second write."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import Conflict, Invalid
from controlplane.models import IdempotencyKey

MAX_KEY = 128


def fingerprint(method: str, path: str, body: object) -> str:
    """What makes two requests "the same": method, path and body (keys sorted)."""
    text = json.dumps([method, path, body], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise Invalid({"Idempotency-Key": f"1 to {MAX_KEY} printable characters"})


def earlier(session: Session, owner: str, key: str, request_hash: str) -> IdempotencyKey | None:
    """The stored answer for this caller's key, if any; Conflict when the key came with another request."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key))
    if row is not None and row.request_hash != request_hash:
        raise Conflict({"Idempotency-Key": "was used with a different request"})
    return row


def remember(session: Session, owner: str, key: str, request_hash: str, status: int, body: dict) -> None:
    """Store the answer with the write: a concurrent twin then fails on the unique (owner, key) and rolls back."""
    session.add(IdempotencyKey(owner=owner, key=key, request_hash=request_hash, status=status, body=body))
    session.flush()
