"""The browser dialer's side of the server: which of the user's SIP accounts may register from the browser, with
what the SIP library needs to authenticate (the HA1 Kamailio checks, never the password, which is not kept)."""

from __future__ import annotations

from flask import Blueprint, g, request

from controlplane.services import accounts
from controlplane.settings import get_settings
from controlplane.web import session as db_session
from controlplane.web.portal.context import page

bp = Blueprint("phone", __name__, url_prefix="/phone", static_folder="static")


def ws_url() -> str:
    settings = get_settings()
    if settings.webphone_ws_url:
        return settings.webphone_ws_url
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
    return f"wss://{host}:{settings.kamailio_wss_port}"


@bp.get("/accounts", endpoint="accounts")
@page()
def accounts_json():  # noqa: ANN201
    rows = accounts.webphone_accounts(db_session.current(), g.scope)
    url = ws_url()
    return {"items": [{"id": a.id, "username": a.username, "realm": a.tenant.realm, "ha1": a.ha1,
                       "caller_id": a.caller_id_number or a.username, "ws_url": url} for a in rows]}
