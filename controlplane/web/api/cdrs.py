"""/api/v1/cdrs: call records the caller sees, filtered and cursor-paged; totals; a streamed CSV export."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_dump, validate

from controlplane.services import cdr_reports
from controlplane.web import session as db_session
from controlplane.web.api.access import access, decode_position, page_body, scope
from controlplane.web.api.schemas import PageArgs, UtcDateTime, money, page_of

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
    start_at = UtcDateTime(allow_none=True)
    answer_at = UtcDateTime(allow_none=True)
    end_at = UtcDateTime(allow_none=True)
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

    @post_dump
    def _hide(self, data: dict, **kwargs: object) -> dict:
        """Leave out what the caller may not see of the carrier side (cdr_reports.hidden_fields)."""
        for name in cdr_reports.hidden_fields(scope()):
            data.pop(name, None)
        return data


class CdrFilterArgs(Schema):
    since = UtcDateTime(metadata={"description": "start_at from (inclusive)"})
    until = UtcDateTime(metadata={"description": "start_at before (exclusive)"})
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
    buy_cost = money(allow_none=True, metadata={"description": "operators only"})


class SummaryRowSchema(TotalsSchema):
    key = fields.Raw(allow_none=True, metadata={"description": "the day, month, destination, account id, ..."})


class SummarySchema(Schema):
    by = fields.String()
    items = fields.List(fields.Nested(SummaryRowSchema))


class SummaryArgs(CdrFilterArgs):
    by = fields.String(required=True, validate=validate.OneOf(list(cdr_reports.GROUPS)))


def _filter(args: dict) -> cdr_reports.CdrFilter:
    return cdr_reports.CdrFilter(**{k: v for k, v in args.items() if k not in ("limit", "cursor", "by")})


@blp.route("")
@access("cdrs", "read")
@blp.arguments(CdrListArgs, location="query")
@blp.response(200, page_of(CdrSchema))
def list_cdrs(args: dict):
    """Newest first (by start time, then id)."""
    page = cdr_reports.page_cdrs(db_session.current(), scope(), _filter(args),
                                 after=decode_position(args["cursor"]), limit=args["limit"])
    return page_body(page)


@blp.route("/totals")
@access("cdrs", "read")
@blp.arguments(CdrFilterArgs, location="query")
@blp.response(200, TotalsSchema)
def cdr_totals(args: dict):
    return cdr_reports.totals(db_session.current(), scope(), _filter(args))


@blp.route("/summary")
@access("cdrs", "read")
@blp.arguments(SummaryArgs, location="query")
@blp.response(200, SummarySchema)
def cdr_summary(args: dict):
    """Totals grouped by day, month, destination, account, tenant, trunk (operators) or DID (inbound calls)."""
    return {"by": args["by"], "items": cdr_reports.summary(db_session.current(), scope(), _filter(args), args["by"])}


@blp.route("/export")
@access("cdrs", "read")
@blp.arguments(CdrFilterArgs, location="query")
@blp.response(200, content_type="text/csv")
def export_cdrs(args: dict):
    """CSV, streamed as it is read (memory stays flat however many rows)."""
    caller, flt = scope(), _filter(args)
    rows = db_session.streamed(lambda session: cdr_reports.export_csv(session, caller, flt))
    return Response(rows, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cdrs.csv"})


@blp.route("/<int:cdr_id>")
@access("cdrs", "read")
@blp.response(200, CdrSchema)
def get_cdr(cdr_id: int):
    return cdr_reports.get_cdr(db_session.current(), scope(), cdr_id)
