"""Operator-wide objects: carriers, media nodes, plans and rate decks (a tenant scope gets 403 here)."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.routing import BaseConverter

from controlplane.errors import Invalid
from controlplane.jobs.decks import enqueue_import
from controlplane.models import CarrierTrunk, DeckKind, Status
from controlplane.services import carriers, decks, nodes, plans
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.edge import edge_call, status_changed, sync_edge
from controlplane.web.api.schemas import PageArgs, list_of, money, page_of, status_change_of

blp = Blueprint("operator", __name__, url_prefix="/api/v1", description="Carriers, media nodes, plans, decks")


class NodeName(BaseConverter):
    """A media node's name as a whole path segment, `<node:name>`, except `dispatcher`: /nodes/dispatcher is the
    edge's view of the nodes (GET), so DELETE /nodes/<name> must not claim that path as well."""

    regex = r"(?!dispatcher$)[^/]+"


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
    buy_deck_id = fields.Integer(allow_none=True)
    strip_prefix = fields.String()
    add_prefix = fields.String()
    is_default = fields.Boolean()
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


class NodeStateSchema(Schema):
    uri = fields.String()
    setid = fields.Integer()
    flags = fields.String(metadata={"description": "Kamailio dispatcher flags: AP active, IP inactive, DX disabled"})
    active = fields.Boolean()


class TrunkRegistrationSchema(Schema):
    trunk_id = fields.Integer()
    registered = fields.Boolean()
    state = fields.String()
    username = fields.String(attribute="r_username")
    domain = fields.String(attribute="r_domain")


class PlanSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    markup_pct = money()
    deck_ids = fields.Function(lambda p: [d.deck_id for d in p.decks], metadata={"description": "in order"})


class DeckSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(attribute="kind.value")
    currency = fields.String()
    version = fields.Integer()
    is_default = fields.Boolean()


@blp.route("/carriers")
@access("carriers", "read")
@blp.response(200, list_of(CarrierSchema))
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
@blp.response(200, list_of(NodeSchema))
def list_nodes():
    return {"items": nodes.visible_nodes(db_session.current(), scope())}


@blp.route("/nodes/dispatcher")
@access("nodes", "read")
@blp.response(200, list_of(NodeStateSchema))
def node_states():
    """The SIP edge's live view of the media nodes (probing marks a dead node inactive)."""
    from controlplane.kamailio.rpc import KamailioRpc

    nodes.visible_nodes(db_session.current(), scope())  # operators only, like the node list
    return {"items": edge_call(lambda: KamailioRpc().media_nodes())}


@blp.route("/carriers/registrations")
@access("carriers", "read")
@blp.response(200, list_of(TrunkRegistrationSchema))
def carrier_registrations():
    """Register-mode carrier trunks: whether Kamailio's registration to each carrier holds."""
    from controlplane.kamailio.rpc import KamailioRpc

    carriers.list_carriers(db_session.current(), scope())  # operators only
    items = []
    for reg in edge_call(lambda: KamailioRpc().carrier_registrations()):
        if reg.l_uuid.startswith("trunk-") and reg.l_uuid[6:].isdigit():
            items.append({**vars(reg), "trunk_id": int(reg.l_uuid[6:])})
    return {"items": items}


@blp.route("/plans")
@access("plans", "read")
@blp.response(200, list_of(PlanSchema))
def list_plans():
    return {"items": plans.list_plans(db_session.current(), scope())}


@blp.route("/decks")
@access("decks", "read")
@blp.response(200, list_of(DeckSchema))
def list_decks():
    return {"items": decks.list_decks(db_session.current(), scope())}


class PlanCreateSchema(Schema):
    name = fields.String(required=True)
    decks = fields.List(fields.String(), required=True, metadata={"description": "rate decks, first match wins"})
    markup_pct = money(load_default="0")


class PlanUpdateSchema(Schema):
    """Any of a plan's fields; those left out stay as they are."""

    name = fields.String()
    decks = fields.List(fields.String(), metadata={"description": "the whole list, first match wins"})
    markup_pct = money()


class RateSchema(Schema):
    id = fields.Integer()
    prefix = fields.String()
    destination = fields.String()
    rate = money()
    init_block = fields.Integer()
    billing_block = fields.Integer()
    connect_charge = money()
    grace = fields.Integer()
    free_seconds = fields.Integer()


class RateListArgs(PageArgs):
    prefix = fields.String(metadata={"description": "rates whose prefix starts so, or that would rate this number"})
    destination = fields.String(metadata={"description": "part of the destination name"})


class DeckImportArgs(Schema):
    kind = fields.String(load_default="sell", validate=validate.OneOf(["sell", "buy"]))
    currency = fields.String(load_default="USD", validate=validate.Regexp(r"^[A-Z]{3}$"))


class JobRefSchema(Schema):
    job = fields.String()
    status_url = fields.String()


@blp.route("/plans", methods=["POST"])
@access("plans", "write")
@blp.arguments(PlanCreateSchema)
@blp.response(201, PlanSchema)
def create_plan(data: dict):
    plan = plans.create_plan(db_session.current(), scope(), **data)
    commit()
    return plan


@blp.route("/plans/<int:plan_id>")
@access("plans", "read")
@blp.response(200, PlanSchema)
def get_plan(plan_id: int):
    return plans.get_plan(db_session.current(), scope(), plan_id)


@blp.route("/plans/<int:plan_id>", methods=["PATCH"])
@access("plans", "write")
@blp.arguments(PlanUpdateSchema)
@blp.response(200, PlanSchema)
def update_plan(data: dict, plan_id: int):
    session = db_session.current()
    plan = plans.update_plan(session, scope(), plans.get_plan(session, scope(), plan_id), data)
    commit()
    return plan


@blp.route("/plans/<int:plan_id>", methods=["DELETE"])
@access("plans", "write")
@blp.response(204)
def delete_plan(plan_id: int):
    """Only a plan no tenant is on (409 otherwise)."""
    session = db_session.current()
    plans.delete_plan(session, scope(), plans.get_plan(session, scope(), plan_id))
    commit()


@blp.route("/decks/<string:name>", methods=["DELETE"])
@access("decks", "write")
@blp.response(204)
def delete_deck(name: str):
    """A deck and its rates; 409 while a plan, a carrier trunk, an account or a tenant uses it, or it is the
    default deck."""
    decks.delete_deck(db_session.current(), scope(), name)
    commit()


@blp.route("/decks/<string:name>/rates")
@access("decks", "read")
@blp.arguments(RateListArgs, location="query")
@blp.response(200, page_of(RateSchema))
def list_rates(args: dict, name: str):
    page = decks.page_rates(db_session.current(), scope(), name, prefix=args.get("prefix"),
                            destination=args.get("destination"), after=decode_cursor(args["cursor"]),
                            limit=args["limit"])
    return page_body(page)


@blp.route("/decks/<string:name>/export")
@access("decks", "read")
@blp.response(200, content_type="text/csv")
def export_deck(name: str):
    """The deck as CSV, re-importable as is (streamed)."""
    caller = scope()
    caller.require_operator("rate decks")
    decks.get_deck(db_session.current(), name)  # a missing deck is 404 before the response starts
    lines = db_session.streamed(lambda session: decks.export_deck(session, caller, name))
    return Response(lines, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}.csv"})


@blp.route("/decks/<string:name>/import", methods=["POST"])
@access("decks", "write")
@blp.arguments(DeckImportArgs, location="query")
@blp.response(202, JobRefSchema)
@blp.doc(requestBody={"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}})
def import_deck(args: dict, name: str):
    """Upload a deck's CSV (the request body, text/csv): validated and imported by a background job; follow
    `status_url` for progress and, for a refused file, the bad lines. Nothing changes unless every line is good."""
    scope().require_operator("rate decks")
    text = request.get_data(as_text=True)
    if not text.strip():
        raise Invalid({"body": ["the CSV is empty"]})
    job = enqueue_import(scope(), name, text, DeckKind(args["kind"]), args["currency"])
    return {"job": job.id, "status_url": f"/api/v1/jobs/{job.id}"}


class TrunkGroupSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    trunk_ids = fields.Function(lambda g: [m.trunk_id for m in g.members], metadata={"description": "in order"})


class TrunkGroupCreateSchema(Schema):
    name = fields.String(required=True)
    trunks = fields.List(fields.String(), required=True, metadata={"description": "carrier trunk names, in order"})


class TrunkGroupUpdateSchema(Schema):
    trunks = fields.List(fields.String(), metadata={"description": "carrier trunk names, in order (the whole list)"})


class NodeCreateSchema(Schema):
    name = fields.String(required=True, metadata={"description": "the node's switchname"})
    sip = fields.String(required=True, metadata={"description": "HOST[:PORT]"})
    transport = fields.String(load_default="udp", validate=validate.OneOf(["udp", "tcp"]))
    esl = fields.String(load_default=None, metadata={"description": "HOST[:PORT] of its inbound ESL"})
    esl_password = fields.String(load_default=None, load_only=True)
    weight = fields.Integer(load_default=50)


@blp.route("/trunk-groups")
@access("carriers", "read")
@blp.response(200, list_of(TrunkGroupSchema))
def list_trunk_groups():
    return {"items": carriers.list_trunk_groups(db_session.current(), scope())}


@blp.route("/trunk-groups", methods=["POST"])
@access("carriers", "write")
@blp.arguments(TrunkGroupCreateSchema)
@blp.response(201, TrunkGroupSchema)
def create_trunk_group(data: dict):
    group = carriers.create_trunk_group(db_session.current(), scope(), data["name"], data["trunks"])
    commit()
    return group


@blp.route("/trunk-groups/<int:group_id>", methods=["PATCH"])
@access("carriers", "write")
@blp.arguments(TrunkGroupUpdateSchema)
@blp.response(200, TrunkGroupSchema)
def update_trunk_group(data: dict, group_id: int):
    session = db_session.current()
    group = carriers.get_trunk_group(session, scope(), group_id)
    if "trunks" in data:
        carriers.update_trunk_group(session, scope(), group, data["trunks"])
    commit()
    return group


@blp.route("/trunk-groups/<int:group_id>", methods=["DELETE"])
@access("carriers", "write")
@blp.response(204)
def delete_trunk_group(group_id: int):
    """Only a group no account routes over (409 otherwise)."""
    session = db_session.current()
    carriers.delete_trunk_group(session, scope(), carriers.get_trunk_group(session, scope(), group_id))
    commit()


@blp.route("/nodes", methods=["POST"])
@access("nodes", "write")
@blp.arguments(NodeCreateSchema)
@blp.response(201, NodeSchema)
def add_node(data: dict):
    """Register a media node: Kamailio's dispatcher sends it calls once its probe answers."""
    node = nodes.add_node(db_session.current(), scope(), **data)
    commit()
    sync_edge()
    return node


def _node_status(name: str, status: Status) -> dict:
    return status_changed("node", *nodes.set_status(db_session.current(), scope(), name, status))


@blp.route("/nodes/<string:name>/disable", methods=["POST"])
@access("nodes", "write")
@blp.response(200, status_change_of("node", NodeSchema))
def disable_node(name: str):
    """Out of the dispatcher: no new calls; its calls run to their end and stay reachable over ESL."""
    return _node_status(name, Status.DISABLED)


@blp.route("/nodes/<string:name>/enable", methods=["POST"])
@access("nodes", "write")
@blp.response(200, status_change_of("node", NodeSchema))
def enable_node(name: str):
    return _node_status(name, Status.ACTIVE)


@blp.route("/nodes/<node:name>", methods=["DELETE"])
@access("nodes", "write")
@blp.response(204)
def remove_node(name: str):
    """Only a disabled node with no call left on it (409 otherwise): disable it, let its calls end, then remove it."""
    caller = scope()
    caller.require_operator("media nodes")
    nodes.remove_node(db_session.current(), caller, name, live_calls=_live_calls("node", name))
    commit()
    sync_edge()


def _live_calls(kind: str, ident: object) -> int:
    """How many calls run on a node or over a carrier trunk now (the live state in Redis)."""
    from controlplane.state.live_calls import LiveCalls

    return len(LiveCalls.connect().uuids(kind, ident))


class TrunkCreateSchema(CarrierCreateSchema):
    """A further trunk of a carrier: the same fields its first trunk was created with."""


@blp.route("/carriers/<int:carrier_id>")
@access("carriers", "read")
@blp.response(200, CarrierSchema)
def get_carrier(carrier_id: int):
    return carriers.get_carrier(db_session.current(), scope(), carrier_id)


@blp.route("/carriers/<int:carrier_id>/trunks", methods=["POST"])
@access("carriers", "write")
@blp.arguments(TrunkCreateSchema)
@blp.response(201, TrunkSchema)
def add_trunk(data: dict, carrier_id: int):
    session = db_session.current()
    trunk = carriers.add_trunk(session, scope(), carriers.get_carrier(session, scope(), carrier_id), **data)
    commit()
    sync_edge()  # a new address Kamailio relays legs to and takes calls from
    return trunk


class CarrierUpdateSchema(Schema):
    """Any of a carrier's own fields; its trunks are changed one by one."""

    name = fields.String()
    provider_tag = fields.String(allow_none=True)


class TrunkUpdateSchema(Schema):
    """Any of a trunk's fields; those left out stay as they are. null clears buy_deck, max_channels (no limit),
    username and password."""

    name = fields.String()
    host = fields.String()
    port = fields.Integer(validate=validate.Range(1, 65535))
    transport = fields.String(validate=validate.OneOf(["udp", "tcp", "tls"]))
    buy_deck = fields.String(allow_none=True)
    priority = fields.Integer()
    max_channels = fields.Integer(allow_none=True, validate=validate.Range(0))
    strip_prefix = fields.String()
    add_prefix = fields.String()
    is_default = fields.Boolean()
    username = fields.String(allow_none=True)
    password = fields.String(allow_none=True, load_only=True)
    register = fields.Boolean()


@blp.route("/carriers/<int:carrier_id>", methods=["PATCH"])
@access("carriers", "write")
@blp.arguments(CarrierUpdateSchema)
@blp.response(200, CarrierSchema)
def update_carrier(data: dict, carrier_id: int):
    session = db_session.current()
    carrier = carriers.update_carrier(session, scope(), carriers.get_carrier(session, scope(), carrier_id), data)
    commit()
    sync_edge()
    return carrier


def _trunk_of(carrier_id: int, trunk_id: int) -> CarrierTrunk:
    session = db_session.current()
    return carriers.get_trunk(session, scope(), carriers.get_carrier(session, scope(), carrier_id), trunk_id)


@blp.route("/carriers/<int:carrier_id>/trunks/<int:trunk_id>", methods=["PATCH"])
@access("carriers", "write")
@blp.arguments(TrunkUpdateSchema)
@blp.response(200, TrunkSchema)
def update_trunk(data: dict, carrier_id: int, trunk_id: int):
    trunk = carriers.update_trunk(db_session.current(), scope(), _trunk_of(carrier_id, trunk_id), data)
    commit()
    sync_edge()  # its address, port, transport or registration is in Kamailio's tables
    return trunk


@blp.route("/carriers/<int:carrier_id>/trunks/<int:trunk_id>", methods=["DELETE"])
@access("carriers", "write")
@blp.response(204)
def delete_trunk(carrier_id: int, trunk_id: int):
    """Only a trunk nothing needs (409 otherwise): not the carrier's only one, no account, trunk group or rate
    routing over it, no CDR and no live call naming it."""
    trunk = _trunk_of(carrier_id, trunk_id)
    carriers.delete_trunk(db_session.current(), scope(), trunk, live_calls=_live_calls("trunk", trunk.id))
    commit()
    sync_edge()


def _carrier_status(carrier_id: int, status: Status) -> dict:
    session = db_session.current()
    carrier = carriers.get_carrier(session, scope(), carrier_id)
    return status_changed("carrier", carrier, carriers.set_carrier_status(session, scope(), carrier, status))


@blp.route("/carriers/<int:carrier_id>/disable", methods=["POST"])
@access("carriers", "write")
@blp.response(200, status_change_of("carrier", CarrierSchema))
def disable_carrier(carrier_id: int):
    """No call goes out over its trunks and none is taken from its addresses."""
    return _carrier_status(carrier_id, Status.DISABLED)


@blp.route("/carriers/<int:carrier_id>/enable", methods=["POST"])
@access("carriers", "write")
@blp.response(200, status_change_of("carrier", CarrierSchema))
def enable_carrier(carrier_id: int):
    return _carrier_status(carrier_id, Status.ACTIVE)
