"""Call records with filters, totals, keyset pages and the streamed CSV export (the API's, with this session)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, render_template, request

from controlplane.services import cdr_reports, tenants
from controlplane.services.cdr_reports import CdrFilter
from controlplane.web import session as db_session
from controlplane.web.api.access import decode_position, encode_cursor
from controlplane.web.portal.context import page

bp = Blueprint("cdrs", __name__, url_prefix="/cdrs", template_folder="templates")
FILTERS = ("since", "until", "tenant_id", "destination", "disposition", "sip_code")
DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED")


def _date(name: str) -> dt.datetime | None:
    value = request.args.get(name, "").strip()
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def current_filter() -> CdrFilter:
    until = _date("until")
    if until is not None and len(request.args.get("until", "")) <= 10:
        until += dt.timedelta(days=1)  # a day picked as "until" includes that day
    return CdrFilter(since=_date("since"), until=until, tenant_id=request.args.get("tenant_id", type=int),
                     destination=(request.args.get("destination") or "").strip().lstrip("+") or None,
                     disposition=request.args.get("disposition") or None,
                     sip_code=request.args.get("sip_code", type=int))


@bp.get("")
@page()
def list_cdrs():  # noqa: ANN201
    db, scope = db_session.current(), g.scope
    flt = current_filter()
    try:
        after = decode_position(request.args.get("cursor"))
    except Exception:  # noqa: BLE001 - a mangled cursor starts from the first page
        after = None
    result = cdr_reports.page_cdrs(db, scope, flt, after=after, limit=50)
    totals = cdr_reports.totals(db, scope, flt)
    args = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    export_args = {**args}
    if flt.until is not None:
        export_args["until"] = flt.until.isoformat()
    return render_template("portal/cdrs.html", rows=result.items, totals=totals, args=args, export_args=export_args,
                           next_cursor=encode_cursor(result.next_after), dispositions=DISPOSITIONS,
                           tenants=tenants.tenant_names(db, scope) if scope.home is None or len(scope.tenant_ids) > 1
                           else [], hidden=cdr_reports.hidden_fields(scope))
