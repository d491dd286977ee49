"""Rates: the tenant's own sheet (searchable by destination or prefix) and the public plan comparison."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from controlplane.models import Tenant
from controlplane.services import rate_sheets
from controlplane.web import session as db_session
from controlplane.web.portal.context import page

bp = Blueprint("rates", __name__, template_folder="templates")


@bp.get("/rates")
@page()
def my_rates():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    tenant = db.get(Tenant, scope.home) if scope.home else None
    q = request.args.get("q", "")
    rows = rate_sheets.tenant_sheet(db, scope, tenant, q) if tenant is not None and tenant.plan_id else []
    return render_template("portal/rates.html", tenant=tenant, rows=rows, q=q)


@bp.get("/plans")
def plans():  # noqa: ANN201
    """Public: the operator's plans side by side (no login)."""
    q = request.args.get("q", "")
    return render_template("portal/plans.html", comparison=rate_sheets.compare_plans(db_session.current(), q), q=q)
