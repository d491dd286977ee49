"""The scoping matrix, generated from the app's own URL map: every API route, for every caller (superadmin,
admin, two resellers side by side, a tenant admin, a tenant's normal user), with objects inside and outside
the caller's part of the tree.

- An object outside the scope is 404 with the same body as one that does not exist, and changes nothing.
- A list shows exactly what the scope sees; a filter naming another tenant shows nothing (no 403 to probe with).
- Operator-wide resources are 403 for every tenant scope.
- A route that is not in ROUTES fails test_every_route_is_in_the_matrix: a new route cannot escape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from controlplane.models import AuditLog, LedgerEntry
from controlplane.web.api.access import ACCESS_ATTR
from tests.api.conftest import CALLERS, CLIENTS, SEES, World

OPERATORS = ("superadmin", "admin")
MISSING_ID = 999999
MISSING_UUID = "00000000-dead-beef-0000-000000000000"


@dataclass(frozen=True)
class Route:
    kind: str | None = None  # the object the path names: tenant, account, cdr, call, key; None: a collection
    body: dict | None = None  # JSON sent (writes)
    list_of: str | None = None  # for a list: which objects its items are (tenant, account, cdr, call, key)
    operator_only: bool = False
    needs_edge: bool = False  # asks Kamailio or a media node live: 503 is an answer when they are not running
    query: dict = field(default_factory=dict)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v1/tenants"): Route(list_of="tenant"),
    ("POST", "/api/v1/tenants"): Route(body={"name": "new-client", "realm": "new-client.api.example"}),
    ("GET", "/api/v1/tenants/<int:tenant_id>"): Route("tenant"),
    ("PATCH", "/api/v1/tenants/<int:tenant_id>"): Route("tenant", body={"max_dids": 5}),
    ("POST", "/api/v1/tenants/<int:tenant_id>/suspend"): Route("tenant"),
    ("POST", "/api/v1/tenants/<int:tenant_id>/enable"): Route("tenant"),
    ("POST", "/api/v1/tenants/<int:tenant_id>/credit"): Route("tenant", body={"amount": "1.50", "note": "matrix"}),
    ("GET", "/api/v1/ledger"): Route(list_of="tenant"),
    ("GET", "/api/v1/sip-accounts"): Route(list_of="account"),
    ("POST", "/api/v1/sip-accounts"): Route(body={"username": "2000"}),  # tenant_id filled per caller
    ("GET", "/api/v1/sip-accounts/<int:account_id>"): Route("account"),
    ("PATCH", "/api/v1/sip-accounts/<int:account_id>"): Route("account", body={"caller_id_name": "Matrix"}),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/disable"): Route("account"),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/enable"): Route("account"),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/convert"): Route(
        "account", body={"kind": "trunk", "source_ip": "192.0.2.50"}),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/password"): Route("account"),
    ("GET", "/api/v1/sip-accounts/<int:account_id>/registration"): Route("account", needs_edge=True),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/kick"): Route("account", needs_edge=True),
    ("GET", "/api/v1/cdrs"): Route(list_of="cdr"),
    ("GET", "/api/v1/cdrs/totals"): Route(),
    ("GET", "/api/v1/cdrs/export"): Route(),
    ("GET", "/api/v1/cdrs/<int:cdr_id>"): Route("cdr"),
    ("GET", "/api/v1/calls"): Route(list_of="call"),
    ("DELETE", "/api/v1/calls/<string:uuid>"): Route("call", needs_edge=True),
    ("GET", "/api/v1/api-keys"): Route(list_of="key"),
    ("POST", "/api/v1/api-keys"): Route(body={"scopes": ["cdrs:read"], "name": "matrix"}),
    ("GET", "/api/v1/api-keys/<int:key_id>"): Route("key"),
    ("DELETE", "/api/v1/api-keys/<int:key_id>"): Route("key"),
    ("GET", "/api/v1/audit"): Route(list_of="tenant"),
    ("GET", "/api/v1/carriers"): Route(operator_only=True),
    ("POST", "/api/v1/carriers"): Route(operator_only=True, body={"name": "matrix-carrier", "host": "192.0.2.60"}),
    ("GET", "/api/v1/nodes"): Route(operator_only=True),
    ("GET", "/api/v1/plans"): Route(operator_only=True),
    ("GET", "/api/v1/decks"): Route(operator_only=True),
}
# Not tenant-scoped: the document, its reference page, and FreeSWITCH's CDR push (its own credentials).
UNSCOPED = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/<path:name>", "/api/v1/cdr/freeswitch"}


def _api_rules(app) -> list[tuple[str, str, object]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in UNSCOPED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, app.view_functions[rule.endpoint]))
    return found


def test_every_route_is_in_the_matrix_and_declares_its_access(app):
    rules = _api_rules(app)
    missing = [(m, r) for m, r, _ in rules if (m, r) not in ROUTES]
    assert not missing, f"routes not in the scoping matrix: {missing}"
    undeclared = [(m, r) for m, r, view in rules if not hasattr(view, ACCESS_ATTR)]
    assert not undeclared, f"routes without @access: {undeclared}"
    stale = set(ROUTES) - {(m, r) for m, r, _ in rules}
    assert not stale, f"matrix rows for routes that do not exist: {stale}"


# --- what each caller sees ---------------------------------------------------------------------------------

def _home(who: str) -> str:
    return CALLERS[who][0]


def visible(world: World, who: str, kind: str, owner: str) -> bool:
    """Does `who` see the object of kind `kind` owned by `owner` (a tenant name, or for a key, a caller)?"""
    if kind == "key":
        if who == "user c1":
            return owner == who
        return _home(owner) in SEES[who]
    return owner in SEES[who]


def objects(world: World, kind: str) -> dict[str, object]:
    """Every object of `kind`, by owner."""
    return {"tenant": world.tenant, "account": world.account, "cdr": world.cdr, "call": world.call,
            "key": world.key_id}[kind]


def _url(rule: str, value: object) -> str:
    return re.sub(r"<[^>]+>", str(value), rule)


def _same_as_missing(outside, missing, outside_value: object) -> bool:
    def norm(body: dict, value: object) -> dict:
        return {k: str(v).replace(str(value), "X") for k, v in body.items()}

    return norm(outside.get_json(), outside_value) == norm(missing.get_json(), MISSING_UUID if isinstance(
        outside_value, str) else MISSING_ID)


def _fingerprint(session) -> tuple:
    session.rollback()
    return (session.scalar(select(func.count()).select_from(AuditLog)),
            session.scalar(select(func.count()).select_from(LedgerEntry)))


@pytest.mark.parametrize(("method", "rule"), [k for k, v in ROUTES.items() if v.kind], ids=lambda v: str(v))
def test_objects_outside_the_scope_are_missing(api, world, session, method, rule):
    route = ROUTES[(method, rule)]
    before = _fingerprint(session)
    for who in CALLERS:
        for owner, value in objects(world, route.kind).items():
            if visible(world, who, route.kind, owner):
                continue
            outside = api(who, method, _url(rule, value), json=route.body)
            missing = api(who, method, _url(rule, MISSING_UUID if isinstance(value, str) else MISSING_ID),
                          json=route.body)
            assert outside.status_code == 404, (who, owner, outside.status_code, outside.get_json())
            assert missing.status_code == 404
            assert _same_as_missing(outside, missing, value), (who, owner, outside.get_json(), missing.get_json())
    assert _fingerprint(session) == before, "a refused request changed something"


@pytest.mark.parametrize(("method", "rule"), [k for k, v in ROUTES.items() if v.kind], ids=lambda v: str(v))
def test_objects_inside_the_scope_are_reached(api, world, session, method, rule):
    route = ROUTES[(method, rule)]
    for who in CALLERS:
        for owner, value in objects(world, route.kind).items():
            if not visible(world, who, route.kind, owner):
                continue
            if (method, route.kind) == ("DELETE", "key"):
                value = _spare_key(session, world, owner)  # revoking the callers' own keys would end the test
            reply = api(who, method, _url(rule, value), json=route.body)
            allowed = {200, 201, 400, 403} | ({503} if route.needs_edge else set())
            assert reply.status_code in allowed, (who, owner, reply.status_code, reply.get_json())


def _spare_key(session, world: World, owner: str) -> int:
    from controlplane.models import User
    from controlplane.services import api_keys
    from controlplane.services.scope import Scope

    issued = api_keys.issue(session, Scope.operator("test"), session.get(User, world.user[owner]), ["cdrs:read"])
    session.commit()
    return issued.key.id


@pytest.mark.parametrize(("method", "rule"), [k for k, v in ROUTES.items() if v.list_of], ids=lambda v: str(v))
def test_lists_show_exactly_the_scope(api, world, method, rule):
    route = ROUTES[(method, rule)]
    tenant_of = {v: k for k, v in world.tenant.items()}
    for who in CALLERS:
        reply = api(who, method, rule, query_string={"limit": 500})
        if rule in ("/api/v1/ledger", "/api/v1/audit") and who == "user c1":
            assert reply.status_code == 403  # money and audit are for the tenant's administrators
            continue
        assert reply.status_code == 200, (who, reply.get_json())
        items = reply.get_json()["items"]
        if route.list_of == "tenant":
            owners = {tenant_of.get(i.get("tenant_id", i.get("id"))) for i in items}
            owners.discard(None)  # operator-wide audit entries (no tenant) are the operators' only
            assert owners <= SEES[who], (who, owners)
        elif route.list_of == "key":
            ids = {i["id"] for i in items}
            assert ids == {world.key_id[o] for o in CALLERS if visible(world, who, "key", o)}, who
        else:
            ids = {i["id"] if "id" in i else i["uuid"] for i in items}
            want = {v for o, v in objects(world, route.list_of).items() if visible(world, who, route.list_of, o)}
            assert ids == want, (who, ids, want)
        if route.list_of in ("account", "cdr", "call") or rule == "/api/v1/ledger":
            for owner in CLIENTS:
                if owner in SEES[who]:
                    continue
                narrowed = api(who, method, rule, query_string={"tenant_id": world.tenant[owner]})
                assert narrowed.status_code == 200 and narrowed.get_json()["items"] == [], (who, owner)


def test_totals_and_export_cover_the_scope_only(api, world):
    for who in CALLERS:
        totals = api(who, "GET", "/api/v1/cdrs/totals").get_json()
        seen = {o for o in CLIENTS if o in SEES[who]}
        assert totals["calls"] == len(seen), who
        export = api(who, "GET", "/api/v1/cdrs/export")
        lines = export.get_data(as_text=True).strip().split("\n")
        assert len(lines) == 1 + len(seen), who
        for owner in CLIENTS:
            if owner not in SEES[who]:
                other = api(who, "GET", "/api/v1/cdrs/totals", query_string={"tenant_id": world.tenant[owner]})
                assert other.get_json()["calls"] == 0


@pytest.mark.parametrize(("method", "rule"), [k for k, v in ROUTES.items() if v.operator_only], ids=lambda v: str(v))
def test_operator_resources_refuse_tenant_scopes(api, world, method, rule):
    route = ROUTES[(method, rule)]
    for who in CALLERS:
        reply = api(who, method, rule, json=route.body)
        if who in OPERATORS:
            # The second operator's create names what the first made: a conflict, as it should be.
            assert reply.status_code in ((200, 201) if who == "superadmin" else (200, 201, 409)), (who, reply.json)
        else:
            assert reply.status_code == 403, (who, reply.status_code)


def test_creates_land_inside_the_scope(api, world, session):
    for who in CALLERS:
        for owner in CLIENTS:
            reply = api(who, "POST", "/api/v1/sip-accounts",
                        json={"tenant_id": world.tenant[owner], "username": f"u-{who.replace(' ', '-')}"})
            if owner not in SEES[who]:
                assert reply.status_code == 404, (who, owner)
            elif who == "user c1":
                assert reply.status_code == 403
            else:
                assert reply.status_code == 201, (who, owner, reply.get_json())
                assert reply.get_json()["password"]  # generated, shown once
        made = api(who, "POST", "/api/v1/tenants",
                   json={"name": f"t-{who.replace(' ', '-')}", "realm": f"t-{who.replace(' ', '-')}.api.example"})
        if CALLERS[who][1].value == "CLIENT":
            assert made.status_code == 403
        else:
            assert made.status_code == 201, (who, made.get_json())
            parent = made.get_json()["parent_id"]
            assert parent == (world.tenant[_home(who)] if _home(who) != "operator" else world.tenant["operator"])
        elsewhere = "r2" if _home(who) != "r2" else "r1"
        if elsewhere not in SEES[who] and CALLERS[who][1].value != "CLIENT":
            refused = api(who, "POST", "/api/v1/tenants",
                          json={"name": "x-" + who.replace(" ", "-"), "realm": "x.api.example", "parent": elsewhere})
            assert refused.status_code == 400
            assert refused.get_json()["errors"] == {"parent": [f"tenant {elsewhere!r} not found"]}


def test_no_key_is_401_everywhere(api, world):
    for method, rule in ROUTES:
        reply = api(None, method, _url(rule, 1))
        assert reply.status_code == 401, (method, rule)
