"""Tenants: the operator -> reseller -> client hierarchy."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.money import to_decimal
from controlplane.errors import Forbidden, Invalid, refuse
from controlplane.models import BillingType, Plan, Role, Status, Tenant, TenantKind
from controlplane.services import audit
from controlplane.services.listing import Page, keyset
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


def tenant_names(session: Session, scope: Scope) -> list[tuple[int, str]]:
    """(id, name) of the tenants `scope` sees, by name: for pickers, without loading whole rows."""
    stmt = scope.restrict(select(Tenant.id, Tenant.name), Tenant.id).order_by(Tenant.name)
    return [(row.id, row.name) for row in session.execute(stmt)]


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
    scope: Scope,
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
) -> Tenant:
    """A tenant below `parent` (by default the operator, or the reseller the scope belongs to).

    Only operators and resellers create tenants, a reseller only inside its own subtree. Names and realms are
    unique across the whole switch (a realm is a SIP domain), so a duplicate is a Conflict whoever asks.
    """
    if scope.role == Role.CLIENT:
        raise Forbidden("a client tenant cannot create tenants")
    if kind == TenantKind.OPERATOR and not scope.everything:
        raise Forbidden("only an operator creates the operator tenant")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 128:
        errors["name"] = "required, at most 128 characters"
    elif session.scalar(select(Tenant.id).where(Tenant.name == name)):
        conflicts["name"] = f"{name!r} exists already"
    realm = (realm or "").strip().lower() or None
    if kind == TenantKind.CLIENT and realm is None:
        errors["realm"] = "a client tenant needs a SIP realm"
    if realm is not None:
        if not REALM.match(realm):
            errors["realm"] = f"{realm!r} is not a valid domain name"
        elif session.scalar(select(Tenant.id).where(Tenant.realm == realm)):
            conflicts["realm"] = f"{realm!r} belongs to another tenant"
    currency = (currency or "").upper()
    if not CURRENCY.match(currency):
        errors["currency"] = "a three-letter ISO code"
    parent_row = None
    if parent is not None:
        parent_row = session.scalar(select(Tenant).where(Tenant.name == parent))
        if parent_row is None or not scope.sees(parent_row.id):
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
    refuse(errors, conflicts)
    if parent_row is None and scope.home is not None:
        parent_row = session.get(Tenant, scope.home)
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
    audit.record(session, scope.actor, "tenant.create", "tenant", tenant.id, tenant.id,
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


def get_tenant(session: Session, scope: Scope, tenant_id: int) -> Tenant:
    """Tenant `tenant_id`, if `scope` sees it."""
    return scope.require(session.get(Tenant, tenant_id), tenant_id, f"tenant {tenant_id}")


def page_tenants(session: Session, scope: Scope, *, parent_id: int | None = None, kind: TenantKind | None = None,
                 status: Status | None = None, search: str | None = None, after: int | None = None,
                 limit: int = 50) -> Page[Tenant]:
    """The tenants `scope` sees, filtered, one keyset page in id order."""
    stmt = scope.restrict(select(Tenant), Tenant.id)
    if parent_id is not None:
        stmt = stmt.where(Tenant.parent_id == parent_id)
    if kind is not None:
        stmt = stmt.where(Tenant.kind == kind)
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    if search:
        like = f"%{search}%"
        stmt = stmt.where(Tenant.name.like(like) | Tenant.realm.like(like))
    return keyset(session, stmt, Tenant.id, after=after, limit=limit)


# What an update may change, and who: limits and money terms are set from above, never by the tenant itself.
UPDATABLE = ("plan", "credit_limit", "margin_pct", "max_sip_accounts", "max_concurrent_calls", "max_dids",
             "monthly_spend_cap", "low_balance_threshold", "country_code", "timezone",
             "allowed_country_codes", "denied_country_codes")


def update_tenant(session: Session, scope: Scope, tenant: Tenant, changes: dict) -> Tenant:
    """Change the given fields of a tenant below the caller; audited with before and after."""
    _require_above(scope, tenant)
    errors: dict[str, str] = {}
    unknown = sorted(set(changes) - set(UPDATABLE))
    for field in unknown:
        errors[field] = "cannot be changed"
    before, after = {}, {}
    for field, value in changes.items():
        if field in unknown:
            continue
        if field == "plan":
            plan = None
            if value is not None:
                plan = session.scalar(select(Plan).where(Plan.name == value))
                if plan is None:
                    errors["plan"] = f"plan {value!r} not found"
                    continue
            before["plan"], after["plan"] = tenant.plan.name if tenant.plan else None, value
            tenant.plan_id = plan.id if plan else None
            continue
        if field in ("credit_limit", "margin_pct", "monthly_spend_cap", "low_balance_threshold"):
            value = _non_negative(value, field, errors)
            if field == "credit_limit" and value and tenant.billing_type != BillingType.POSTPAID:
                errors[field] = "only a postpaid tenant has a credit limit"
        if field.startswith("max_") and value is not None and (not isinstance(value, int) or value < 0):
            errors[field] = "a whole number, not negative"
        if field == "country_code" and value is not None and not str(value).isdigit():
            errors[field] = "digits only"
        if field in errors:
            continue
        if field in ("credit_limit", "margin_pct") and value is None:
            value = Decimal(0)
        before[field], after[field] = _plain(getattr(tenant, field)), _plain(value)
        setattr(tenant, field, value)
    if errors:
        session.expire(tenant)  # nothing of a refused update stays on the object
        raise Invalid(errors)
    session.flush()
    audit.record(session, scope.actor, "tenant.update", "tenant", tenant.id, tenant.id,
                 {"before": before, "after": after})
    return tenant


def set_status(session: Session, scope: Scope, tenant: Tenant, status: Status) -> bool:
    """Suspend or enable a tenant below the caller; whether it changed. The caller then syncs the SIP edge."""
    _require_above(scope, tenant)
    if tenant.status == status:
        return False
    before, tenant.status = tenant.status, status
    session.flush()
    audit.record(session, scope.actor, "tenant.enable" if status == Status.ACTIVE else "tenant.suspend",
                 "tenant", tenant.id, tenant.id,
                 {"before": {"status": before.value}, "after": {"status": status.value}})
    return True


def _require_above(scope: Scope, tenant: Tenant) -> None:
    """Terms and status of a tenant are set by the operator or a reseller above it, never from inside."""
    scope.require_above(tenant, tenant.id, f"tenant {tenant.id}",
                        "set by the operator or by the reseller above the tenant")
    if tenant.kind == TenantKind.OPERATOR:
        raise Forbidden("the operator tenant is not changed here")


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value
