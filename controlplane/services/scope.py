"""Who is asking, and which part of the tenant tree they may see: the one place tenant isolation lives.

Every service that lists, fetches, counts, searches or exports tenant-owned objects takes a Scope and
narrows its query with `scope.restrict(...)` or checks one object with `scope.require(...)`. An object
outside the scope is NotFound with the same message as a missing one, so nothing tells the two apart.

- SUPERADMIN / ADMIN (and the CLI, `Scope.operator()`): every tenant (`tenant_ids is None`).
- RESELLER: its own tenant and every tenant below it.
- CLIENT: its own tenant; a tenant's normal user (not its admin) only its own objects (`user_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from controlplane.errors import Forbidden, NotFound
from controlplane.models import Role, Tenant, TenantKind, TenantRole, User

T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    actor: str  # what the audit log records: "cli", "user:12", "apikey:3", "system"
    role: Role
    tenant_ids: frozenset[int] | None  # None: every tenant
    user_id: int | None = None  # set for a tenant's normal user: it sees its own objects only
    account_id: int | None = None  # that user's own SIP account (its calls are the CDRs it sees)
    home: int | None = None  # the actor's own tenant (a reseller's root, a client's tenant); None for operators
    acting_user: int | None = None  # the user behind the request (a portal user, an API key's owner)

    @classmethod
    def operator(cls, actor: str = "cli") -> Scope:
        """The operator's view: the CLI, jobs and the controller act on the whole tree."""
        return cls(actor=actor, role=Role.SUPERADMIN, tenant_ids=None)

    @property
    def everything(self) -> bool:
        return self.tenant_ids is None

    def sees(self, tenant_id: int | None) -> bool:
        """May this scope see an object of `tenant_id` (None: an operator-wide object, operators only)?"""
        if self.tenant_ids is None:
            return True
        return tenant_id is not None and tenant_id in self.tenant_ids

    def restrict(self, stmt: Select, tenant_column: ColumnElement) -> Select:
        """`stmt` narrowed to this scope's tenants (unchanged for the operator)."""
        if self.tenant_ids is None:
            return stmt
        return stmt.where(tenant_column.in_(sorted(self.tenant_ids)))

    def require(self, obj: T | None, tenant_id: int | None, what: str) -> T:
        """`obj` when it exists and this scope sees it; NotFound (`what` not found) otherwise."""
        if obj is None or not self.sees(tenant_id):
            raise NotFound(f"{what} not found")
        return obj

    def restrict_account(self, stmt: Select, account_column: ColumnElement) -> Select:
        """`stmt` narrowed to the normal user's own SIP account (unchanged for everyone else)."""
        if self.user_id is None:
            return stmt
        return stmt.where(account_column == self.account_id)

    def require_manager(self, obj: T | None, tenant_id: int | None, what: str) -> T:
        """As `require`, and the caller may change the tenant's objects (a tenant's normal user may not)."""
        found = self.require(obj, tenant_id, what)
        if self.user_id is not None:
            raise Forbidden(f"only the tenant's administrators may change {what}")
        return found

    def require_above(self, obj: T | None, tenant_id: int | None, what: str, why: str) -> T:
        """As `require`, and the caller stands above the tenant: the operator, or a reseller above it, never a
        client and never a reseller on its own tenant (Forbidden `why`). Credit, numbers, offers and a tenant's
        terms and status come from above."""
        found = self.require(obj, tenant_id, what)
        if self.role == Role.CLIENT or tenant_id == self.home:
            raise Forbidden(why)
        return found

    def require_operator(self, what: str) -> None:
        """Operator-wide objects (carriers, media nodes, rate decks, plans) are changed by operators only."""
        if self.tenant_ids is not None:
            raise Forbidden(f"{what}: operators only")


def subtree(session: Session, root_id: int) -> frozenset[int]:
    """`root_id` and every tenant below it (breadth first over parent_id; a cycle cannot loop)."""
    found = {root_id}
    frontier = [root_id]
    while frontier:
        children = session.scalars(select(Tenant.id).where(Tenant.parent_id.in_(frontier))).all()
        frontier = [c for c in children if c not in found]
        found.update(frontier)
    return frozenset(found)


def for_user(session: Session, user: User, actor: str | None = None) -> Scope:
    """The scope of a portal user, or of an API key acting as its owner (`actor` then names the key)."""
    actor = actor or f"user:{user.id}"
    if user.role in (Role.SUPERADMIN, Role.ADMIN):
        return Scope(actor=actor, role=user.role, tenant_ids=None, acting_user=user.id)
    if user.role == Role.RESELLER:
        return Scope(actor=actor, role=user.role, tenant_ids=subtree(session, user.tenant_id), home=user.tenant_id,
                     acting_user=user.id)
    own = None if user.tenant_role == TenantRole.ADMIN else user.id
    return Scope(actor=actor, role=user.role, tenant_ids=frozenset({user.tenant_id}), user_id=own,
                 account_id=user.sip_account_id if own else None, home=user.tenant_id, acting_user=user.id)


def masquerade(session: Session, real: Scope, tenant: Tenant) -> Scope:
    """`real` (an operator, or a reseller above `tenant`) acting as `tenant`'s administrator would: what that
    tenant's admin sees and may do, nothing more. The actor names both, so every write of the masquerade is
    audited as the real user's. A client, or a reseller on its own tenant, may not."""
    real.require_above(tenant, tenant.id, f"tenant {tenant.id}", "only an operator or a reseller above a tenant "
                       "may use its account")
    if tenant.kind == TenantKind.OPERATOR:
        raise Forbidden("the operator's own tenant is not a customer account")
    role = Role.RESELLER if tenant.kind == TenantKind.RESELLER else Role.CLIENT
    ids = subtree(session, tenant.id) if role == Role.RESELLER else frozenset({tenant.id})
    return Scope(actor=f"{real.actor}@tenant:{tenant.id}", role=role, tenant_ids=ids, home=tenant.id,
                 acting_user=real.acting_user)
