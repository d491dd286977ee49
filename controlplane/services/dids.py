"""Inbound numbers assigned to tenants."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid
from controlplane.models import Did, DidDestination, Tenant
from controlplane.services import accounts, audit
from controlplane.services.scope import Scope

E164 = re.compile(r"^\+?[1-9]\d{5,14}$")


def add_did(session: Session, scope: Scope, tenant: Tenant, number: str, *, to_account: str | None = None) -> Did:
    scope.require(tenant, tenant.id, f"tenant {tenant.name!r}")
    actor = scope.actor
    errors: dict[str, str] = {}
    if not E164.match(number or ""):
        errors["number"] = f"{number!r} is not an E.164 number"
    digits = (number or "").lstrip("+")
    if not errors and session.scalar(select(Did.id).where(Did.number == digits)):
        errors["number"] = f"{digits} is assigned already"
    if tenant.max_dids is not None:
        if session.scalar(select(func.count()).where(Did.tenant_id == tenant.id)) >= tenant.max_dids:
            errors["tenant"] = f"tenant allows at most {tenant.max_dids} DIDs"
    account = None
    if to_account is not None:
        try:
            account = accounts.by_username(session, scope, tenant, to_account)
        except LookupError as exc:
            errors["to_account"] = str(exc)
    if errors:
        raise Invalid(errors)
    did = Did(
        number=digits, tenant_id=tenant.id,
        destination_type=DidDestination.ACCOUNT if account else DidDestination.HANGUP,
        sip_account_id=account.id if account else None,
    )
    session.add(did)
    session.flush()
    audit.record(session, actor, "did.add", "did", did.id, tenant.id, {"number": digits, "to_account": to_account})
    return did
