"""/api/v1/users: portal and API users of the tenants the caller manages; a new user's role follows its tenant."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.models import Role, TenantRole
from controlplane.services import tenants, users
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, UtcDateTime, page_of

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users and roles")


class UserSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer()
    email = fields.String()
    role = fields.Enum(Role, by_value=True)
    tenant_role = fields.Enum(TenantRole, by_value=True)
    sip_account_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    created_at = UtcDateTime()


class CreatedUserSchema(Schema):
    user = fields.Nested(UserSchema)
    password = fields.String(allow_none=True, metadata={"description": "generated, shown this once"})


class UserCreateSchema(Schema):
    tenant_id = fields.Integer(required=True)
    email = fields.String(required=True, validate=validate.Length(3, 190))
    password = fields.String(load_default=None, load_only=True)
    tenant_role = fields.Enum(TenantRole, by_value=True, load_default=TenantRole.ADMIN)
    sip_account_id = fields.Integer(load_default=None)


class UserListArgs(PageArgs):
    tenant_id = fields.Integer()


class ActiveChangeSchema(Schema):
    user = fields.Nested(UserSchema)
    changed = fields.Boolean()


@blp.route("")
@access("users", "read")
@blp.arguments(UserListArgs, location="query")
@blp.response(200, page_of(UserSchema))
def list_users(args: dict):
    page = users.page_users(db_session.current(), scope(), tenant_id=args.get("tenant_id"),
                            after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)


@blp.route("", methods=["POST"])
@access("users", "write")
@blp.arguments(UserCreateSchema)
@blp.response(201, CreatedUserSchema)
def create_user(data: dict):
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), data.pop("tenant_id"))
    user, password = users.create_user(session, scope(), tenant, data.pop("email"), **data)
    commit()
    return {"user": user, "password": password}


@blp.route("/<int:user_id>")
@access("users", "read")
@blp.response(200, UserSchema)
def get_user(user_id: int):
    return users.get_user(db_session.current(), scope(), user_id)


def _set_active(user_id: int, active: bool) -> dict:
    session = db_session.current()
    user = users.get_user(session, scope(), user_id)
    changed = users.set_active(session, scope(), user, active)
    commit()
    return {"user": user, "changed": changed}


@blp.route("/<int:user_id>/disable", methods=["POST"])
@access("users", "write")
@blp.response(200, ActiveChangeSchema)
def disable_user(user_id: int):
    """Disable: the user's API keys stop working at once."""
    return _set_active(user_id, False)


@blp.route("/<int:user_id>/enable", methods=["POST"])
@access("users", "write")
@blp.response(200, ActiveChangeSchema)
def enable_user(user_id: int):
    return _set_active(user_id, True)


class SessionSchema(Schema):
    user = fields.Nested(UserSchema)
    csrf_token = fields.String(metadata={"description": "send it as X-CSRFToken with a portal session's writes"})


@blp.route("/me")
@access("users", "read")
@blp.response(200, SessionSchema)
def who_am_i():
    """The user behind the request (a key's owner, or the portal session's user) and a CSRF token for the
    portal's scripts."""
    from flask import g
    from flask_wtf.csrf import generate_csrf

    return {"user": users.get_user(db_session.current(), scope(), g.user_id), "csrf_token": generate_csrf()}
