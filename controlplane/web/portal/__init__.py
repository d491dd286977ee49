"""The portal: server-rendered pages (Jinja, blueprints) for operators, resellers and tenants, over the same
scoped services the REST API calls; nothing is decided here.

Flask-Login keeps the session (expiring after CP_PORTAL_SESSION_MINUTES without a request), Flask-WTF forms
carry CSRF tokens, htmx refreshes parts of pages, Bootstrap lays them out; every browser asset comes from npm
(web-assets/) and is served by this app, never from a CDN.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask, abort, send_from_directory
from flask_login import LoginManager

from controlplane.settings import get_settings

# npm packages whose files the browser may fetch, and the folder each one's served files live in.
ASSETS = {"bootstrap": "dist", "bootstrap-icons": "font", "htmx.org": "dist", "chart.js": "dist",
          "sortablejs": "", "sip.js": "lib", "axe-core": ""}


def init_portal(app: Flask, assets_dir: str) -> None:
    settings = get_settings()
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", dt.timedelta(minutes=settings.portal_session_minutes))
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    login = LoginManager(app)
    login.login_view = "portal.auth.login"
    login.login_message = "Log in to continue."
    login.session_protection = "strong"

    @login.user_loader
    def load_user(user_id: str):  # noqa: ANN202
        from controlplane.models import User
        from controlplane.web import session as db_session

        user = db_session.current().get(User, int(user_id)) if user_id.isdigit() else None
        return PortalUser(user) if user is not None and user.active else None

    root = Path(assets_dir)

    @app.get("/assets/<string:package>/<path:name>")
    def asset(package: str, name: str):  # noqa: ANN202
        if package not in ASSETS:
            abort(404)
        return send_from_directory(root / package / ASSETS[package], name, max_age=86400)

    from flask import Blueprint
    from flask_wtf.csrf import CSRFProtect

    from controlplane.web.portal import (
        accounts,
        auth,
        calls,
        cdrs,
        credit,
        home,
        manage,
        numbers,
        operator,
        phone,
        rates,
        tenants,
    )
    from controlplane.web.portal.context import install

    # Each form checks its own token (FlaskForm); CSRFProtect only gives templates csrf_token(): the API's
    # key-authenticated writes and FreeSWITCH's CDR push carry none.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    CSRFProtect(app)
    install(app)
    portal = Blueprint("portal", __name__)
    for module in (auth, home, tenants, accounts, cdrs, calls, credit, rates, manage, operator, phone, numbers):
        portal.register_blueprint(module.bp)
    app.register_blueprint(portal)


class PortalUser:
    """Flask-Login's view of a User (the model stays free of Flask)."""

    def __init__(self, user) -> None:  # noqa: ANN001 - controlplane.models.User
        self.user = user

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.user.id)
