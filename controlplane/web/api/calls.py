"""/api/v1/calls: calls in flight the caller sees (live state in Redis), and hanging one up on its node."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from controlplane.services import call_control
from controlplane.state.live_calls import LiveCalls
from controlplane.web.api.access import access, scope
from controlplane.web.api.schemas import list_of

blp = Blueprint("calls", __name__, url_prefix="/api/v1/calls", description="Calls in flight")


class LiveCallSchema(Schema):
    uuid = fields.String()
    tenant_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    caller = fields.String()
    destination = fields.String()
    direction = fields.String()
    trunk = fields.String()
    state = fields.String()
    started_at = fields.Float(allow_none=True)
    answered_at = fields.Float(allow_none=True)
    node = fields.String()


class CallListArgs(Schema):
    tenant_id = fields.Integer()


class HangupSchema(Schema):
    result = fields.String()


@blp.route("")
@access("calls", "read")
@blp.arguments(CallListArgs, location="query")
@blp.response(200, list_of(LiveCallSchema))
def list_calls(args: dict):
    wanted = {args["tenant_id"]} if "tenant_id" in args else None
    return {"items": call_control.list_calls(LiveCalls.connect(), scope(), wanted)}


@blp.route("/<string:uuid>", methods=["DELETE"])
@access("calls", "write")
@blp.response(200, HangupSchema)
def hangup(uuid: str):
    """Hang up on the node that carries the call; its CDR then follows the usual path."""
    from controlplane.freeswitch import esl_client

    return {"result": call_control.hangup_call(LiveCalls.connect(), scope(), uuid, esl_client.api)}
