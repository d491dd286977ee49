"""The dashboard: the operator's (or a reseller's) day and the platform's health, or a tenant's own."""

from __future__ import annotations

import time

from flask import Blueprint, g, render_template
from sqlalchemy import text

from controlplane.models import Tenant
from controlplane.models.base import utcnow
from controlplane.services import call_control, dashboards
from controlplane.state.live_calls import LiveCalls
from controlplane.web import session as db_session
from controlplane.web.portal.context import above_tenants, page

bp = Blueprint("home", __name__, template_folder="templates")


@bp.get("/")
@page()
def dashboard():  # noqa: ANN201
    scope, db, now = g.scope, db_session.current(), utcnow()
    live = LiveCalls.connect()
    tenant_ids = None if scope.everything else set(scope.tenant_ids)
    calls_now = len(call_control.list_calls(live, scope, tenant_ids))
    if above_tenants(scope):
        view = dashboards.operator_view(db, scope, now, calls_now)
        return render_template("portal/dashboard_operator.html", view=view,
                               health=health() if scope.everything else None)
    view = dashboards.tenant_view(db, scope, db.get(Tenant, scope.home), now, calls_now)
    return render_template("portal/dashboard_tenant.html", view=view)


HEALTH_SECONDS = 10.0  # a dashboard shows the platform's health as seen at most this long ago
_health: tuple[float, dict[str, tuple[bool, str]]] | None = None


def health() -> dict[str, tuple[bool, str]]:
    """Each part of the platform green or red, as checked at most HEALTH_SECONDS ago: a part that does not answer
    costs its timeout (Kamailio's RPC: 3 s), which every dashboard view would otherwise wait for."""
    global _health
    now = time.monotonic()
    if _health is None or now - _health[0] > HEALTH_SECONDS:
        _health = (now, check_health())
    return _health[1]


def check_health() -> dict[str, tuple[bool, str]]:
    """Each part of the platform green or red, with what was seen."""
    import redis
    from rq import Worker

    from controlplane.kamailio.rpc import KamailioRpc
    from controlplane.services.nodes import list_nodes
    from controlplane.settings import get_settings

    settings = get_settings()
    checks: dict[str, tuple[bool, str]] = {}
    try:
        db_session.current().execute(text("SELECT 1"))
        checks["MariaDB"] = (True, "answers")
    except Exception as exc:  # noqa: BLE001 - a health page reports, never raises
        checks["MariaDB"] = (False, exc.__class__.__name__)
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=1)
        client.ping()
        workers = Worker.all(connection=client)
        checks["Redis"] = (True, "answers")
        checks["Job workers"] = (bool(workers), f"{len(workers)} running")
    except Exception as exc:  # noqa: BLE001
        checks["Redis"] = (False, exc.__class__.__name__)
    try:
        states = KamailioRpc().media_nodes()
        checks["Kamailio"] = (True, "answers")
        active = {s.uri for s in states if s.active}
    except Exception as exc:  # noqa: BLE001
        checks["Kamailio"] = (False, exc.__class__.__name__)
        active = set()
    for node in list_nodes(db_session.current()):
        up = any(node.host in uri for uri in active)
        checks[f"Media node {node.name}"] = (up, "in the dispatcher" if up else node.status.value + ", not answering")
    return checks
