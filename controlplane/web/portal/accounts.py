"""SIP accounts and customer trunks within the tenant's limit: the generated password is shown once, then only
its HA1 is kept; enable, disable, reset the password."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from controlplane.errors import Conflict, DomainError, Invalid
from controlplane.models import SipAccountKind, Status
from controlplane.services import accounts, tenants
from controlplane.web import session as db_session
from controlplane.web.portal.context import manages, page
from controlplane.web.portal.forms import AccountForm, ActionForm, apply_errors

bp = Blueprint("accounts", __name__, url_prefix="/sip-accounts", template_folder="templates")


@bp.route("", methods=["GET", "POST"])
@page(manages)
def list_accounts():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    own = [t for t in tenants.list_tenants(db, scope) if t.realm]
    form = AccountForm()
    form.tenant_id.choices = [(t.id, t.name) for t in own]
    if scope.home is not None and request.method == "GET":
        form.tenant_id.data = scope.home
    created, status = None, 200
    if form.validate_on_submit():
        try:
            tenant = tenants.get_tenant(db, scope, form.tenant_id.data or scope.home or 0)
            created = accounts.create_sip_account(
                db, scope, tenant, form.username.data.strip(), kind=SipAccountKind(form.kind.data),
                source_ip=form.source_ip.data or None, caller_id_name=form.caller_id_name.data or None,
                caller_id_number=form.caller_id_number.data or None)
            changes = {"webphone_enabled": form.webphone_enabled.data}
            if form.max_concurrent_calls.data is not None:
                changes["max_concurrent_calls"] = form.max_concurrent_calls.data
            accounts.update_account(db, scope, created.account, changes)
        except (Invalid, Conflict) as exc:
            db.rollback()
            apply_errors(form, exc)
            created, status = None, 400
        else:
            db.commit()
            form = AccountForm(formdata=None)
            form.tenant_id.choices = [(t.id, t.name) for t in own]
    tenant_filter = request.args.get("tenant_id", type=int)
    rows = accounts.page_accounts(db, scope, tenant_id=tenant_filter, search=request.args.get("q") or None,
                                  limit=200).items
    names = {t.id: t.name for t in tenants.list_tenants(db, scope)}
    return render_template("portal/accounts.html", rows=rows, form=form, created=created, names=names,
                           action=ActionForm()), status


def _change(account_id: int, do) -> object:  # noqa: ANN001
    db = db_session.current()
    if ActionForm().validate_on_submit():
        try:
            result = do(db, accounts.get_account(db, g.scope, account_id))
            db.commit()
        except DomainError as exc:
            db.rollback()
            flash(str(exc), "error")
            return redirect(url_for("portal.accounts.list_accounts"))
        from controlplane.kamailio.tables import sync

        sync(db)  # the edge's subscriber table follows at once
        return result
    return redirect(url_for("portal.accounts.list_accounts"))


@bp.post("/<int:account_id>/disable")
@page(manages)
def disable(account_id: int):  # noqa: ANN201
    _change(account_id, lambda db, a: accounts.set_account_status(db, g.scope, a, Status.DISABLED))
    return redirect(url_for("portal.accounts.list_accounts"))


@bp.post("/<int:account_id>/enable")
@page(manages)
def enable(account_id: int):  # noqa: ANN201
    _change(account_id, lambda db, a: accounts.set_account_status(db, g.scope, a, Status.ACTIVE))
    return redirect(url_for("portal.accounts.list_accounts"))


@bp.post("/<int:account_id>/password")
@page(manages)
def new_password(account_id: int):  # noqa: ANN201
    secret = _change(account_id, lambda db, a: (a, accounts.reset_password(db, g.scope, a)))
    if isinstance(secret, tuple):
        account, password = secret
        flash(f"New password for {account.username} (shown this once): {password}", "success")
    return redirect(url_for("portal.accounts.list_accounts"))
