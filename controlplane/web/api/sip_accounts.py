"""/api/v1/sip-accounts: phones and customer trunks; passwords generated and shown once, HA1 kept."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_dump, validate

from controlplane.models import SipAccountKind, Status
from controlplane.services import accounts, tenants
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.edge import edge_call, status_changed, sync_edge
from controlplane.web.api.schemas import PageArgs, UtcDateTime, list_of, page_of, status_change_of

blp = Blueprint("sip_accounts", __name__, url_prefix="/api/v1/sip-accounts",
                description="SIP accounts and customer trunks")


class SipAccountSchema(Schema):
    id = fields.Integer(dump_only=True)
    tenant_id = fields.Integer()
    username = fields.String()
    realm = fields.String(attribute="tenant.realm")
    kind = fields.Enum(SipAccountKind, by_value=True)
    status = fields.Enum(Status, by_value=True)
    source_ip = fields.String(allow_none=True)
    caller_id_name = fields.String(allow_none=True)
    caller_id_number = fields.String(allow_none=True)
    codecs = fields.String()
    nat_mode = fields.Boolean()
    max_concurrent_calls = fields.Integer(allow_none=True)
    strip_prefix = fields.String()
    add_prefix = fields.String()
    record_calls = fields.Boolean()
    webphone_enabled = fields.Boolean()
    restricted_prefixes = fields.String()
    callerid_allow = fields.String()
    callerid_deny = fields.String()
    trunk_group_id = fields.Integer(allow_none=True, metadata={"description": "operators only"})
    trunk_id = fields.Integer(allow_none=True, metadata={"description": "operators only"})
    created_at = UtcDateTime()

    @post_dump
    def _hide(self, data: dict, **kwargs: object) -> dict:
        """The routing override names the switch's carriers: the operator's, not the tenant's."""
        if not scope().everything:
            data.pop("trunk_group_id", None)
            data.pop("trunk_id", None)
        return data


class CreatedSipAccountSchema(Schema):
    account = fields.Nested(SipAccountSchema)
    password = fields.String(allow_none=True, metadata={"description": "generated, shown this once"})


class SipAccountCreateSchema(Schema):
    tenant_id = fields.Integer(required=True)
    username = fields.String(required=True)
    password = fields.String(load_default=None, load_only=True,
                             metadata={"description": "omit to have one generated (returned once)"})
    kind = fields.Enum(SipAccountKind, by_value=True, load_default=SipAccountKind.ACCOUNT)
    source_ip = fields.String(load_default=None)
    caller_id_name = fields.String(load_default=None)
    caller_id_number = fields.String(load_default=None)


class SipAccountUpdateSchema(Schema):
    caller_id_name = fields.String(allow_none=True)
    caller_id_number = fields.String(allow_none=True)
    codecs = fields.String()
    nat_mode = fields.Boolean()
    max_concurrent_calls = fields.Integer(allow_none=True, validate=validate.Range(0))
    strip_prefix = fields.String(allow_none=True)
    add_prefix = fields.String(allow_none=True)
    record_calls = fields.Boolean()
    webphone_enabled = fields.Boolean()
    restricted_prefixes = fields.String()
    callerid_allow = fields.String()
    callerid_deny = fields.String()


class RoutingSchema(Schema):
    trunk_group = fields.String(load_default=None, metadata={"description": "a trunk group's name"})
    trunk = fields.String(load_default=None, metadata={"description": "a carrier trunk's name"})


class ConvertSchema(Schema):
    kind = fields.Enum(SipAccountKind, by_value=True, required=True)
    source_ip = fields.String(load_default=None)


class SipAccountListArgs(PageArgs):
    tenant_id = fields.Integer()
    kind = fields.Enum(SipAccountKind, by_value=True)
    status = fields.Enum(Status, by_value=True)
    q = fields.String(metadata={"description": "part of the username"})


class ContactSchema(Schema):
    address = fields.String()
    expires = fields.Integer()
    user_agent = fields.String()
    received = fields.String()
    socket = fields.String()


class RegistrationSchema(Schema):
    registered = fields.Boolean()
    contacts = fields.List(fields.Nested(ContactSchema))


def _account(account_id: int):  # noqa: ANN202
    return accounts.get_account(db_session.current(), scope(), account_id)


@blp.route("")
@access("sip_accounts", "read")
@blp.arguments(SipAccountListArgs, location="query")
@blp.response(200, page_of(SipAccountSchema))
def list_accounts(args: dict):
    page = accounts.page_accounts(db_session.current(), scope(), tenant_id=args.get("tenant_id"),
                                  kind=args.get("kind"), status=args.get("status"), search=args.get("q"),
                                  after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)


@blp.route("", methods=["POST"])
@access("sip_accounts", "write")
@blp.arguments(SipAccountCreateSchema)
@blp.response(201, CreatedSipAccountSchema)
def create_account(data: dict):
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), data.pop("tenant_id"))
    created = accounts.create_sip_account(session, scope(), tenant, data.pop("username"), data.pop("password"),
                                          **data)
    commit()
    sync_edge()
    return {"account": created.account, "password": created.password}


class BulkArgs(Schema):
    tenant_id = fields.Integer(required=True)


@blp.route("/bulk", methods=["POST"])
@access("sip_accounts", "write")
@blp.arguments(BulkArgs, location="query")
@blp.response(201, list_of(CreatedSipAccountSchema))
@blp.doc(requestBody={"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}})
def create_accounts(args: dict):
    """Many accounts from a CSV body (header: username, and any of password, caller_id_name, caller_id_number,
    source_ip). All or nothing: the bad lines come back by number. Generated passwords are shown this once."""
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), args["tenant_id"])
    made = accounts.create_many(session, scope(), tenant, request.get_data(as_text=True))
    commit()
    sync_edge()
    return {"items": [{"account": m.account, "password": m.password} for m in made]}


@blp.route("/<int:account_id>")
@access("sip_accounts", "read")
@blp.response(200, SipAccountSchema)
def get_account(account_id: int):
    return _account(account_id)


@blp.route("/<int:account_id>", methods=["PATCH"])
@access("sip_accounts", "write")
@blp.arguments(SipAccountUpdateSchema)
@blp.response(200, SipAccountSchema)
def update_account(data: dict, account_id: int):
    account = accounts.update_account(db_session.current(), scope(), _account(account_id), data)
    commit()
    return account


def _set_status(account_id: int, status: Status) -> dict:
    account = _account(account_id)
    return status_changed("account", account, accounts.set_account_status(db_session.current(), scope(), account,
                                                                          status))


@blp.route("/<int:account_id>/disable", methods=["POST"])
@access("sip_accounts", "write")
@blp.response(200, status_change_of("account", SipAccountSchema))
def disable_account(account_id: int):
    """Disable: its registrations are kicked and it can neither register nor call."""
    return _set_status(account_id, Status.DISABLED)


@blp.route("/<int:account_id>/enable", methods=["POST"])
@access("sip_accounts", "write")
@blp.response(200, status_change_of("account", SipAccountSchema))
def enable_account(account_id: int):
    return _set_status(account_id, Status.ACTIVE)


@blp.route("/<int:account_id>/convert", methods=["POST"])
@access("sip_accounts", "write")
@blp.arguments(ConvertSchema)
@blp.response(200, CreatedSipAccountSchema)
def convert_account(data: dict, account_id: int):
    """A digest account becomes a customer trunk (calls from `source_ip`), or back (a new password, once)."""
    account = _account(account_id)
    password = accounts.convert(db_session.current(), scope(), account, data["kind"], data["source_ip"])
    commit()
    sync_edge()
    return {"account": account, "password": password}


@blp.route("/<int:account_id>/routing", methods=["POST"])
@access("sip_accounts", "write")
@blp.arguments(RoutingSchema)
@blp.response(200, SipAccountSchema)
def route_account(data: dict, account_id: int):
    """Operators: send the account's calls over a trunk group (in order) or one trunk; neither: LCR again."""
    from controlplane.services import carriers

    account = carriers.route_account(db_session.current(), scope(), _account(account_id), **data)
    commit()
    return account


@blp.route("/<int:account_id>/password", methods=["POST"])
@access("sip_accounts", "write")
@blp.response(200, CreatedSipAccountSchema)
def reset_password(account_id: int):
    """A new generated password, shown this once; the old one stops working at once."""
    account = _account(account_id)
    password = accounts.reset_password(db_session.current(), scope(), account)
    commit()
    sync_edge()
    return {"account": account, "password": password}


@blp.route("/<int:account_id>/registration")
@access("sip_accounts", "read")
@blp.response(200, RegistrationSchema)
def registration(account_id: int):
    """Live registration from Kamailio (contacts, user agent, expiry)."""
    from controlplane.kamailio.rpc import KamailioRpc

    account = _account(account_id)
    reg = edge_call(lambda: KamailioRpc().registration(account.username, account.tenant.realm))
    contacts = reg.contacts if reg else []
    return {"registered": bool(contacts), "contacts": contacts}


@blp.route("/<int:account_id>/kick", methods=["POST"])
@access("sip_accounts", "write")
@blp.response(200, RegistrationSchema)
def kick(account_id: int):
    """Remove the account's registrations now (the phone registers again unless the account is disabled)."""
    from controlplane.kamailio.rpc import KamailioRpc

    account = _account(account_id)
    scope().require_manager(account, account.tenant_id, f"SIP account {account_id}")
    edge_call(lambda: KamailioRpc().kick(account.username, account.tenant.realm))
    return {"registered": False, "contacts": []}
