"""Portal users; passwords are kept only as salted scrypt hashes (werkzeug.security)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from controlplane.errors import Forbidden, NotFound, refuse
from controlplane.models import Role, SipAccount, Tenant, TenantKind, TenantRole, User
from controlplane.services import audit
from controlplane.services.accounts import generate_password
from controlplane.services.listing import Page, keyset
from controlplane.services.scope import Scope
from controlplane.services.tenants import ensure_operator


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def ensure_admin(session: Session, email: str = "admin@localhost") -> tuple[User, str | None]:
    """The first SUPERADMIN, created once; the generated password is returned only then."""
    existing = session.scalar(select(User).where(User.role == Role.SUPERADMIN).order_by(User.id))
    if existing is not None:
        return existing, None
    operator = ensure_operator(session)
    password = generate_password(16)
    user = User(tenant_id=operator.id, email=email, password_hash=hash_password(password), role=Role.SUPERADMIN)
    session.add(user)
    session.flush()
    audit.record(session, "setup", "user.create", "user", user.id, operator.id, {"email": email, "role": "SUPERADMIN"})
    return user, password


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
ROLE_OF_KIND = {TenantKind.OPERATOR: Role.ADMIN, TenantKind.RESELLER: Role.RESELLER, TenantKind.CLIENT: Role.CLIENT}


def _visible(scope: Scope):  # noqa: ANN202 - a Select
    stmt = scope.restrict(select(User), User.tenant_id)
    return stmt if scope.user_id is None else stmt.where(User.id == scope.user_id)


def get_user(session: Session, scope: Scope, user_id: int) -> User:
    user = session.scalar(_visible(scope).where(User.id == user_id))
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def page_users(session: Session, scope: Scope, *, tenant_id: int | None = None, after: int | None = None,
               limit: int = 50) -> Page[User]:
    stmt = _visible(scope)
    if tenant_id is not None:
        stmt = stmt.where(User.tenant_id == tenant_id)
    return keyset(session, stmt, User.id, after=after, limit=limit)


def create_user(session: Session, scope: Scope, tenant: Tenant, email: str, *, password: str | None = None,
                tenant_role: TenantRole = TenantRole.ADMIN,
                sip_account_id: int | None = None) -> tuple[User, str | None]:
    """A portal/API user of `tenant`; the role follows the tenant (operator: ADMIN, reseller: RESELLER, client:
    CLIENT), so no caller can make a user above itself. A generated password is returned once."""
    scope.require_manager(tenant, tenant.id, f"tenant {tenant.id}")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        errors["email"] = "an email address"
    elif session.scalar(select(User.id).where(User.email == email)):
        conflicts["email"] = f"{email!r} exists already"
    if password is not None and len(password) < 10:
        errors["password"] = "at least 10 characters"
    if tenant_role == TenantRole.USER:
        account = session.get(SipAccount, sip_account_id) if sip_account_id else None
        if account is None or account.tenant_id != tenant.id:
            errors["sip_account_id"] = "a normal user acts as one SIP account of its tenant"
    elif sip_account_id is not None:
        errors["sip_account_id"] = "only a normal user has a SIP account of its own"
    refuse(errors, conflicts)
    secret = password or generate_password(16)
    user = User(tenant_id=tenant.id, email=email, password_hash=hash_password(secret),
                role=ROLE_OF_KIND[tenant.kind], tenant_role=tenant_role, sip_account_id=sip_account_id)
    session.add(user)
    session.flush()
    audit.record(session, scope.actor, "user.create", "user", user.id, tenant.id,
                 {"email": email, "role": user.role.value, "tenant_role": tenant_role.value})
    return user, None if password else secret


def set_active(session: Session, scope: Scope, user: User, active: bool) -> bool:
    """Disable or enable a user (its API keys stop or start working with it); never the caller's own user."""
    scope.require_manager(user, user.tenant_id, f"user {user.id}")
    if scope.acting_user == user.id:
        raise Forbidden("a user cannot disable itself")
    if user.active == active:
        return False
    user.active = active
    session.flush()
    audit.record(session, scope.actor, "user.enable" if active else "user.disable", "user", user.id,
                 user.tenant_id, {"before": {"active": not active}, "after": {"active": active}})
    return True
