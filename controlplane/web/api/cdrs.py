"""/api/v1/cdrs: call records the caller sees, filtered and cursor-paged; totals; a streamed CSV export."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from controlplane.services import cdr_reports
from controlplane.web import session as db_session
from controlplane.web.api.access import access, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, money, page_of

blp = Blueprint("cdrs", __name__, url_prefix="/api/v1/cdrs", description="Call detail records")


class CdrSchema(Schema):
    id = fields.Integer()
    uuid = fields.String()
    tenant_id = fields.Integer(allow_none=True)
    sip_account_id = fields.Integer(allow_none=True)
    direction = fields.String()
    caller_id_name = fields.String(allow_none=True)
    caller_id_number = fields.String(allow_none=True)
    dialed = fields.String(allow_none=True)
    number = fields.String(allow_none=True)
    destination = fields.String(allow_none=True)
    start_at = fields.DateTime(allow_none=True)
    answer_at = fields.DateTime(allow_none=True)
    end_at = fields.DateTime(allow_none=True)
    duration = fields.Integer()
    billsec = fields.Integer()
    disposition = fields.String()
    sip_code = fields.Integer(allow_none=True)
    hangup_cause = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    trunk_id = fields.Integer(allow_none=True)
    attempts = fields.Raw(allow_none=True)
    rate_prefix = fields.String(allow_none=True)
    rate = money(allow_none=True)
    billing_blocks = fields.Integer()
    cost = money()
    buy_cost = money(allow_none=True)
    currency = fields.String(allow_none=True)
    chain = fields.Raw(allow_none=True)
    offer = fields.String(allow_none=True)


class CdrFilterArgs(Schema):
    since = fields.DateTime(metadata={"description": "start_at from (inclusive)"})
    until = fields.DateTime(metadata={"description": "start_at before (exclusive)"})
    tenant_id = fields.Integer()
    sip_account_id = fields.Integer()
    destination = fields.String(metadata={"description": "a prefix of the called number"})
    disposition = fields.String()
    sip_code = fields.Integer()
    trunk_id = fields.Integer()


class CdrListArgs(PageArgs, CdrFilterArgs):
    pass


class TotalsSchema(Schema):
    calls = fields.Integer()
    answered = fields.Integer()
    billsec = fields.Integer()
    cost = money()
    buy_cost = money()


def _filter(args: dict) -> cdr_reports.CdrFilter:
    return cdr_reports.CdrFilter(**{k: v for k, v in args.items() if k not in ("limit", "cursor")})


@blp.route("")
@access("cdrs", "read")
@blp.arguments(CdrListArgs, location="query")
@blp.response(200, page_of(CdrSchema))
def list_cdrs(args: dict):
    """Newest first."""
    page = cdr_reports.page_cdrs(db_session.current(), scope(), _filter(args), after=decode_cursor(args["cursor"]),
                                 limit=args["limit"])
    return page_body(page)


@blp.route("/totals")
@access("cdrs", "read")
@blp.arguments(CdrFilterArgs, location="query")
@blp.response(200, TotalsSchema)
def cdr_totals(args: dict):
    return cdr_reports.totals(db_session.current(), scope(), _filter(args))


@blp.route("/export")
@access("cdrs", "read")
@blp.arguments(CdrFilterArgs, location="query")
@blp.response(200, content_type="text/csv")
def export_cdrs(args: dict):
    """CSV, streamed as it is read (memory stays flat however many rows)."""
    rows = cdr_reports.export_csv(db_session.current(), scope(), _filter(args))
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cdrs.csv"})


@blp.route("/<int:cdr_id>")
@access("cdrs", "read")
@blp.response(200, CdrSchema)
def get_cdr(cdr_id: int):
    return cdr_reports.get_cdr(db_session.current(), scope(), cdr_id)
