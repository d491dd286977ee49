"""Logging in and out, sign-up with a mailed confirmation link, and password reset by mail.

Links are signed tokens (itsdangerous, the app's secret) bound to the user's password hash, so a reset link
stops working once used; failed logins are throttled per account and per address (state/login_throttle.py).

A login gets a random id in its session cookie; logging out records that id as ended in Redis (for the session's
lifetime), and a request still carrying it is logged out. The cookie alone cannot end a session: every response
re-sends it (the expiry slides), so a request the page made before "Log out" (a script still loading, an htmx
refresh) answered after it would put the logged-in cookie back. For the same reason static files (a page's
scripts, styles, fonts: dozens of requests still under way when the user clicks) never send the cookie: it
would undo a logout or a "Back to my account" that was answered meanwhile."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

import redis
from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from controlplane.errors import Conflict, Forbidden, Invalid, RateLimited, Unauthorized, Unavailable
from controlplane.mail import send_mail
from controlplane.models import User
from controlplane.services import users
from controlplane.settings import get_settings
from controlplane.state.login_throttle import LoginThrottle
from controlplane.web import session as db_session
from controlplane.web.portal import PortalUser
from controlplane.web.portal.context import AS_TENANT
from controlplane.web.portal.forms import ActionForm, ForgotForm, LoginForm, ResetForm, SignupForm, apply_errors

bp = Blueprint("auth", __name__, template_folder="templates")
LINK_AGE = {"verify": 2 * 86400, "reset": 3600}  # seconds a mailed link stays good
LOGIN_ID = "login_id"  # the session key of a login's random id


class PortalSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but a static file's response leaves the cookie alone."""

    def should_set_cookie(self, app: Flask, session) -> bool:  # noqa: ANN001 - a SessionMixin
        endpoint = request.endpoint or ""
        if endpoint in ("asset", "static") or endpoint.endswith(".static"):
            return False
        return super().should_set_cookie(app, session)


@bp.record_once
def _sessions(state) -> None:  # noqa: ANN001 - a BlueprintSetupState
    state.app.session_interface = PortalSessions()


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2)


def _ended_key(login_id: str) -> str:
    return f"{get_settings().redis_prefix}portal:logged-out:{login_id}"


@bp.before_app_request
def _drop_ended_login() -> None:
    """A cookie of a login that was logged out (put back by a response that was under way) logs in no one."""
    login_id = session.get(LOGIN_ID)
    if login_id and "_user_id" in session and _redis(get_settings().redis_url).exists(_ended_key(login_id)):
        session.clear()


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"portal-{purpose}")


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def link_token(user: User, purpose: str) -> str:
    return _serializer(purpose).dumps([user.id, _fingerprint(user)])


def _user_of(token: str, purpose: str) -> User | None:
    try:
        user_id, fingerprint = _serializer(purpose).loads(token, max_age=LINK_AGE[purpose])
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    user = db_session.current().get(User, user_id)
    return user if user is not None and _fingerprint(user) == fingerprint else None


def _throttle() -> LoginThrottle:
    return LoginThrottle.from_settings(get_settings())


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("portal.home.dashboard"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        db = db_session.current()
        try:
            user = users.log_in(db, form.email.data, form.password.data, request.remote_addr or "", _throttle())
        except RateLimited as exc:
            form.form_errors.append(f"Too many failed logins: try again in {max(1, exc.retry_after // 60)} minute(s).")
            status = 429
        except (Unauthorized, Forbidden) as exc:
            form.form_errors.append(str(exc))
            status = 401
        else:
            db.commit()
            session.clear()
            session[LOGIN_ID] = secrets.token_urlsafe(18)
            login_user(PortalUser(user))
            return redirect(_next_page())
        db.commit()  # the failure's audit row
    return render_template("portal/login.html", form=form, signup=get_settings().signup), status


def _next_page() -> str:
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for("portal.home.dashboard")


@bp.post("/logout")
def logout():  # noqa: ANN201
    if ActionForm().validate_on_submit():
        login_id = session.pop(LOGIN_ID, None)
        if login_id:
            lifetime = int(current_app.permanent_session_lifetime.total_seconds())
            _redis(get_settings().redis_url).set(_ended_key(login_id), "1", ex=max(60, lifetime))
        session.pop(AS_TENANT, None)
        logout_user()
    return redirect(url_for("portal.auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
def signup():  # noqa: ANN201
    settings = get_settings()
    if not settings.signup:
        return render_template("portal/message.html", title="Sign-up", message="Sign-up is closed."), 404
    form = SignupForm()
    if form.validate_on_submit():
        db = db_session.current()
        try:
            user = users.sign_up(db, form.email.data, form.password.data, form.company.data,
                                 _realm_domain(), settings.signup_plan or None)
            link = url_for("portal.auth.verify", token=link_token(user, "verify"), _external=True)
            send_mail(user.email, "Confirm your address",
                      f"Welcome. Confirm your address to log in:\n\n{link}\n\nThe link works for two days.")
        except (Invalid, Conflict) as exc:
            db.rollback()
            apply_errors(form, exc)
        except Unavailable as exc:
            db.rollback()
            form.form_errors.append(f"We could not send the confirmation mail ({exc}); try again later.")
        else:
            db.commit()
            return render_template("portal/message.html", title="Check your mail",
                                   message=f"We sent a link to {user.email}: follow it to confirm your address, "
                                           "then log in.")
    return render_template("portal/signup.html", form=form), 200 if not form.errors else 400


def _realm_domain() -> str:
    return current_app.config.get("SIGNUP_REALM_DOMAIN", "customers.localhost")


@bp.get("/verify/<token>")
def verify(token: str):  # noqa: ANN201
    user = _user_of(token, "verify")
    if user is None:
        return render_template("portal/message.html", title="Link expired",
                               message="This link is not valid (any more). Log in, or sign up again."), 400
    users.confirm_email(db_session.current(), user)
    db_session.current().commit()
    flash("Your address is confirmed: log in.", "success")
    return redirect(url_for("portal.auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():  # noqa: ANN201
    form = ForgotForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        user = db_session.current().query(User).filter_by(email=email).one_or_none()
        if user is not None and user.active:
            link = url_for("portal.auth.reset", token=link_token(user, "reset"), _external=True)
            try:
                send_mail(user.email, "Reset your password",
                          f"Someone asked to reset your password. If it was you, set a new one here:\n\n{link}\n\n"
                          "The link works for an hour and only once.")
            except Unavailable as exc:
                form.form_errors.append(f"We could not send the mail ({exc}); try again later.")
                return render_template("portal/forgot.html", form=form), 503
        # The same answer whether the address is known or not.
        return render_template("portal/message.html", title="Check your mail",
                               message="If an account has this address, a reset link is on its way.")
    return render_template("portal/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):  # noqa: ANN201
    user = _user_of(token, "reset")
    if user is None:
        return render_template("portal/message.html", title="Link expired",
                               message="This reset link is not valid (any more): ask for a new one."), 400
    form = ResetForm()
    if form.validate_on_submit():
        db = db_session.current()
        try:
            users.set_password(db, user, form.password.data, f"user:{user.id}")
        except Invalid as exc:
            apply_errors(form, exc)
        else:
            _throttle().unlock(user.email)
            db.commit()
            flash("Your password is set: log in.", "success")
            return redirect(url_for("portal.auth.login"))
    return render_template("portal/reset.html", form=form)
