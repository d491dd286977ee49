"""Tenants as a tree (operators and resellers): create, suspend or enable at once at the SIP edge, add credit,
and use a tenant's account (masquerade), audited both ways."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, session, url_for

from controlplane.errors import Conflict, DomainError, Invalid
from controlplane.models import Plan, Status, Tenant, TenantKind
from controlplane.services import audit, ledger, tenants
from controlplane.services.scope import masquerade
from controlplane.web import session as db_session
from controlplane.web.portal.context import AS_TENANT, above_tenants, page
from controlplane.web.portal.forms import ActionForm, CreditForm, TenantForm, apply_errors, submitted

bp = Blueprint("tenants", __name__, url_prefix="/tenants", template_folder="templates")


def tree(rows: list[Tenant], root: int | None) -> list[tuple[int, Tenant]]:
    """(depth, tenant) in tree order, children under their parent, from the tenants the scope sees."""
    seen = {t.id for t in rows}
    children: dict[int | None, list[Tenant]] = {}
    for t in rows:
        parent = t.parent_id if t.parent_id in seen else None
        children.setdefault(parent, []).append(t)
    out: list[tuple[int, Tenant]] = []

    def walk(parent: int | None, depth: int) -> None:
        for t in sorted(children.get(parent, []), key=lambda x: x.name.lower()):
            out.append((depth, t))
            walk(t.id, depth + 1)

    walk(None, 0)
    return out


@bp.route("", methods=["GET", "POST"], endpoint="tree")
@page(above_tenants)
def tree_view():  # noqa: ANN201
    db = db_session.current()
    form = TenantForm()
    form.plan.choices = [("", "(none)")] + [(p.name, p.name) for p in db.query(Plan).order_by(Plan.name)]
    tenant, status = submitted(form, lambda: tenants.create_tenant(
        db, g.scope, name=form.name.data, realm=form.realm.data, kind=TenantKind(form.kind.data),
        plan=form.plan.data or None, postpaid=form.postpaid.data, credit_limit=form.credit_limit.data,
        margin_pct=form.margin_pct.data if form.kind.data == "reseller" else None))
    if tenant is not None:
        flash(f"Tenant {tenant.name} created.", "success")
        return redirect(url_for("portal.tenants.detail", tenant_id=tenant.id))
    rows = tenants.list_tenants(db, g.scope)
    return render_template("portal/tenants.html", rows=tree(rows, g.scope.home), form=form,
                           action=ActionForm()), status


@bp.route("/<int:tenant_id>", methods=["GET", "POST"])
@page(above_tenants)
def detail(tenant_id: int):  # noqa: ANN201
    db = db_session.current()
    tenant = tenants.get_tenant(db, g.scope, tenant_id)
    form = CreditForm()
    if form.validate_on_submit():
        try:
            ledger.add_credit(db, g.scope, tenant, form.amount.data, form.note.data)
        except (Invalid, Conflict) as exc:
            db.rollback()
            apply_errors(form, exc)
        except DomainError as exc:
            db.rollback()
            form.form_errors.append(str(exc))
        else:
            db.commit()
            flash(f"{form.amount.data} {tenant.currency} added to {tenant.name}.", "success")
            return redirect(url_for("portal.tenants.detail", tenant_id=tenant.id))
    entries = ledger.page_ledger(db, g.scope, tenant_id=tenant.id, limit=20).items
    return render_template("portal/tenant.html", tenant=tenant, form=form, entries=entries, action=ActionForm(),
                           chain=tenants.ancestors(db, tenant))


def _set_status(tenant_id: int, status: Status) -> object:
    db = db_session.current()
    if ActionForm().validate_on_submit():
        tenant = tenants.get_tenant(db, g.scope, tenant_id)
        try:
            changed = tenants.set_status(db, g.scope, tenant, status)
            db.commit()
        except DomainError as exc:
            db.rollback()
            flash(str(exc), "error")
        else:
            if changed:
                from controlplane.kamailio.tables import sync

                report = sync(db)  # at once at the edge: registrations of a suspended tenant are kicked
                note = "" if report.ok else " (the SIP edge did not answer: it loads the change when it starts)"
                flash(f"{tenant.name} is {'enabled' if status == Status.ACTIVE else 'suspended'}{note}.", "success")
    return redirect(url_for("portal.tenants.detail", tenant_id=tenant_id))


@bp.post("/<int:tenant_id>/suspend")
@page(above_tenants)
def suspend(tenant_id: int):  # noqa: ANN201
    return _set_status(tenant_id, Status.DISABLED)


@bp.post("/<int:tenant_id>/enable")
@page(above_tenants)
def enable(tenant_id: int):  # noqa: ANN201
    return _set_status(tenant_id, Status.ACTIVE)


@bp.post("/<int:tenant_id>/use")
@page(above_tenants)
def use_account(tenant_id: int):  # noqa: ANN201
    """Masquerade: act as the tenant's administrator until "Back to my account"."""
    db = db_session.current()
    if ActionForm().validate_on_submit():
        tenant = tenants.get_tenant(db, g.scope, tenant_id)
        try:
            acting = masquerade(db, g.real_scope, tenant)
        except DomainError as exc:
            flash(str(exc), "error")
            return redirect(url_for("portal.tenants.detail", tenant_id=tenant_id))
        audit.record(db, g.real_scope.actor, "user.masquerade", "tenant", tenant.id, tenant.id,
                     {"as": acting.actor})
        db.commit()
        session[AS_TENANT] = tenant.id
    return redirect(url_for("portal.home.dashboard"))


@bp.post("/back")
@page()
def stop_masquerade():  # noqa: ANN201
    db = db_session.current()
    tenant_id = session.get(AS_TENANT)
    if tenant_id is not None and ActionForm().validate_on_submit():
        session.pop(AS_TENANT, None)
        audit.record(db, g.real_scope.actor, "user.masquerade_end", "tenant", tenant_id, tenant_id)
        db.commit()
    back = url_for("portal.tenants.detail", tenant_id=tenant_id) if tenant_id else url_for("portal.home.dashboard")
    return redirect(back)
