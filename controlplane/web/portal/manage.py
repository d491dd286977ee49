"""Pages for those who manage a part of the tree: the audit log with filters, users and their roles, the quote
(the dry run) as a form, and reports with charts (by day, month, destination, account, tenant, carrier trunk;
failed calls by SIP code)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from controlplane.errors import Conflict, DomainError, Invalid, NotFound
from controlplane.models import TenantRole
from controlplane.services import audit, cdr_reports, tenants, users
from controlplane.services.cdr_reports import CdrFilter
from controlplane.services.pricing import scoped_quote
from controlplane.web import session as db_session
from controlplane.web.portal.context import manages, page
from controlplane.web.portal.forms import ActionForm, apply_errors

bp = Blueprint("manage", __name__, template_folder="templates")


def _day(name: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(request.args[name]) if request.args.get(name) else None
    except ValueError:
        return None


@bp.get("/audit")
@page(manages)
def audit_log():  # noqa: ANN201
    args = {k: request.args.get(k) or None for k in ("actor", "entity", "entity_id", "action")}
    until = _day("until")
    rows = audit.page_audit(db_session.current(), g.scope, since=_day("since"),
                            until=until + dt.timedelta(days=1) if until else None, limit=100, **args).items
    return render_template("portal/audit.html", rows=rows, args=request.args)


class UserForm(FlaskForm):
    tenant_id = SelectField("Tenant", coerce=int, validate_choice=False)
    email = EmailField("Email", validators=[DataRequired(), Length(max=190)])
    tenant_role = SelectField("Role in the tenant", choices=[("admin", "Administrator"),
                                                             ("user", "User of one SIP account")])
    sip_account_id = IntegerField("SIP account id (a user's own)", validators=[Optional()])


@bp.route("/users", methods=["GET", "POST"])
@page(manages)
def user_list():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    form = UserForm()
    form.tenant_id.choices = [(t.id, t.name) for t in tenants.list_tenants(db, scope)]
    created, status = None, 200
    if form.validate_on_submit():
        try:
            tenant = tenants.get_tenant(db, scope, form.tenant_id.data or 0)
            created = users.create_user(db, scope, tenant, form.email.data,
                                        tenant_role=TenantRole(form.tenant_role.data),
                                        sip_account_id=form.sip_account_id.data)
        except (Invalid, Conflict) as exc:
            db.rollback()
            apply_errors(form, exc)
            status = 400
        except DomainError as exc:
            db.rollback()
            form.form_errors.append(str(exc))
            status = 403 if not isinstance(exc, NotFound) else 404
        else:
            db.commit()
    rows = users.page_users(db, scope, limit=200).items
    names = {t.id: t.name for t in tenants.list_tenants(db, scope)}
    return render_template("portal/users.html", rows=rows, form=form, created=created, names=names,
                           action=ActionForm()), status


@bp.post("/users/<int:user_id>/<any(enable, disable):verb>")
@page(manages)
def user_status(user_id: int, verb: str):  # noqa: ANN201
    db = db_session.current()
    if ActionForm().validate_on_submit():
        try:
            users.set_active(db, g.scope, users.get_user(db, g.scope, user_id), verb == "enable")
            db.commit()
        except DomainError as exc:
            db.rollback()
            flash(str(exc), "error")
    return redirect(url_for("portal.manage.user_list"))


class QuoteForm(FlaskForm):
    class Meta:
        csrf = False  # a read: the form is sent with GET

    tenant_id = SelectField("Tenant", coerce=int, validate_choice=False)
    number = StringField("Number", validators=[DataRequired(), Length(max=64)])
    billsec = IntegerField("Answered seconds", default=60, validators=[NumberRange(0, 86400)])


@bp.get("/quote")
@page(manages)
def quote():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    form = QuoteForm(request.args)
    form.tenant_id.choices = [(t.id, t.name) for t in tenants.list_tenants(db, scope) if t.realm]
    result, error = None, None
    if request.args.get("number") and form.validate():
        try:
            result = scoped_quote(db, scope, form.tenant_id.data, form.number.data, form.billsec.data)
        except DomainError as exc:
            error = str(exc)
    return render_template("portal/quote.html", form=form, result=result, error=error)


REPORTS = {"day": "Per day", "month": "Per month", "destination": "Per destination", "account": "Per SIP account",
           "tenant": "Per tenant", "trunk": "Per carrier trunk", "failed": "Failed calls by SIP code"}


@bp.get("/reports")
@page(manages)
def reports():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    by = request.args.get("by", "day")
    if by not in REPORTS or (by == "trunk" and not scope.everything):
        by = "day"
    until = _day("until")
    flt = CdrFilter(since=_day("since") or dt.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
                    - dt.timedelta(days=29), until=until + dt.timedelta(days=1) if until else None)
    if by == "failed":
        rows = [r for r in cdr_reports.summary(db, scope, flt, "sip_code") if r.key not in (None, 200)]
    else:
        rows = cdr_reports.summary(db, scope, flt, by)
    reports = {k: v for k, v in REPORTS.items() if k != "trunk" or scope.everything}
    return render_template("portal/reports.html", rows=rows, by=by, reports=reports, args=request.args)
