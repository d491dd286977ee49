"""/api/v1/tenants/{id}/credit and /api/v1/ledger: manual credit (idempotent) and the ledger rows behind balances."""

from __future__ import annotations

from flask import jsonify, make_response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import IntegrityError

from controlplane.models import LedgerKind
from controlplane.services import idempotency, ledger, tenants
from controlplane.web import session as db_session
from controlplane.web.api.access import access, commit, decode_cursor, page_body, scope
from controlplane.web.api.schemas import PageArgs, UtcDateTime, money, page_of

blp = Blueprint("money", __name__, url_prefix="/api/v1", description="Credit and the ledger")


class LedgerEntrySchema(Schema):
    id = fields.Integer()
    tenant_id = fields.Integer()
    at = UtcDateTime()
    kind = fields.Enum(LedgerKind, by_value=True)
    amount = money()
    balance_after = money()
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)


class CreditSchema(Schema):
    amount = money(required=True, metadata={"description": "a decimal string; negative debits"})
    note = fields.String(required=True, validate=validate.Length(1, 1000))


class LedgerListArgs(PageArgs):
    tenant_id = fields.Integer()
    kind = fields.Enum(LedgerKind, by_value=True)
    since = UtcDateTime()
    until = UtcDateTime()


@blp.route("/tenants/<int:tenant_id>/credit", methods=["POST"])
@access("credit", "write")
@blp.arguments(CreditSchema)
@blp.response(201, LedgerEntrySchema)
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}, "required": False,
                      "description": "the same key again returns the first answer and credits nothing more"}])
def add_credit(data: dict, tenant_id: int):
    """Credit a tenant below the caller, with a reference note; the ledger row and the balance move together."""
    session = db_session.current()
    key = request.headers.get("Idempotency-Key")
    if key is None:
        entry = ledger.add_credit(session, scope(), tenants.get_tenant(session, scope(), tenant_id), **data)
        commit()
        return entry
    idempotency.check_key(key)
    owner = scope().actor
    digest = idempotency.fingerprint("POST", request.path, {k: str(v) for k, v in data.items()})
    stored = idempotency.earlier(session, owner, key, digest)
    if stored is None:
        entry = ledger.add_credit(session, scope(), tenants.get_tenant(session, scope(), tenant_id), **data)
        body = LedgerEntrySchema().dump(entry)
        try:
            idempotency.remember(session, owner, key, digest, 201, body)
            commit()
            return make_response(jsonify(body), 201)
        except IntegrityError:  # a twin request committed the same key first: undo ours, answer as it did
            session.rollback()
            stored = idempotency.earlier(session, owner, key, digest)
    response = make_response(jsonify(stored.body), stored.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/ledger")
@access("ledger", "read")
@blp.arguments(LedgerListArgs, location="query")
@blp.response(200, page_of(LedgerEntrySchema))
def list_ledger(args: dict):
    page = ledger.page_ledger(db_session.current(), scope(), tenant_id=args.get("tenant_id"), kind=args.get("kind"),
                              since=args.get("since"), until=args.get("until"),
                              after=decode_cursor(args["cursor"]), limit=args["limit"])
    return page_body(page)
