"""The portal's forms (Flask-WTF: every one carries the session's CSRF token). Field rules the services
enforce are not repeated here; a service's field errors are put back on the form (`apply_errors`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from controlplane.errors import Conflict, Invalid
from controlplane.web import session as db_session

T = TypeVar("T")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class SignupForm(FlaskForm):
    company = StringField("Company or name", validators=[DataRequired(), Length(max=100)])
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password (at least 10 characters)", validators=[DataRequired()])


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])


class ResetForm(FlaskForm):
    password = PasswordField("New password (at least 10 characters)", validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A button that changes something (suspend, enable, hang up, use account): only its CSRF token."""


class TenantForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=128)])
    realm = StringField("SIP realm (domain)", validators=[DataRequired(), Length(max=190)])
    kind = SelectField("Kind", choices=[("client", "Client"), ("reseller", "Reseller")], default="client")
    plan = SelectField("Plan", choices=[], validate_choice=False)
    margin_pct = DecimalField("Reseller margin %", validators=[Optional()], places=None)
    postpaid = BooleanField("Postpaid")
    credit_limit = DecimalField("Credit limit", validators=[Optional()], places=None)


class AccountForm(FlaskForm):
    tenant_id = SelectField("Tenant", coerce=int, validate_choice=False)
    kind = SelectField("Kind", choices=[("account", "SIP account (a phone registers)"),
                                        ("trunk", "Customer trunk (calls from an address)")], default="account")
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    source_ip = StringField("Trunk's address (customer trunks)", validators=[Optional(), Length(max=64)])
    caller_id_number = StringField("Caller ID number", validators=[Optional(), Length(max=32)])
    caller_id_name = StringField("Caller ID name", validators=[Optional(), Length(max=64)])
    max_concurrent_calls = IntegerField("Concurrent calls (empty: the tenant's limit)", validators=[Optional()])
    webphone_enabled = BooleanField("Web phone enabled", default=True)


class CreditForm(FlaskForm):
    amount = DecimalField("Amount", validators=[DataRequired()], places=None)
    note = StringField("Note", validators=[DataRequired(), Length(max=255)])


def submitted(form: FlaskForm, create: Callable[[], T]) -> tuple[T | None, int]:
    """A create form's submission: `create()` (a service call) committed, and (its result, 200); refused, the
    service's field errors on the form, nothing kept, and (None, 400); not submitted (or not valid): (None, 200)."""
    if not form.validate_on_submit():
        return None, 200
    db = db_session.current()
    try:
        created = create()
    except (Invalid, Conflict) as exc:
        db.rollback()
        apply_errors(form, exc)
        return None, 400
    db.commit()
    return created, 200


def apply_errors(form: FlaskForm, exc: Invalid | Conflict) -> None:
    """A service's field errors onto the form's fields (others to the form itself)."""
    errors = exc.errors if isinstance(exc.errors, dict) else {"form": "; ".join(exc.errors)}
    for name, message in errors.items():
        field = getattr(form, name, None)
        messages = message if isinstance(message, list) else [message]
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or ()), *messages]
        else:
            form.form_errors.extend(messages)
