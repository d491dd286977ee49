"""Customer SIP accounts: the password is turned into Kamailio's HA1 pair and then forgotten."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.errors import Conflict, Invalid, NotFound, refuse
from controlplane.models import SipAccount, SipAccountKind, Status, Tenant
from controlplane.services import audit
from controlplane.services.listing import Page, keyset
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
    scope: Scope,
    tenant: Tenant,
    username: str,
    password: str | None = None,
    *,
    kind: SipAccountKind = SipAccountKind.ACCOUNT,
    source_ip: str | None = None,
    caller_id_name: str | None = None,
    caller_id_number: str | None = None,
) -> CreatedAccount:
    scope.require_manager(tenant, tenant.id, f"tenant {tenant.name!r}")
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    if tenant.realm is None:
        errors["tenant"] = f"tenant {tenant.name!r} has no SIP realm"
    if not USERNAME.match(username or ""):
        errors["username"] = "1 to 64 of letters, digits and _ . + -"
    elif session.scalar(
        select(SipAccount.id).where(SipAccount.tenant_id == tenant.id, SipAccount.username == username)
    ):
        conflicts["username"] = f"{username!r} exists already in this tenant"
    if password is not None and len(password) < 8:
        errors["password"] = "at least 8 characters"
    if kind == SipAccountKind.TRUNK and not source_ip:
        errors["source_ip"] = "a customer trunk needs the address it calls from"
    if tenant.max_sip_accounts is not None:
        count = session.scalar(select(func.count()).where(SipAccount.tenant_id == tenant.id))
        if count >= tenant.max_sip_accounts:
            errors["tenant"] = f"tenant allows at most {tenant.max_sip_accounts} SIP accounts"
    refuse(errors, conflicts)
    generated = password is None
    secret = generate_password() if generated else password
    account = SipAccount(
        tenant_id=tenant.id, username=username, kind=kind, source_ip=source_ip,
        ha1=ha1(username, tenant.realm, secret), ha1b=ha1b(username, tenant.realm, secret),
        caller_id_name=caller_id_name, caller_id_number=caller_id_number,
    )
    session.add(account)
    session.flush()
    audit.record(session, scope.actor, "sip_account.create", "sip_account", account.id, tenant.id,
                 {"username": username, "kind": kind.value})
    return CreatedAccount(account, secret if generated else None)


def _visible(scope: Scope):  # noqa: ANN202 - a Select
    return scope.restrict_account(scope.restrict(select(SipAccount), SipAccount.tenant_id), SipAccount.id)


def get_account(session: Session, scope: Scope, account_id: int) -> SipAccount:
    """SIP account `account_id`, if `scope` sees it (a tenant's normal user: only its own)."""
    account = session.scalar(_visible(scope).where(SipAccount.id == account_id))
    if account is None:
        raise NotFound(f"SIP account {account_id} not found")
    return account


def page_accounts(session: Session, scope: Scope, *, tenant_id: int | None = None,
                  kind: SipAccountKind | None = None, status: Status | None = None, search: str | None = None,
                  after: int | None = None, limit: int = 50) -> Page[SipAccount]:
    stmt = _visible(scope)
    if tenant_id is not None:
        stmt = stmt.where(SipAccount.tenant_id == tenant_id)
    if kind is not None:
        stmt = stmt.where(SipAccount.kind == kind)
    if status is not None:
        stmt = stmt.where(SipAccount.status == status)
    if search:
        stmt = stmt.where(SipAccount.username.like(f"%{search}%"))
    return keyset(session, stmt, SipAccount.id, after=after, limit=limit)


UPDATABLE = ("caller_id_name", "caller_id_number", "codecs", "nat_mode", "max_concurrent_calls", "strip_prefix",
             "add_prefix", "record_calls", "webphone_enabled", "restricted_prefixes", "callerid_allow",
             "callerid_deny")


def update_account(session: Session, scope: Scope, account: SipAccount, changes: dict) -> SipAccount:
    """Change the given fields (the tenant's admins only); audited with before and after."""
    scope.require_manager(account, account.tenant_id, f"SIP account {account.id}")
    errors = {field: "cannot be changed" for field in changes if field not in UPDATABLE}
    for field in ("strip_prefix", "add_prefix"):
        if changes.get(field) and not str(changes[field]).isdigit():
            errors[field] = "digits only"
    limit = changes.get("max_concurrent_calls")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        errors["max_concurrent_calls"] = "a whole number, not negative"
    if errors:
        raise Invalid(errors)
    before = {f: getattr(account, f) for f in changes}
    for field, value in changes.items():
        setattr(account, field, "" if value is None and field in ("strip_prefix", "add_prefix") else value)
    session.flush()
    audit.record(session, scope.actor, "sip_account.update", "sip_account", account.id, account.tenant_id,
                 {"before": before, "after": dict(changes)})
    return account


def set_account_status(session: Session, scope: Scope, account: SipAccount, status: Status) -> bool:
    """Enable or disable; whether it changed. The caller then syncs the SIP edge and kicks registrations."""
    scope.require_manager(account, account.tenant_id, f"SIP account {account.id}")
    if account.status == status:
        return False
    before, account.status = account.status, status
    session.flush()
    audit.record(session, scope.actor, "sip_account.enable" if status == Status.ACTIVE else "sip_account.disable",
                 "sip_account", account.id, account.tenant_id,
                 {"before": {"status": before.value}, "after": {"status": status.value}})
    return True


def convert(session: Session, scope: Scope, account: SipAccount, kind: SipAccountKind,
            source_ip: str | None = None) -> str | None:
    """Turn a digest account into a customer trunk (it then calls from `source_ip`) or back.

    Back to a digest account, a new password is generated and returned (shown once): the trunk had none in use.
    """
    scope.require_manager(account, account.tenant_id, f"SIP account {account.id}")
    if kind == account.kind:
        raise Invalid({"kind": f"already a {kind.value}"})
    password = None
    if kind == SipAccountKind.TRUNK:
        if not source_ip:
            raise Invalid({"source_ip": "a customer trunk needs the address it calls from"})
        account.source_ip = source_ip
    else:
        password = generate_password()
        realm = account.tenant.realm
        account.ha1, account.ha1b = ha1(account.username, realm, password), ha1b(account.username, realm, password)
        account.source_ip = None
    before, account.kind = account.kind, kind
    session.flush()
    audit.record(session, scope.actor, "sip_account.convert", "sip_account", account.id, account.tenant_id,
                 {"before": {"kind": before.value}, "after": {"kind": kind.value, "source_ip": account.source_ip}})
    return password


def reset_password(session: Session, scope: Scope, account: SipAccount) -> str:
    """A new generated password, shown once; Kamailio keeps only the HA1 pair."""
    scope.require_manager(account, account.tenant_id, f"SIP account {account.id}")
    if account.kind != SipAccountKind.ACCOUNT:
        raise Invalid({"kind": "a customer trunk authenticates by address, not by password"})
    password = generate_password()
    realm = account.tenant.realm
    account.ha1, account.ha1b = ha1(account.username, realm, password), ha1b(account.username, realm, password)
    session.flush()
    audit.record(session, scope.actor, "sip_account.password", "sip_account", account.id, account.tenant_id)
    return password


BULK_COLUMNS = ("username", "password", "caller_id_name", "caller_id_number", "source_ip")
BULK_MAX = 5000


def create_many(session: Session, scope: Scope, tenant: Tenant, csv_text: str) -> list[CreatedAccount]:
    """SIP accounts from a CSV with a header naming any of BULK_COLUMNS (username required; a row with a
    `source_ip` is a customer trunk). All or nothing: every bad line is reported by its number, and then none is
    created (the caller does not commit). Passwords left empty are generated and returned once."""
    scope.require_manager(tenant, tenant.id, f"tenant {tenant.name!r}")
    rows = list(csv.reader(io.StringIO(csv_text)))
    if not rows or "username" not in [c.strip().lower() for c in rows[0]]:
        raise Invalid({"body": f"a CSV whose header names username (and any of {', '.join(BULK_COLUMNS[1:])})"})
    header = [c.strip().lower() for c in rows[0]]
    unknown = sorted(set(header) - set(BULK_COLUMNS))
    if unknown:
        raise Invalid({"body": f"unknown column(s): {', '.join(unknown)}"})
    if len(rows) - 1 > BULK_MAX:
        raise Invalid({"body": f"at most {BULK_MAX} accounts per file"})
    made: list[CreatedAccount] = []
    errors: list[str] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            errors.append(f"line {number}: expected {len(header)} columns, found {len(cells)}")
            continue
        row = {k: (v.strip() or None) for k, v in zip(header, cells, strict=True)}
        try:
            with session.begin_nested():  # a refused line leaves nothing behind
                made.append(create_sip_account(
                    session, scope, tenant, row.get("username") or "", row.get("password"),
                    kind=SipAccountKind.TRUNK if row.get("source_ip") else SipAccountKind.ACCOUNT,
                    source_ip=row.get("source_ip"), caller_id_name=row.get("caller_id_name"),
                    caller_id_number=row.get("caller_id_number")))
        except (Invalid, Conflict) as exc:
            detail = exc.errors if isinstance(exc.errors, dict) else {"line": "; ".join(exc.errors)}
            errors.extend(f"line {number}: {field}: {reason}" for field, reason in detail.items())
    if errors:
        raise Invalid(errors, f"{len(errors)} bad line(s); no account created")
    return made


def webphone_accounts(session: Session, scope: Scope) -> list[SipAccount]:
    """The SIP accounts the scope may use from the browser dialer: its tenant's (a normal user: its own), active,
    web phone enabled, never a customer trunk (it has no registration). Operators and resellers get none here:
    they phone as a tenant by using its account."""
    if scope.role.value != "CLIENT":
        return []
    stmt = _visible(scope).where(SipAccount.webphone_enabled.is_(True), SipAccount.status == Status.ACTIVE,
                                 SipAccount.kind == SipAccountKind.ACCOUNT)
    return list(session.scalars(stmt.order_by(SipAccount.username)))
