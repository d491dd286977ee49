"""/api/v1/calls: calls in flight the caller sees (live state in Redis), hanging one up on its node, and
click-to-call (a media node rings the account's phone, then the controller bridges it to the number)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controlplane.services import call_control
from controlplane.state.live_calls import LiveCalls
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, scope
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


class ClickToCallSchema(Schema):
    sip_account_id = fields.Integer(required=True, metadata={"description": "the phone rung first"})
    destination = fields.String(required=True, validate=validate.Length(min=1, max=32),
                                metadata={"description": "the number (or extension) it then connects to"})


class OriginatedSchema(Schema):
    uuid = fields.String(metadata={"description": "the call's uuid: its live entry and CDR carry it"})
    node = fields.String()
    sip_account_id = fields.Integer(attribute="account_id")
    destination = fields.String()
    state = fields.Constant("ringing account")


@blp.route("")
@access("calls", "read")
@blp.arguments(CallListArgs, location="query")
@blp.response(200, list_of(LiveCallSchema))
def list_calls(args: dict):
    wanted = {args["tenant_id"]} if "tenant_id" in args else None
    return {"items": call_control.list_calls(LiveCalls.connect(), scope(), wanted)}


@blp.route("", methods=["POST"])
@access("calls", "write")
@blp.arguments(ClickToCallSchema)
@blp.response(202, OriginatedSchema)
def click_to_call(body: dict):
    """Click-to-call: ring the account's phone; once it answers, the call goes to `destination` and is
    decided, limited and billed like a call the phone dialled (from the far end's answer). The answer is
    202 as soon as a media node has the command: the phone may still not pick up (nothing is billed). While
    it rings the call is listed (state `ringing account`) and `DELETE /calls/{uuid}` cancels it."""
    from controlplane.freeswitch import esl_client
    from controlplane.freeswitch.dial_strings import DialStrings
    from controlplane.settings import get_settings

    session = db_session.current()
    dial = DialStrings.from_settings(get_settings())
    originated = call_control.click_to_call(session, scope(), body["sip_account_id"], body["destination"],
                                            esl_client.bgapi, dial.local, LiveCalls.connect())
    commit()
    return originated


@blp.route("/<string:uuid>", methods=["DELETE"])
@access("calls", "write")
@blp.response(200, HangupSchema)
def hangup(uuid: str):
    """Hang up on the node that carries the call; its CDR then follows the usual path."""
    from controlplane.freeswitch import esl_client

    return {"result": call_control.hangup_call(LiveCalls.connect(), scope(), uuid, esl_client.api)}
