"""/api/v1/tenants: the tenant tree the caller sees; create below, change terms, suspend and enable."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.errors import NotFound
from controlplane.models import Status, TenantKind
from controlplane.services import decks, offers, tenants
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.edge import status_changed, sync_edge
from controlplane.web.api.schemas import PageArgs, UtcDateTime, list_of, money, page_of, status_change_of

blp = Blueprint("tenants", __name__, url_prefix="/api/v1/tenants", description="The tenant tree")


class TenantSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    kind = fields.Enum(TenantKind, by_value=True)
    parent_id = fields.Integer(allow_none=True)
    realm = fields.String(allow_none=True)
    status = fields.Enum(Status, by_value=True)
    currency = fields.String()
    billing_type = fields.String(attribute="billing_type.value")
    balance = money()
    credit_limit = money()
    margin_pct = money()
    plan = fields.String(attribute="plan.name", allow_none=True)
    max_sip_accounts = fields.Integer(allow_none=True)
    max_concurrent_calls = fields.Integer(allow_none=True)
    max_dids = fields.Integer(allow_none=True)
    monthly_spend_cap = money(allow_none=True)
    low_balance_threshold = money(allow_none=True)
    country_code = fields.String(allow_none=True)
    timezone = fields.String()
    created_at = UtcDateTime()


class TenantCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 128))
    realm = fields.String(load_default=None)
    kind = fields.Enum(TenantKind, by_value=True, load_default=TenantKind.CLIENT)
    parent = fields.String(load_default=None, metadata={"description": "the parent tenant's name"})
    plan = fields.String(load_default=None)
    currency = fields.String(load_default="USD")
    postpaid = fields.Boolean(load_default=False)
    credit_limit = money(load_default=None)
    margin_pct = money(load_default=None)
    country_code = fields.String(load_default=None)


class TenantUpdateSchema(Schema):
    plan = fields.String(allow_none=True)
    credit_limit = money(allow_none=True)
    margin_pct = money(allow_none=True)
    max_sip_accounts = fields.Integer(allow_none=True, validate=validate.Range(0))
    max_concurrent_calls = fields.Integer(allow_none=True, validate=validate.Range(0))
    max_dids = fields.Integer(allow_none=True, validate=validate.Range(0))
    monthly_spend_cap = money(allow_none=True)
    low_balance_threshold = money(allow_none=True)
    country_code = fields.String(allow_none=True)
    timezone = fields.String()
    allowed_country_codes = fields.String()
    denied_country_codes = fields.String()


class TenantListArgs(PageArgs):
    parent_id = fields.Integer()
    kind = fields.Enum(TenantKind, by_value=True)
    status = fields.Enum(Status, by_value=True)
    q = fields.String(metadata={"description": "part of the name or realm"})


@blp.route("")
@access("tenants", "read")
@blp.arguments(TenantListArgs, location="query")
@blp.response(200, page_of(TenantSchema))
def list_tenants(args: dict):
    page = tenants.page_tenants(db_session.current(), scope(), parent_id=args.get("parent_id"),
                                kind=args.get("kind"), status=args.get("status"), search=args.get("q"),
                                after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)


@blp.route("", methods=["POST"])
@access("tenants", "write")
@blp.arguments(TenantCreateSchema)
@blp.response(201, TenantSchema)
def create_tenant(data: dict):
    tenant = tenants.create_tenant(db_session.current(), scope(), **data)
    commit()
    sync_edge()  # a new realm is a new Kamailio domain
    return tenant


@blp.route("/<int:tenant_id>")
@access("tenants", "read")
@blp.response(200, TenantSchema)
def get_tenant(tenant_id: int):
    return tenants.get_tenant(db_session.current(), scope(), tenant_id)


@blp.route("/<int:tenant_id>", methods=["PATCH"])
@access("tenants", "write")
@blp.arguments(TenantUpdateSchema)
@blp.response(200, TenantSchema)
def update_tenant(data: dict, tenant_id: int):
    session = db_session.current()
    tenant = tenants.update_tenant(session, scope(), tenants.get_tenant(session, scope(), tenant_id), data)
    commit()
    return tenant


def _set_status(tenant_id: int, status: Status) -> dict:
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), tenant_id)
    return status_changed("tenant", tenant, tenants.set_status(session, scope(), tenant, status))


@blp.route("/<int:tenant_id>/suspend", methods=["POST"])
@access("tenants", "write")
@blp.response(200, status_change_of("tenant", TenantSchema))
def suspend_tenant(tenant_id: int):
    """Suspend: none of its SIP accounts (nor those of tenants below it) registers or calls, at once."""
    return _set_status(tenant_id, Status.DISABLED)


@blp.route("/<int:tenant_id>/enable", methods=["POST"])
@access("tenants", "write")
@blp.response(200, status_change_of("tenant", TenantSchema))
def enable_tenant(tenant_id: int):
    return _set_status(tenant_id, Status.ACTIVE)


class OfferSchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    days = fields.Integer()
    starts_at = UtcDateTime()
    expires_at = UtcDateTime()


class OfferCreateSchema(Schema):
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "calls to numbers starting so cost nothing"})
    days = fields.Integer(required=True, validate=validate.Range(1, 3660))
    starts_at = UtcDateTime(load_default=None)


class CustomRatesSchema(Schema):
    deck_id = fields.Integer()
    rows = fields.Integer()
    version = fields.Integer()


@blp.route("/<int:tenant_id>/offers")
@access("offers", "read")
@blp.response(200, list_of(OfferSchema))
def list_offers(tenant_id: int):
    session = db_session.current()
    return {"items": offers.list_offers(session, scope(), tenants.get_tenant(session, scope(), tenant_id))}


@blp.route("/<int:tenant_id>/offers", methods=["POST"])
@access("offers", "write")
@blp.arguments(OfferCreateSchema)
@blp.response(201, OfferSchema)
def grant_offer(data: dict, tenant_id: int):
    """An unlimited package: calls to `prefix` cost nothing for `days` from `starts_at` (default now)."""
    session = db_session.current()
    offer = offers.grant(session, scope(), tenants.get_tenant(session, scope(), tenant_id), **data)
    commit()
    return offer


@blp.route("/<int:tenant_id>/offers/<int:offer_id>", methods=["DELETE"])
@access("offers", "write")
@blp.response(200, OfferSchema)
def end_offer(tenant_id: int, offer_id: int):
    """End the offer now: calls from now on are rated as usual."""
    session = db_session.current()
    tenants.get_tenant(session, scope(), tenant_id)
    offer = offers.end(session, scope(), offer_id)
    if offer.tenant_id != tenant_id:
        raise NotFound(f"offer {offer_id} not found")
    commit()
    return offer


@blp.route("/<int:tenant_id>/custom-rates", methods=["POST"])
@access("decks", "write")
@blp.response(200, CustomRatesSchema)
@blp.doc(requestBody={"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}})
def set_custom_rates(tenant_id: int):
    """Operators: the tenant's own rates (a deck CSV as the body), matched before its plan's decks."""
    session = db_session.current()
    tenant = tenants.get_tenant(session, scope(), tenant_id)
    report = decks.set_custom_rates(session, scope(), tenant, request.get_data(as_text=True).splitlines(True))
    commit()
    return {"deck_id": report.deck_id, "rows": report.rows, "version": report.version}


@blp.route("/<int:tenant_id>/custom-rates", methods=["DELETE"])
@access("decks", "write")
@blp.response(204)
def clear_custom_rates(tenant_id: int):
    session = db_session.current()
    decks.clear_custom_rates(session, scope(), tenants.get_tenant(session, scope(), tenant_id))
    commit()
