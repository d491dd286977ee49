"""Inbound numbers assigned to tenants."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid, NotFound, refuse
from controlplane.models import Did, DidDestination, SipAccount, Tenant
from controlplane.services import accounts, audit
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope

E164 = re.compile(r"^\+?[1-9]\d{5,14}$")
# Numbers are assigned and released from above; the tenant routes them.
ASSIGNED_FROM_ABOVE = "numbers are assigned by the operator or by the reseller above the tenant"


def add_did(session: Session, scope: Scope, tenant: Tenant, number: str, *, to_account: str | None = None) -> Did:
    scope.require_above(tenant, tenant.id, f"tenant {tenant.name!r}", ASSIGNED_FROM_ABOVE)
    actor = scope.actor
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    if not E164.match(number or ""):
        errors["number"] = f"{number!r} is not an E.164 number"
    digits = (number or "").lstrip("+")
    if not errors and session.scalar(select(Did.id).where(Did.number == digits)):
        conflicts["number"] = f"{digits} is assigned already"
    if tenant.max_dids is not None:
        if session.scalar(select(func.count()).where(Did.tenant_id == tenant.id)) >= tenant.max_dids:
            errors["tenant"] = f"tenant allows at most {tenant.max_dids} DIDs"
    account = None
    if to_account is not None:
        try:
            account = accounts.by_username(session, scope, tenant, to_account)
        except LookupError as exc:
            errors["to_account"] = str(exc)
    refuse(errors, conflicts)
    did = Did(
        number=digits, tenant_id=tenant.id,
        destination_type=DidDestination.ACCOUNT if account else DidDestination.HANGUP,
        sip_account_id=account.id if account else None,
    )
    session.add(did)
    session.flush()
    audit.record(session, actor, "did.add", "did", did.id, tenant.id, {"number": digits, "to_account": to_account})
    return did


def _visible(scope: Scope):  # noqa: ANN202 - a Select
    return scope.restrict_account(scope.restrict(select(Did), Did.tenant_id), Did.sip_account_id)


def get_did(session: Session, scope: Scope, did_id: int) -> Did:
    did = session.scalar(_visible(scope).where(Did.id == did_id))
    if did is None:
        raise NotFound(f"DID {did_id} not found")
    return did


def page_dids(session: Session, scope: Scope, *, tenant_id: int | None = None, number: str | None = None,
              after: int | None = None, limit: int = 50) -> Page[Did]:
    stmt = _visible(scope)
    if tenant_id is not None:
        stmt = stmt.where(Did.tenant_id == tenant_id)
    if number:
        stmt = stmt.where(Did.number.like(f"{number.lstrip('+')}%"))
    return keyset(session, stmt, Did.id, after=after, limit=limit)


def route_did(session: Session, scope: Scope, did: Did, account_id: int | None) -> Did:
    """Send the number's calls to one of the tenant's SIP accounts, or (None) refuse them."""
    scope.require_manager(did, did.tenant_id, f"DID {did.id}")
    account = session.get(SipAccount, account_id) if account_id is not None else None
    if account_id is not None and (account is None or account.tenant_id != did.tenant_id):
        raise Invalid({"account_id": f"SIP account {account_id} not found in the number's tenant"})
    before = {"destination": did.destination_type.value, "sip_account_id": did.sip_account_id}
    did.destination_type = DidDestination.ACCOUNT if account else DidDestination.HANGUP
    did.sip_account_id = account.id if account else None
    session.flush()
    audit.record(session, scope.actor, "did.route", "did", did.id, did.tenant_id,
                 {"before": before, "after": {"destination": did.destination_type.value,
                                              "sip_account_id": did.sip_account_id}})
    return did


def release_did(session: Session, scope: Scope, did: Did) -> None:
    """Take the number back from the tenant (it can be assigned again)."""
    did_tenant = session.get(Tenant, did.tenant_id)
    scope.require_above(did_tenant, did.tenant_id, f"tenant {did_tenant.name!r}", ASSIGNED_FROM_ABOVE)
    session.delete(did)
    session.flush()
    audit.record(session, scope.actor, "did.release", "did", did.id, did_tenant.id, {"number": did.number})
