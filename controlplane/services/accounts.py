"""Customer SIP accounts: the password is turned into Kamailio's HA1 pair and then forgotten."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.errors import Invalid
from controlplane.models import SipAccount, SipAccountKind, Tenant
from controlplane.services import audit
from controlplane.services.scope import Scope

USERNAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
PASSWORD_ALPHABET = string.ascii_letters + string.digits


def ha1(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def ha1b(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}@{realm}:{realm}:{password}".encode()).hexdigest()


def generate_password(length: int = 20) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class CreatedAccount:
    account: SipAccount
    password: str | None  # shown once when the system generated it


def by_username(session: Session, scope: Scope, tenant: Tenant, username: str) -> SipAccount:
    """`username` of `tenant`, if `scope` sees the tenant (NotFound alike otherwise)."""
    account = session.scalar(
        select(SipAccount).where(SipAccount.tenant_id == tenant.id, SipAccount.username == username)
    )
    return scope.require(account, tenant.id, f"SIP account {username!r} in tenant {tenant.name!r}")


def create_sip_account(
    session: Session,
    tenant: Tenant,
    username: str,
    password: str | None = None,
    *,
    kind: SipAccountKind = SipAccountKind.ACCOUNT,
    source_ip: str | None = None,
    caller_id_name: str | None = None,
    caller_id_number: str | None = None,
    actor: str = "system",
) -> CreatedAccount:
    errors: dict[str, str] = {}
    if tenant.realm is None:
        errors["tenant"] = f"tenant {tenant.name!r} has no SIP realm"
    if not USERNAME.match(username or ""):
        errors["username"] = "1 to 64 of letters, digits and _ . + -"
    elif session.scalar(
        select(SipAccount.id).where(SipAccount.tenant_id == tenant.id, SipAccount.username == username)
    ):
        errors["username"] = f"{username!r} exists already in this tenant"
    if password is not None and len(password) < 8:
        errors["password"] = "at least 8 characters"
    if kind == SipAccountKind.TRUNK and not source_ip:
        errors["source_ip"] = "a customer trunk needs the address it calls from"
    if tenant.max_sip_accounts is not None:
        count = session.scalar(select(func.count()).where(SipAccount.tenant_id == tenant.id))
        if count >= tenant.max_sip_accounts:
            errors["tenant"] = f"tenant allows at most {tenant.max_sip_accounts} SIP accounts"
    if errors:
        raise Invalid(errors)
    generated = password is None
    secret = generate_password() if generated else password
    account = SipAccount(
        tenant_id=tenant.id, username=username, kind=kind, source_ip=source_ip,
        ha1=ha1(username, tenant.realm, secret), ha1b=ha1b(username, tenant.realm, secret),
        caller_id_name=caller_id_name, caller_id_number=caller_id_number,
    )
    session.add(account)
    session.flush()
    audit.record(session, actor, "sip_account.create", "sip_account", account.id, tenant.id,
                 {"username": username, "kind": kind.value})
    return CreatedAccount(account, secret if generated else None)
