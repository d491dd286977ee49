"""The scoping matrix, generated from the app's own URL map: every API route, for every caller (superadmin,
admin, two resellers side by side, a tenant admin, a tenant's normal user), with objects inside and outside
the caller's part of the tree.

- An object outside the scope is 404 with the same body as one that does not exist, and changes nothing.
- A list shows exactly what the scope sees; a filter naming another tenant shows nothing (no 403 to probe with).
- Operator-wide resources are 403 for every tenant scope.
- A route that is not in ROUTES fails test_every_route_is_in_the_matrix: a new route cannot escape.
"""

from __future__ import annotations

import itertools
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
    ("GET", "/api/v1/tenants/<int:tenant_id>/offers"): Route("tenant"),
    ("POST", "/api/v1/tenants/<int:tenant_id>/offers"): Route("tenant", body={"name": "de", "prefix": "4", "days": 3}),
    ("DELETE", "/api/v1/tenants/<int:tenant_id>/offers/<int:offer_id>"): Route(),  # test_behaviour.py offers
    ("POST", "/api/v1/tenants/<int:tenant_id>/custom-rates"): Route("tenant"),
    ("DELETE", "/api/v1/tenants/<int:tenant_id>/custom-rates"): Route("tenant"),
    ("GET", "/api/v1/ledger"): Route(list_of="tenant"),
    ("GET", "/api/v1/sip-accounts"): Route(list_of="account"),
    ("POST", "/api/v1/sip-accounts"): Route(body={"username": "2000"}),  # tenant_id filled per caller
    ("POST", "/api/v1/sip-accounts/bulk"): Route(),  # test_behaviour.py::test_bulk_accounts_from_csv
    ("GET", "/api/v1/sip-accounts/<int:account_id>"): Route("account"),
    ("PATCH", "/api/v1/sip-accounts/<int:account_id>"): Route("account", body={"caller_id_name": "Matrix"}),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/disable"): Route("account"),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/enable"): Route("account"),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/convert"): Route(
        "account", body={"kind": "trunk", "source_ip": "192.0.2.50"}),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/password"): Route("account"),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/routing"): Route("account", body={"trunk": "carrier-a"}),
    ("GET", "/api/v1/sip-accounts/<int:account_id>/registration"): Route("account", needs_edge=True),
    ("POST", "/api/v1/sip-accounts/<int:account_id>/kick"): Route("account", needs_edge=True),
    ("GET", "/api/v1/dids"): Route(list_of="did"),
    ("POST", "/api/v1/dids"): Route(body={"number": "+4930999000"}),  # tenant_id: test_dids_are_assigned_from_above
    ("GET", "/api/v1/dids/<int:did_id>"): Route("did"),
    ("POST", "/api/v1/dids/<int:did_id>/route"): Route("did", body={"account_id": None}),
    ("DELETE", "/api/v1/dids/<int:did_id>"): Route("did"),
    ("GET", "/api/v1/cdrs"): Route(list_of="cdr"),
    ("GET", "/api/v1/cdrs/totals"): Route(),
    ("GET", "/api/v1/cdrs/summary"): Route(query={"by": "tenant"}),
    ("GET", "/api/v1/cdrs/export"): Route(),
    ("GET", "/api/v1/cdrs/<int:cdr_id>"): Route("cdr"),
    ("GET", "/api/v1/calls"): Route(list_of="call"),
    ("DELETE", "/api/v1/calls/<string:uuid>"): Route("call", needs_edge=True),
    # The account in the body: test_behaviour.py::test_click_to_call_is_scoped_checked_and_reaches_the_node
    ("POST", "/api/v1/calls"): Route(),
    ("GET", "/api/v1/api-keys"): Route(list_of="key"),
    ("POST", "/api/v1/api-keys"): Route(body={"scopes": ["cdrs:read"], "name": "matrix"}),
    ("GET", "/api/v1/api-keys/<int:key_id>"): Route("key"),
    ("DELETE", "/api/v1/api-keys/<int:key_id>"): Route("key"),
    ("GET", "/api/v1/audit"): Route(list_of="tenant"),
    ("GET", "/api/v1/users"): Route(list_of="user"),
    ("POST", "/api/v1/users"): Route(body={"email": "someone@api.example"}),  # tenant_id filled per caller
    ("GET", "/api/v1/users/<int:user_id>"): Route("user"),
    ("GET", "/api/v1/users/me"): Route(),  # tests/api/test_behaviour.py::test_a_portal_session_authenticates
    ("POST", "/api/v1/users/<int:user_id>/disable"): Route("user"),
    ("POST", "/api/v1/users/<int:user_id>/enable"): Route("user"),
    ("GET", "/api/v1/quote"): Route(),  # tenant_id in the query: test_quote_is_scoped_and_hides_the_carrier_side
    ("GET", "/api/v1/jobs/<string:job_id>"): Route(),  # owner or operator: tests/api/test_jobs.py
    ("GET", "/api/v1/carriers"): Route(operator_only=True),
    ("POST", "/api/v1/carriers"): Route(operator_only=True, body={"name": "matrix-carrier", "host": "192.0.2.60"}),
    ("GET", "/api/v1/nodes"): Route(operator_only=True),
    ("GET", "/api/v1/nodes/dispatcher"): Route(operator_only=True, needs_edge=True),
    ("POST", "/api/v1/nodes"): Route(operator_only=True, body={"name": "fs-matrix", "sip": "192.0.2.70"}),
    ("POST", "/api/v1/nodes/<string:name>/disable"): Route(operator_only=True),
    ("POST", "/api/v1/nodes/<string:name>/enable"): Route(operator_only=True),
    ("DELETE", "/api/v1/nodes/<node:name>"): Route(operator_only=True),  # a spare node, disabled: _operator_url
    ("GET", "/api/v1/carriers/<int:carrier_id>"): Route(operator_only=True),
    ("PATCH", "/api/v1/carriers/<int:carrier_id>"): Route(operator_only=True, body={"provider_tag": "matrix"}),
    ("PATCH", "/api/v1/carriers/<int:carrier_id>/trunks/<int:trunk_id>"): Route(operator_only=True,
                                                                               body={"priority": 5}),
    ("DELETE", "/api/v1/carriers/<int:carrier_id>/trunks/<int:trunk_id>"): Route(operator_only=True),
    ("POST", "/api/v1/carriers/<int:carrier_id>/trunks"): Route(operator_only=True,
                                                                body={"name": "carrier-a-2", "host": "192.0.2.2"}),
    ("POST", "/api/v1/carriers/<int:carrier_id>/disable"): Route(operator_only=True),
    ("POST", "/api/v1/carriers/<int:carrier_id>/enable"): Route(operator_only=True),
    ("GET", "/api/v1/trunk-groups"): Route(operator_only=True),
    ("POST", "/api/v1/trunk-groups"): Route(operator_only=True, body={"name": "matrix-group", "trunks": ["carrier-a"]}),
    ("PATCH", "/api/v1/trunk-groups/<int:group_id>"): Route(operator_only=True, body={"trunks": ["carrier-a"]}),
    ("DELETE", "/api/v1/trunk-groups/<int:group_id>"): Route(operator_only=True),
    ("GET", "/api/v1/carriers/registrations"): Route(operator_only=True, needs_edge=True),
    ("GET", "/api/v1/plans"): Route(operator_only=True),
    ("GET", "/api/v1/decks"): Route(operator_only=True),
    ("POST", "/api/v1/plans"): Route(operator_only=True, body={"name": "matrix-plan", "decks": ["retail"]}),
    ("GET", "/api/v1/plans/<int:plan_id>"): Route(operator_only=True),
    ("PATCH", "/api/v1/plans/<int:plan_id>"): Route(operator_only=True, body={"markup_pct": "5"}),
    ("DELETE", "/api/v1/plans/<int:plan_id>"): Route(operator_only=True),
    ("DELETE", "/api/v1/decks/<string:name>"): Route(operator_only=True),  # a spare deck: _operator_url
    ("GET", "/api/v1/decks/<string:name>/rates"): Route(operator_only=True),
    ("GET", "/api/v1/decks/<string:name>/export"): Route(operator_only=True),
    ("POST", "/api/v1/decks/<string:name>/import"): Route(operator_only=True),
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
    if kind in ("key", "user"):
        if who == "user c1":
            return owner == who
        return _home(owner) in SEES[who]
    return owner in SEES[who]


def objects(world: World, kind: str) -> dict[str, object]:
    """Every object of `kind`, by owner."""
    return {"tenant": world.tenant, "account": world.account, "cdr": world.cdr, "call": world.call,
            "key": world.key_id, "user": world.user, "did": world.did}[kind]


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
            body = route.body
            if (method, route.kind) == ("DELETE", "key"):
                value = _spare_key(session, world, owner)  # revoking the callers' own keys would end the test
            if (method, route.kind) == ("DELETE", "did"):
                value = _spare_did(session, world, owner)  # each caller releases a number of its own
            if rule.endswith("/route"):
                body = {"account_id": world.account[owner]}  # stays routed to the account its normal user is
            reply = api(who, method, _url(rule, value), json=body)
            if rule.endswith("/disable") and route.kind == "user":  # the next callers still need their users
                from controlplane.models import User

                session.execute(User.__table__.update().values(active=True))
                session.commit()
            allowed = {200, 201, 204, 400, 403} | ({503} if route.needs_edge else set())
            assert reply.status_code in allowed, (who, owner, reply.status_code, reply.data[:300])


def _spare_key(session, world: World, owner: str) -> int:
    from controlplane.models import User
    from controlplane.services import api_keys
    from controlplane.services.scope import Scope

    issued = api_keys.issue(session, Scope.operator("test"), session.get(User, world.user[owner]), ["cdrs:read"])
    session.commit()
    return issued.key.id


_spares = iter(range(100000, 999999))


def _spare_did(session, world: World, owner: str) -> int:
    from controlplane.services import dids, tenants
    from controlplane.services.scope import Scope

    op = Scope.operator("test")
    did = dids.add_did(session, op, tenants.get_tenant(session, op, world.tenant[owner]), f"+4969{next(_spares)}",
                       to_account="1000")
    session.commit()
    return did.id


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
        elif route.list_of in ("key", "user"):
            ids = {i["id"] for i in items}
            mine = objects(world, route.list_of)
            assert ids >= {mine[o] for o in CALLERS if visible(world, who, route.list_of, o)}, who
            assert not ids & {mine[o] for o in CALLERS if not visible(world, who, route.list_of, o)}, who
        else:
            ids = {i["id"] if "id" in i else i["uuid"] for i in items}
            want = {v for o, v in objects(world, route.list_of).items() if visible(world, who, route.list_of, o)}
            assert ids == want, (who, ids, want)
        if route.list_of in ("account", "cdr", "call", "did") or rule == "/api/v1/ledger":
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
def test_operator_resources_refuse_tenant_scopes(api, world, session, method, rule):
    route = ROUTES[(method, rule)]
    for who in CALLERS:
        url = _operator_url(session, world, method, rule)
        if url.endswith("/import"):
            reply = api(who, method, url, data="49,Germany,0.60,1,1,0\n", content_type="text/csv")
        else:
            reply = api(who, method, url, json=route.body)
        reply.get_data()  # a streamed body is read to its end (the request context closes with it)
        if who in OPERATORS:
            # The second operator's create names what the first made: a conflict, as it should be. A DELETE
            # meets a spare object of its own (_operator_url): gone, for each operator.
            ok = (200, 201, 202) if who == "superadmin" else (200, 201, 202, 409)
            ok = (204,) if method == "DELETE" else ok
            assert reply.status_code in ok + ((503,) if route.needs_edge else ()), (who, reply.json)
        else:
            assert reply.status_code == 403, (who, reply.status_code)


_spare_names = itertools.count(1)


def _operator_url(session, world: World, method: str, rule: str) -> str:
    """An operator-only row's URL for one caller: the seeded objects, and a spare object of its own (made here,
    nothing uses it) wherever the row may delete what it names, so each caller's DELETE meets a deletable one."""
    from controlplane.models import Status
    from controlplane.services import carriers, decks, nodes, plans
    from controlplane.services.scope import Scope

    op, n = Scope.operator("test"), next(_spare_names)
    url = rule.replace("<int:carrier_id>", str(world.carrier))
    if "<int:trunk_id>" in url:
        carrier = carriers.get_carrier(session, op, world.carrier)
        trunk = carriers.add_trunk(session, op, carrier, name=f"spare-trunk-{n}", host=f"192.0.2.{100 + n % 100}")
        url = url.replace("<int:trunk_id>", str(trunk.id))
    if "<int:plan_id>" in url:
        url = url.replace("<int:plan_id>", str(plans.create_plan(session, op, name=f"spare-plan-{n}",
                                                                 decks=["retail"]).id))
    if "<int:group_id>" in url:
        url = url.replace("<int:group_id>", str(carriers.create_trunk_group(session, op, f"spare-group-{n}",
                                                                            ["carrier-a"]).id))
    url = url.replace("<node:name>", "<string:name>")  # a node's name, but never `dispatcher`
    if "<string:name>" in url:
        nodes_row = rule.startswith("/api/v1/nodes/")
        name = "fs-seed" if nodes_row else "retail"
        if method == "DELETE" and nodes_row:
            name = nodes.add_node(session, op, name=f"fs-spare-{n}", sip=f"192.0.2.{100 + n % 100}:{5000 + n}").name
            nodes.set_status(session, op, name, Status.DISABLED)  # only a disabled node may go
        elif method == "DELETE":
            name = decks.import_deck(session, op, f"spare-deck-{n}", ["49,Germany,0.60,1,1,0\n"]).name
        url = url.replace("<string:name>", name)
    session.commit()
    return url


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


def test_users_are_created_in_managed_tenants_with_the_tenant_s_role(api, world):
    for who in CALLERS:
        for owner in ("r1", "c1", "c3"):
            email = f"{who.replace(' ', '-')}-{owner}@new.example"
            reply = api(who, "POST", "/api/v1/users", json={"tenant_id": world.tenant[owner], "email": email})
            if owner not in SEES[who]:
                assert reply.status_code == 404, (who, owner)
            elif who == "user c1":
                assert reply.status_code == 403
            else:
                assert reply.status_code == 201, (who, owner, reply.get_json())
                made = reply.get_json()
                assert made["user"]["role"] == ("RESELLER" if owner.startswith("r") else "CLIENT")
                assert made["password"]


def test_dids_are_assigned_from_above_and_routed_by_the_tenant(api, world):
    for n, who in enumerate(CALLERS):
        for owner in CLIENTS:
            reply = api(who, "POST", "/api/v1/dids", json={"tenant_id": world.tenant[owner],
                                                           "number": f"+4940{n}{world.tenant[owner]:05d}"})
            if owner not in SEES[who]:
                assert reply.status_code == 404, (who, owner)
            elif CALLERS[who][1].value == "CLIENT":
                assert reply.status_code == 403, (who, owner)  # a tenant routes numbers, it does not assign them
            else:
                assert reply.status_code == 201, (who, owner, reply.get_json())
    taken = api("superadmin", "POST", "/api/v1/dids", json={"tenant_id": world.tenant["c3"],
                                                            "number": f"+49301{world.tenant['c1']:06d}"})
    assert taken.status_code == 409
    routed = api("tenant admin c1", "POST", f"/api/v1/dids/{world.did['c1']}/route",
                 json={"account_id": world.account["c1"]})
    assert routed.status_code == 200 and routed.get_json()["destination"] == "account"
    foreign = api("tenant admin c1", "POST", f"/api/v1/dids/{world.did['c1']}/route",
                  json={"account_id": world.account["c3"]})
    assert foreign.status_code == 400 and "account_id" in foreign.get_json()["errors"]


def test_quote_is_scoped_and_hides_the_carrier_side(api, world):
    for who in CALLERS:
        for owner in CLIENTS:
            reply = api(who, "GET", "/api/v1/quote", query_string={"tenant_id": world.tenant[owner],
                                                                   "number": "+4930123456", "billsec": 60})
            if owner not in SEES[who]:
                assert reply.status_code == 404, (who, owner)
                continue
            assert reply.status_code == 200, (who, owner, reply.get_json())
            body = reply.get_json()
            assert body["cost"] == "0.600000" or body["cost"].startswith("0.6"), body
            assert ("routes" in body) == (who in OPERATORS)
            assert ("chain" in body) == (CALLERS[who][1].value != "CLIENT")


def test_cdrs_show_the_carrier_side_to_operators_only(api, world):
    for who in CALLERS:
        items = api(who, "GET", "/api/v1/cdrs").get_json()["items"]
        header = api(who, "GET", "/api/v1/cdrs/export").get_data(as_text=True).split("\n")[0].split(",")
        totals = api(who, "GET", "/api/v1/cdrs/totals").get_json()
        for item in items:
            assert ("buy_cost" in item) == ("attempts" in item) == ("trunk_id" in item) == (who in OPERATORS)
            assert ("chain" in item) == (CALLERS[who][1].value != "CLIENT")
        assert ("buy_cost" in header) == ("trunk_id" in header) == (who in OPERATORS), who
        assert (totals["buy_cost"] is not None) == (who in OPERATORS)
        trunk = api(who, "GET", "/api/v1/cdrs/summary", query_string={"by": "trunk"})
        assert trunk.status_code == (200 if who in OPERATORS else 403)
        by_tenant = api(who, "GET", "/api/v1/cdrs/summary", query_string={"by": "tenant"}).get_json()["items"]
        assert {world.name_of(row["key"]) for row in by_tenant} == {o for o in CLIENTS if o in SEES[who]}


def test_no_key_is_401_everywhere(api, world):
    for method, rule in ROUTES:
        reply = api(None, method, _url(rule, 1))
        assert reply.status_code == 401, (method, rule)
