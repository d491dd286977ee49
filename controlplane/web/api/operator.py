"""Operator-wide objects: carriers, media nodes, plans and rate decks (a tenant scope gets 403 here)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.services import carriers, decks, nodes, plans
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, scope
from controlplane.web.api.edge import sync_edge
from controlplane.web.api.schemas import money

blp = Blueprint("operator", __name__, url_prefix="/api/v1", description="Carriers, media nodes, plans, decks")


class TrunkSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    host = fields.String()
    port = fields.Integer()
    transport = fields.String()
    auth_mode = fields.String(attribute="auth_mode.value")
    username = fields.String(allow_none=True)  # never the password
    max_channels = fields.Integer(allow_none=True)
    priority = fields.Integer()
    status = fields.String(attribute="status.value")


class CarrierSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    provider_tag = fields.String(allow_none=True)
    status = fields.String(attribute="status.value")
    trunks = fields.List(fields.Nested(TrunkSchema))


class CarrierCreateSchema(Schema):
    name = fields.String(required=True)
    host = fields.String(required=True)
    port = fields.Integer(load_default=5060, validate=validate.Range(1, 65535))
    transport = fields.String(load_default="udp", validate=validate.OneOf(["udp", "tcp", "tls"]))
    buy_deck = fields.String(load_default=None)
    priority = fields.Integer(load_default=10)
    max_channels = fields.Integer(load_default=None, validate=validate.Range(0))
    username = fields.String(load_default=None)
    password = fields.String(load_default=None, load_only=True)
    register = fields.Boolean(load_default=False)


class NodeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    host = fields.String()
    port = fields.Integer()
    transport = fields.String()
    weight = fields.Integer()
    status = fields.String(attribute="status.value")


class PlanSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    markup_pct = money()


class DeckSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(attribute="kind.value")
    currency = fields.String()
    version = fields.Integer()
    is_default = fields.Boolean()


def _items(schema: type[Schema]) -> type[Schema]:
    return type(f"{schema.__name__.removesuffix('Schema')}ListSchema", (Schema,),
                {"items": fields.List(fields.Nested(schema))})


@blp.route("/carriers")
@access("carriers", "read")
@blp.response(200, _items(CarrierSchema))
def list_carriers():
    return {"items": carriers.list_carriers(db_session.current(), scope())}


@blp.route("/carriers", methods=["POST"])
@access("carriers", "write")
@blp.arguments(CarrierCreateSchema)
@blp.response(201, CarrierSchema)
def create_carrier(data: dict):
    carrier = carriers.create_carrier(db_session.current(), scope(), **data)
    commit()
    sync_edge()  # Kamailio takes calls only from the carriers it knows
    return carrier


@blp.route("/nodes")
@access("nodes", "read")
@blp.response(200, _items(NodeSchema))
def list_nodes():
    return {"items": nodes.visible_nodes(db_session.current(), scope())}


@blp.route("/plans")
@access("plans", "read")
@blp.response(200, _items(PlanSchema))
def list_plans():
    return {"items": plans.list_plans(db_session.current(), scope())}


@blp.route("/decks")
@access("decks", "read")
@blp.response(200, _items(DeckSchema))
def list_decks():
    return {"items": decks.list_decks(db_session.current(), scope())}
