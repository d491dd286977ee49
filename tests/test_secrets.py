"""Secrets at rest: portal passwords and API keys are only ever stored hashed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from controlplane.errors import Invalid
from controlplane.models import ApiKey, User
from controlplane.services import api_keys
from controlplane.services.scope import Scope
from controlplane.services.users import ensure_admin, verify_password


def test_api_key_is_shown_once_and_stored_hashed(session) -> None:
    admin, _ = ensure_admin(session)
    issued = api_keys.issue(session, Scope.operator(), admin, ["cdr:read", "calls:write"])
    session.commit()
    stored = session.scalar(select(ApiKey))
    secret = issued.token.split(".", 1)[1]
    assert secret not in stored.key_hash and issued.token not in stored.key_hash
    assert stored.scopes == "calls:write cdr:read"
    assert api_keys.verify(session, issued.token).id == stored.id
    assert api_keys.verify(session, issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")) is None
    assert api_keys.verify(session, "nonsense") is None
    stored.revoked = True
    session.commit()
    assert api_keys.verify(session, issued.token) is None


def test_bad_scope_is_refused(session) -> None:
    admin, _ = ensure_admin(session)
    with pytest.raises(Invalid):
        api_keys.issue(session, Scope.operator(), admin, ["cdr read; drop"])


def test_admin_password_is_hashed(session) -> None:
    admin, password = ensure_admin(session)
    session.commit()
    row = session.scalar(select(User))
    assert password not in row.password_hash and row.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert verify_password(row, password) and not verify_password(row, password + "x")
