"""FreeSWITCH's own CDR push (mod_json_cdr): the second path into the one CDR writer."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from urllib.parse import unquote, unquote_to_bytes

from flask import Blueprint, abort, current_app, jsonify, request

from controlplane.cdr_delivery import write_once
from controlplane.freeswitch.cdr_variables import is_b_leg, record_from_variables
from controlplane.state.live_calls import LiveCalls

log = logging.getLogger(__name__)

bp = Blueprint("cdr_push", __name__)


def _document() -> dict:
    """The JSON CDR, whatever the request says its Content-Type is.

    mod_json_cdr posts the JSON itself, or `cdr=<url-encoded JSON>` (`encode=true`), or
    `cdr=<base64>` (`encode=base64`). Its `disable-100-continue` replaces the request's header list
    with `Expect:` alone, so the JSON goes out as curl's default
    `application/x-www-form-urlencoded` (mod_json_cdr.c, v1.10.12): letting Flask parse that
    as a form consumed the body and refused every push from a real node with 400. So the body is
    read raw and recognised by its first bytes.
    """
    raw = request.get_data(cache=False, as_text=False, parse_form_data=False)
    try:
        text = _cdr_text(raw)
        document = json.loads(text)
    except (ValueError, binascii.Error):
        abort(400, "body is not a JSON CDR")
    if not isinstance(document, dict) or not isinstance(document.get("variables"), dict):
        abort(400, "JSON CDR without variables")
    return document


def _cdr_text(raw: bytes) -> str:
    body = raw.strip()
    if not body.startswith(b"cdr="):
        return body.decode()
    value = body[4:]
    if value[:1] in (b"{", b"%"):  # encode=true: url-encoded JSON
        return unquote_to_bytes(value.replace(b"+", b" ")).decode()
    return base64.b64decode(value, validate=False).decode()  # encode=base64


def _live_calls() -> LiveCalls:
    """One Redis pool per app, not one per request."""
    if "live_calls" not in current_app.extensions:
        current_app.extensions["live_calls"] = LiveCalls.connect()
    return current_app.extensions["live_calls"]


@bp.post("/api/v1/cdr/freeswitch")
def freeswitch_cdr():  # noqa: ANN201
    expected = current_app.config.get("CDR_PUSH_CREDENTIALS")
    if expected:
        auth = request.authorization
        if auth is None or f"{auth.username}:{auth.password}" != expected:
            abort(401)
    document = _document()
    variables = {k: unquote(str(v)) for k, v in document["variables"].items()}
    if "uuid" not in variables:
        abort(400, "JSON CDR without a uuid")
    if is_b_leg(variables):
        return jsonify(result="ignored", reason="b-leg"), 200
    record, _, _ = record_from_variables(variables, "freeswitch", document.get("switchname"))
    result = write_once(record)
    try:
        live = _live_calls()
        ended = live.end(record.uuid)
        if ended.info.get("tenant") and ended.tenant_calls:
            live.request_recompute(int(ended.info["tenant"]))
    except Exception:  # noqa: BLE001 - the CDR is safe; live state is cleaned by channel sync
        log.exception("could not clear live state of %s", record.uuid)
    return jsonify(result=result, uuid=record.uuid), 200
