"""/api/v1/dids: inbound numbers: assigned to tenants from above, routed by the tenant to its SIP accounts."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from controlplane.services import dids, tenants
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, page_of

blp = Blueprint("dids", __name__, url_prefix="/api/v1/dids", description="Inbound numbers")


class DidSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    tenant_id = fields.Integer()
    status = fields.String(attribute="status.value")
    destination = fields.String(attribute="destination_type.value")
    sip_account_id = fields.Integer(allow_none=True)


class DidCreateSchema(Schema):
    tenant_id = fields.Integer(required=True)
    number = fields.String(required=True, metadata={"description": "E.164, with or without +"})
    to_account = fields.String(load_default=None, metadata={"description": "a SIP account username of the tenant"})


class DidRouteSchema(Schema):
    account_id = fields.Integer(required=True, allow_none=True, metadata={"description": "null: refuse calls"})


class DidListArgs(PageArgs):
    tenant_id = fields.Integer()
    number = fields.String(metadata={"description": "a prefix of the number"})


@blp.route("")
@access("dids", "read")
@blp.arguments(DidListArgs, location="query")
@blp.response(200, page_of(DidSchema))
def list_dids(args: dict):
    page = dids.page_dids(db_session.current(), scope(), tenant_id=args.get("tenant_id"), number=args.get("number"),
                          after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)


@blp.route("", methods=["POST"])
@access("dids", "write")
@blp.arguments(DidCreateSchema)
@blp.response(201, DidSchema)
def assign_did(data: dict):
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), data["tenant_id"])
    did = dids.add_did(session, scope(), tenant, data["number"], to_account=data["to_account"])
    commit()
    return did


@blp.route("/<int:did_id>")
@access("dids", "read")
@blp.response(200, DidSchema)
def get_did(did_id: int):
    return dids.get_did(db_session.current(), scope(), did_id)


@blp.route("/<int:did_id>/route", methods=["POST"])
@access("dids", "write")
@blp.arguments(DidRouteSchema)
@blp.response(200, DidSchema)
def route_did(data: dict, did_id: int):
    session = db_session.current()
    did = dids.route_did(session, scope(), dids.get_did(session, scope(), did_id), data["account_id"])
    commit()
    return did


@blp.route("/<int:did_id>", methods=["DELETE"])
@access("dids", "write")
@blp.response(204)
def release_did(did_id: int):
    session = db_session.current()
    dids.release_did(session, scope(), dids.get_did(session, scope(), did_id))
    commit()
