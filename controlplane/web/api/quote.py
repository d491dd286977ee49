"""/api/v1/quote: the dry run of rating and routing: what a call would cost, and (operators) which trunks."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.services.pricing import scoped_quote
from controlplane.web import session as db_session
from controlplane.web.api.access import access, scope

blp = Blueprint("quote", __name__, url_prefix="/api/v1/quote", description="Dry run of rating and routing")


class QuoteArgs(Schema):
    tenant_id = fields.Integer(required=True)
    number = fields.String(required=True, validate=validate.Length(1, 64))
    billsec = fields.Integer(load_default=60, validate=validate.Range(0, 86400))
    account_id = fields.Integer(metadata={"description": "its deck and trunk overrides apply"})


class QuoteSchema(Schema):
    number = fields.String()
    prefix = fields.String()
    destination = fields.String()
    source = fields.String()
    rate = fields.String()
    billsec = fields.Integer()
    charged_seconds = fields.Integer()
    billing_blocks = fields.Integer()
    cost = fields.String()
    currency = fields.String()
    chain = fields.List(fields.Dict(), metadata={"description": "resellers and operators"})
    routes = fields.List(fields.Dict(), metadata={"description": "operators: trunks in LCR order, buy cost, margin"})


@blp.route("")
@access("quote", "read")
@blp.arguments(QuoteArgs, location="query")
@blp.response(200, QuoteSchema)
def get_quote(args: dict):
    return scoped_quote(db_session.current(), scope(), args["tenant_id"], args["number"], args["billsec"],
                        args.get("account_id"))
