"""DIDs (assigned from above, routed to an account by the tenant) and offers (unlimited packages granted from
above), on the tenant's page; trunk groups for operators, reordered by dragging (SortableJS from npm)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from controlplane.errors import DomainError
from controlplane.services import accounts, carriers, dids, offers, tenants
from controlplane.web import session as db_session
from controlplane.web.portal.context import is_operator, manages, page
from controlplane.web.portal.forms import ActionForm

bp = Blueprint("numbers", __name__, template_folder="templates")


def _done(ok_message: str | None = None) -> None:
    db_session.current().commit()
    if ok_message:
        flash(ok_message, "success")


@bp.route("/dids", methods=["GET", "POST"])
@page(manages)
def did_list():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    if request.method == "POST" and ActionForm().validate_on_submit():
        try:
            if request.form.get("op") == "add":
                tenant = tenants.get_tenant(db, scope, int(request.form.get("tenant_id") or 0))
                dids.add_did(db, scope, tenant, request.form.get("number", ""))
                _done("Number assigned.")
            elif request.form.get("op") == "route":
                did = dids.get_did(db, scope, int(request.form.get("did_id") or 0))
                target = request.form.get("account_id")
                dids.route_did(db, scope, did, int(target) if target else None)
                _done("Number routed.")
            elif request.form.get("op") == "release":
                dids.release_did(db, scope, dids.get_did(db, scope, int(request.form.get("did_id") or 0)))
                _done("Number released.")
        except (DomainError, ValueError) as exc:
            db.rollback()
            flash(str(exc), "error")
        return redirect(url_for("portal.numbers.did_list"))
    rows = dids.page_dids(db, scope, limit=200).items
    own = accounts.page_accounts(db, scope, limit=500).items
    visible = tenants.list_tenants(db, scope)
    below = [t for t in visible if t.id != scope.home or scope.everything]  # numbers are assigned from above
    return render_template("portal/dids.html", rows=rows, accounts=own, action=ActionForm(), tenants=below,
                           names={t.id: t.name for t in visible})


@bp.route("/tenants/<int:tenant_id>/offers", methods=["GET", "POST"])
@page(manages)
def offer_list(tenant_id: int):  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    tenant = tenants.get_tenant(db, scope, tenant_id)
    if request.method == "POST" and ActionForm().validate_on_submit():
        try:
            if request.form.get("op") == "end":
                offers.end(db, scope, int(request.form.get("offer_id") or 0))
            else:
                offers.grant(db, scope, tenant, name=request.form.get("name", ""),
                             prefix=request.form.get("prefix", ""), days=int(request.form.get("days") or 0))
            _done()
        except (DomainError, ValueError) as exc:
            db.rollback()
            flash(str(exc), "error")
        return redirect(url_for("portal.numbers.offer_list", tenant_id=tenant_id))
    return render_template("portal/offers.html", tenant=tenant, rows=offers.list_offers(db, scope, tenant),
                           action=ActionForm())


@bp.route("/trunk-groups", methods=["GET", "POST"])
@page(is_operator)
def group_list():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    if request.method == "POST" and ActionForm().validate_on_submit():
        names = [n for n in request.form.getlist("trunks") if n]
        try:
            if request.form.get("group_id"):
                group = carriers.get_trunk_group(db, scope, int(request.form["group_id"]))
                carriers.update_trunk_group(db, scope, group, names)
            else:
                carriers.create_trunk_group(db, scope, request.form.get("name", ""), names)
            _done("Trunk group saved.")
        except (DomainError, ValueError) as exc:
            db.rollback()
            flash(str(exc), "error")
        return redirect(url_for("portal.numbers.group_list"))
    trunks = [t for c in carriers.list_carriers(db, scope) for t in c.trunks]
    return render_template("portal/trunk_groups.html", rows=carriers.list_trunk_groups(db, scope), trunks=trunks,
                           by_id={t.id: t for t in trunks}, action=ActionForm())
