"""Tenants: the operator -> reseller -> client hierarchy."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.money import to_decimal
from controlplane.errors import Invalid
from controlplane.models import BillingType, Plan, Tenant, TenantKind
from controlplane.services import audit
from controlplane.services.scope import Scope

REALM = re.compile(r"^(?=.{3,190}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def by_name(session: Session, scope: Scope, name: str) -> Tenant:
    """The tenant called `name`, if `scope` sees it (NotFound alike when it does not exist or is out of scope)."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    return scope.require(tenant, tenant.id if tenant else None, f"tenant {name!r}")


def list_tenants(session: Session, scope: Scope) -> list[Tenant]:
    """The tenants `scope` sees, in id order."""
    return list(session.scalars(scope.restrict(select(Tenant), Tenant.id).order_by(Tenant.id)))


def ancestors(session: Session, tenant: Tenant) -> list[Tenant]:
    """Parents from the top of the tree down to the tenant's direct parent."""
    chain: list[Tenant] = []
    seen = {tenant.id}
    current = tenant.parent
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = current.parent
    return list(reversed(chain))


def create_tenant(
    session: Session,
    *,
    name: str,
    realm: str | None,
    kind: TenantKind = TenantKind.CLIENT,
    parent: str | None = None,
    plan: str | None = None,
    currency: str = "USD",
    postpaid: bool = False,
    credit_limit: Decimal | str | None = None,
    margin_pct: Decimal | str | None = None,
    country_code: str | None = None,
    actor: str = "system",
) -> Tenant:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 128:
        errors["name"] = "required, at most 128 characters"
    elif session.scalar(select(Tenant.id).where(Tenant.name == name)):
        errors["name"] = f"{name!r} exists already"
    realm = (realm or "").strip().lower() or None
    if kind == TenantKind.CLIENT and realm is None:
        errors["realm"] = "a client tenant needs a SIP realm"
    if realm is not None:
        if not REALM.match(realm):
            errors["realm"] = f"{realm!r} is not a valid domain name"
        elif session.scalar(select(Tenant.id).where(Tenant.realm == realm)):
            errors["realm"] = f"{realm!r} belongs to another tenant"
    currency = (currency or "").upper()
    if not CURRENCY.match(currency):
        errors["currency"] = "a three-letter ISO code"
    parent_row = None
    if parent is not None:
        parent_row = session.scalar(select(Tenant).where(Tenant.name == parent))
        if parent_row is None:
            errors["parent"] = f"tenant {parent!r} not found"
        elif parent_row.kind == TenantKind.CLIENT:
            errors["parent"] = f"{parent!r} is a client; only the operator or a reseller can have tenants"
    plan_row = None
    if plan is not None:
        plan_row = session.scalar(select(Plan).where(Plan.name == plan))
        if plan_row is None:
            errors["plan"] = f"plan {plan!r} not found"
    limit = _non_negative(credit_limit, "credit_limit", errors)
    margin = _non_negative(margin_pct, "margin_pct", errors)
    if credit_limit is not None and not postpaid:
        errors["credit_limit"] = "only a postpaid tenant has a credit limit"
    if country_code is not None and not country_code.isdigit():
        errors["country_code"] = "digits only"
    if errors:
        raise Invalid(errors)
    if parent_row is None and kind != TenantKind.OPERATOR:
        parent_row = session.scalar(select(Tenant).where(Tenant.kind == TenantKind.OPERATOR).order_by(Tenant.id))
    tenant = Tenant(
        name=name, realm=realm, kind=kind, parent=parent_row, plan_id=plan_row.id if plan_row else None,
        currency=currency, billing_type=BillingType.POSTPAID if postpaid else BillingType.PREPAID,
        credit_limit=limit or Decimal(0), margin_pct=margin or Decimal(0), balance=Decimal(0),
        country_code=country_code,
    )
    session.add(tenant)
    session.flush()
    audit.record(session, actor, "tenant.create", "tenant", tenant.id, tenant.id,
                 {"name": name, "realm": realm, "kind": kind.value, "parent": parent})
    return tenant


def ensure_operator(session: Session, name: str = "operator") -> Tenant:
    operator = session.scalar(select(Tenant).where(Tenant.kind == TenantKind.OPERATOR).order_by(Tenant.id))
    if operator is None:
        operator = Tenant(name=name, kind=TenantKind.OPERATOR, realm=None, balance=Decimal(0))
        session.add(operator)
        session.flush()
    return operator


def _non_negative(value: object, field: str, errors: dict[str, str]) -> Decimal | None:
    if value is None:
        return None
    try:
        number = to_decimal(value, field)
    except ValueError as exc:
        errors[field] = str(exc)
        return None
    if number < 0:
        errors[field] = "must not be negative"
    return number


def plan_for(tenant: Tenant) -> Plan | None:
    """A tenant's own plan, else the nearest ancestor's."""
    current: Tenant | None = tenant
    while current is not None:
        if current.plan is not None:
            return current.plan
        current = current.parent
    return None
