"""/api/v1/api-keys: keys for the caller's users; the secret is shown once, at creation."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.models import User
from controlplane.services import api_keys
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, UtcDateTime, page_of

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="API keys")


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    user_id = fields.Integer()
    prefix = fields.String(attribute="key_prefix")
    scopes = fields.Function(lambda k: k.scopes.split())
    allowed_ips = fields.Function(lambda k: k.allowed_ips.split())
    expires_at = UtcDateTime(allow_none=True)
    revoked = fields.Boolean()
    revoked_at = UtcDateTime(allow_none=True)
    last_used_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class IssuedKeySchema(Schema):
    key = fields.Nested(ApiKeySchema)
    token = fields.String(metadata={"description": "the key itself, shown this once"})


class ApiKeyCreateSchema(Schema):
    name = fields.String(load_default="", validate=validate.Length(0, 128))
    scopes = fields.List(fields.String(), required=True, metadata={"description": "e.g. cdrs:read, tenants:write, *"})
    user_id = fields.Integer(load_default=None, metadata={"description": "whose key (default: the caller's user)"})
    expires_at = UtcDateTime(load_default=None)
    allowed_ips = fields.List(fields.String(), load_default=list)


@blp.route("")
@access("api_keys", "read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ApiKeySchema))
def list_keys(args: dict):
    page = api_keys.page_keys(db_session.current(), scope(), after=decode_cursor(args["cursor"]),
                              limit=args["limit"])
    return page_body(page)


@blp.route("", methods=["POST"])
@access("api_keys", "write")
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, IssuedKeySchema)
def create_key(data: dict):
    session = db_session.current()
    user_id = data["user_id"] or g.user_id
    user = session.get(User, user_id)
    user = scope().require(user, user.tenant_id if user else None, f"user {user_id}")
    issued = api_keys.issue(session, scope(), user, data["scopes"], name=data["name"], expires_at=data["expires_at"],
                            allowed_ips=" ".join(data["allowed_ips"]), issued_with=g.grants)
    commit()
    return {"key": issued.key, "token": issued.token}


@blp.route("/<int:key_id>")
@access("api_keys", "read")
@blp.response(200, ApiKeySchema)
def get_key(key_id: int):
    return api_keys.get_key(db_session.current(), scope(), key_id)


@blp.route("/<int:key_id>", methods=["DELETE"])
@access("api_keys", "write")
@blp.response(200, ApiKeySchema)
def revoke_key(key_id: int):
    """Revoke: the key stops working at once; the row stays for the audit trail."""
    key = api_keys.revoke(db_session.current(), scope(), key_id)
    commit()
    return key
