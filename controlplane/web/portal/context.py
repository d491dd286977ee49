"""What every portal page knows: who is logged in, as which Scope (a masquerade applied), and which pages the
role may see. A page a role may not use is left out of the navigation and answers 404 to it, like an object
outside the scope."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, abort, g, session
from flask_login import current_user, login_required

from controlplane.errors import DomainError
from controlplane.models import Role, Tenant
from controlplane.services.scope import Scope, for_user, masquerade
from controlplane.web import session as db_session

AS_TENANT = "as_tenant"  # the session key of a masquerade: the tenant the user acts as


def portal_scope() -> Scope:
    """The logged-in user's Scope, or the tenant's it masquerades as (dropped if no longer allowed)."""
    if "portal_scope" in g:
        return g.portal_scope
    db = db_session.current()
    scope = for_user(db, current_user.user)
    tenant_id = session.get(AS_TENANT)
    g.real_scope = scope
    g.as_tenant = None
    if tenant_id is not None:
        tenant = db.get(Tenant, tenant_id)
        try:
            scope = masquerade(db, scope, tenant) if tenant is not None else scope
            g.as_tenant = tenant
        except DomainError:
            session.pop(AS_TENANT, None)
    g.portal_scope = scope
    return scope


def is_operator(scope: Scope) -> bool:
    return scope.everything


def manages(scope: Scope) -> bool:
    """Operators, resellers and tenant admins: not a tenant's normal user."""
    return scope.user_id is None


def above_tenants(scope: Scope) -> bool:
    """Operators and resellers: those with tenants below them."""
    return scope.role in (Role.SUPERADMIN, Role.ADMIN, Role.RESELLER)


def page(allowed: Callable[[Scope], bool] | None = None) -> Callable:
    """A portal page: login required, the Scope in `g.scope`; a role `allowed` refuses gets 404."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @login_required
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.scope = portal_scope()
            if allowed is not None and not allowed(g.scope):
                abort(404)
            return view(*args, **kwargs)

        wrapper.cp_allowed = allowed  # tests/portal read it to check the navigation against the pages
        return wrapper

    return decorate


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    icon: str
    allowed: Callable[[Scope], bool] | None = None


NAV = (
    NavItem("portal.home.dashboard", "Dashboard", "speedometer2"),
    NavItem("portal.tenants.tree", "Tenants", "diagram-3", above_tenants),
    NavItem("portal.accounts.list_accounts", "SIP accounts", "telephone", manages),
    NavItem("portal.calls.live", "Live calls", "broadcast"),
    NavItem("portal.cdrs.list_cdrs", "Call records", "list-ul"),
    NavItem("portal.credit.history", "Credit", "wallet2", manages),
    NavItem("portal.rates.my_rates", "Rates", "tags"),
    NavItem("portal.manage.reports", "Reports", "bar-chart", manages),
    NavItem("portal.manage.quote", "Quote", "calculator", manages),
    NavItem("portal.manage.user_list", "Users", "people", manages),
    NavItem("portal.manage.audit_log", "Audit log", "journal-text", manages),
    NavItem("portal.operator.carrier_list", "Carriers", "hdd-network", is_operator),
    NavItem("portal.operator.node_list", "Media nodes", "server", is_operator),
    NavItem("portal.operator.deck_list", "Rate decks", "table", is_operator),
    NavItem("portal.operator.plan_list", "Plans", "collection", is_operator),
    NavItem("portal.numbers.group_list", "Trunk groups", "list-ol", is_operator),
    NavItem("portal.numbers.did_list", "Numbers", "hash", manages),
)


def install(app: Flask) -> None:
    @app.before_request
    def _keep_session() -> None:
        session.permanent = True  # PERMANENT_SESSION_LIFETIME from the last request on

    @app.context_processor
    def _portal() -> dict:
        if not current_user.is_authenticated:
            return {"nav": (), "me": None, "as_tenant": None}
        scope = portal_scope()
        return {"nav": [n for n in NAV if n.allowed is None or n.allowed(scope)], "me": current_user.user,
                "as_tenant": g.as_tenant, "scope": scope}
