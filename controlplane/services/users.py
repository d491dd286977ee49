"""Portal users; passwords are kept only as salted scrypt hashes (werkzeug.security)."""

from __future__ import annotations

import re
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from controlplane.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthorized, refuse
from controlplane.models import Role, SipAccount, Tenant, TenantKind, TenantRole, User
from controlplane.models.base import utcnow
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


class Throttle(Protocol):
    """Failed logins counted per account and address (controlplane.state.login_throttle in production)."""

    def locked_for(self, email: str, ip: str) -> int: ...
    def failed(self, email: str, ip: str) -> list[str]: ...
    def succeeded(self, email: str) -> None: ...


WRONG = "wrong email or password"


def log_in(session: Session, email: str, password: str, ip: str, throttle: Throttle) -> User:
    """The portal user these credentials name. Refused the same way whether the email exists or not; after
    repeated failures the account (or the address) is locked for a while (RateLimited with the seconds left);
    failures, locks and logins are audited."""
    email = (email or "").strip().lower()
    wait = throttle.locked_for(email, ip)
    if wait:
        raise RateLimited(wait)
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not verify_password(user, password or "") or not user.active:
        locked = throttle.failed(email, ip)
        audit.record(session, "portal", "user.login_failed", "user", user.id if user else None,
                     user.tenant_id if user else None, {"email": email, "ip": ip, "locked": locked})
        raise Unauthorized(WRONG)
    if user.email_verified_at is None:
        raise Forbidden("confirm your email address first: follow the link we mailed you")
    throttle.succeeded(email)
    user.last_login_at = utcnow()
    audit.record(session, f"user:{user.id}", "user.login", "user", user.id, user.tenant_id, {"ip": ip})
    return user


def sign_up(session: Session, email: str, password: str, company: str, realm_domain: str,
            plan: str | None = None) -> User:
    """A new client tenant below the operator with its first admin, who must confirm the address before
    logging in (its email_verified_at stays unset until then)."""
    from controlplane.services.tenants import create_tenant

    email = (email or "").strip().lower()
    company = (company or "").strip()
    errors: dict[str, str] = {}
    if not EMAIL.match(email):
        errors["email"] = "an email address"
    elif session.scalar(select(User.id).where(User.email == email)):
        raise Conflict({"email": "an account with this address exists: log in or reset its password"})
    if len(password or "") < 10:
        errors["password"] = "at least 10 characters"
    if not 2 <= len(company) <= 100:
        errors["company"] = "2 to 100 characters"
    refuse(errors)
    slug = re.sub(r"[^a-z0-9]+", "-", company.lower()).strip("-")[:40] or "customer"
    realm = f"{slug}-{generate_password(6).lower()}.{realm_domain}"
    realm = re.sub(r"[^a-z0-9.-]", "x", realm)
    tenant = create_tenant(session, Scope.operator("signup"), name=company, realm=realm, plan=plan or None)
    user = User(tenant_id=tenant.id, email=email, password_hash=hash_password(password), role=Role.CLIENT,
                tenant_role=TenantRole.ADMIN)
    session.add(user)
    session.flush()
    user.email_verified_at = None  # after the INSERT: the column's default (made by someone above) does not hold
    session.flush()
    audit.record(session, "signup", "user.signup", "user", user.id, tenant.id, {"email": email, "company": company})
    return user


def confirm_email(session: Session, user: User) -> bool:
    """The sign-up link was followed; whether this confirmed it (False: it was already)."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = utcnow()
    audit.record(session, f"user:{user.id}", "user.verify_email", "user", user.id, user.tenant_id)
    return True


def set_password(session: Session, user: User, password: str, actor: str) -> None:
    """A new password (the reset link's form, or the user's own): at least 10 characters."""
    if len(password or "") < 10:
        refuse({"password": "at least 10 characters"})
    user.password_hash = hash_password(password)
    if user.email_verified_at is None:  # the reset link reached the address: it is the user's
        user.email_verified_at = utcnow()
    audit.record(session, actor, "user.password", "user", user.id, user.tenant_id)
