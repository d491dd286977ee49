"""Credit and payment history: the ledger the scope sees, each row with its reference (the support tracking id)."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from controlplane.models import Tenant
from controlplane.services import ledger
from controlplane.web import session as db_session
from controlplane.web.portal.context import manages, page

bp = Blueprint("credit", __name__, url_prefix="/credit", template_folder="templates")


@bp.get("")
@page(manages)
def history():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    tenant_id = request.args.get("tenant_id", type=int)
    rows = ledger.page_ledger(db, scope, tenant_id=tenant_id or (scope.home if scope.role.value == "CLIENT" else None),
                              limit=100).items
    names = {t.id: t.name for t in db.query(Tenant).filter(Tenant.id.in_({r.tenant_id for r in rows}))} if rows else {}
    own = db.get(Tenant, scope.home) if scope.home else None
    return render_template("portal/credit.html", rows=rows, names=names, own=own)
