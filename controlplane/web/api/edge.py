"""After a committed change the SIP edge must know at once (a suspended tenant, a disabled account): rewrite
Kamailio's tables, reload them and kick the registrations that lost their subscriber row."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from controlplane.errors import Unavailable
from controlplane.kamailio.tables import sync
from controlplane.web import session as db_session
from controlplane.web.api.access import commit

T = TypeVar("T")


def sync_edge() -> dict:
    """What the edge did, for the response: Kamailio down is reported, not an error (it loads the tables when
    it starts)."""
    report = sync(db_session.current())
    return {"synced": report.ok, "kicked": report.kicked, "errors": report.errors}


def status_changed(key: str, obj: object, changed: bool) -> dict:
    """Commit an enable/disable, then bring the edge in line: the body of status_change_of(key, ...)."""
    commit()
    return {key: obj, "changed": changed, "edge": sync_edge()}


def edge_call(call: Callable[[], T]) -> T:
    """A live question to Kamailio (registrations, kick); Kamailio down is 503, not a server error."""
    from controlplane.kamailio.rpc import KamailioRpcError, KamailioUnreachable

    try:
        return call()
    except (KamailioRpcError, KamailioUnreachable) as exc:
        raise Unavailable(f"SIP edge: {exc}") from exc
