"""FreeSWITCH's own CDR push (mod_json_cdr): the second path into the one CDR writer."""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote

from flask import Blueprint, abort, current_app, jsonify, request

from controlplane.fs_cdr import is_b_leg, record_from_variables
from controlplane.services.cdrs import write_once
from controlplane.services.live_calls import LiveCalls

log = logging.getLogger(__name__)

bp = Blueprint("cdr_push", __name__)


def _document() -> dict:
    """mod_json_cdr posts the JSON as the body, or as a `cdr` form field when `encode` is on."""
    raw = request.form.get("cdr") if request.form else None
    text = raw if raw is not None else request.get_data(as_text=True)
    try:
        document = json.loads(text)
    except ValueError:
        abort(400, "body is not a JSON CDR")
    if not isinstance(document, dict) or not isinstance(document.get("variables"), dict):
        abort(400, "JSON CDR without variables")
    return document


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
