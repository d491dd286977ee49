"""/api/v1/audit: who changed what, when, in the caller's part of the tree."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from controlplane.services import audit
from controlplane.web import session as db_session
from controlplane.web.api.access import access, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, UtcDateTime, page_of

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit log")


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = UtcDateTime()
    actor = fields.String()
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String(allow_none=True)
    tenant_id = fields.Integer(allow_none=True)
    details = fields.Raw(allow_none=True)
    note = fields.String(allow_none=True)


class AuditListArgs(PageArgs):
    actor = fields.String(metadata={"description": "user:ID, apikey:ID, cli, system"})
    entity = fields.String(metadata={"description": "tenant, sip_account, api_key, ..."})
    entity_id = fields.String()
    action = fields.String(metadata={"description": "an action or its prefix: tenant., credit.add"})
    since = UtcDateTime()
    until = UtcDateTime()


@blp.route("")
@access("audit", "read")
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, page_of(AuditEntrySchema))
def list_audit(args: dict):
    page = audit.page_audit(db_session.current(), scope(), actor=args.get("actor"), entity=args.get("entity"),
                            entity_id=args.get("entity_id"), action=args.get("action"), since=args.get("since"),
                            until=args.get("until"), after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)
