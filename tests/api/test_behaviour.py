"""The REST API as its users meet it: field errors, keys (grants, expiry, addresses, revocation, minting), the
rate limit, idempotent credit, stable cursor pages, the generated OpenAPI document and its reference page."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

from sqlalchemy import func, select

from controlplane.core.cdr import CallRecord
from controlplane.models import ApiKey, AuditLog, LedgerEntry, User
from controlplane.services import api_keys, cdrs
from controlplane.services.scope import Scope
from controlplane.web import create_app
from tests.api.conftest import CALLERS, log_in


def _key(session, world, who: str, scopes: list[str], **kw) -> str:
    user = session.get(User, world.user[who])
    token = api_keys.issue(session, Scope.operator("test"), user, scopes, **kw).token
    session.commit()
    return token


def _as(app, token: str):  # noqa: ANN202
    client = app.test_client()

    def call(method: str, url: str, **kw):  # noqa: ANN202
        return client.open(url, method=method, headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
                           **kw)

    return call


def test_bad_input_gets_errors_per_field_and_changes_nothing(api, world, session):
    count = session.scalar(select(func.count()).select_from(AuditLog))
    bad = api("reseller r1", "POST", "/api/v1/tenants", json={"name": "x", "realm": "not a domain"})
    assert bad.status_code == 400
    assert bad.get_json()["errors"] == {"realm": ["'not a domain' is not a valid domain name"]}
    schema = api("reseller r1", "POST", "/api/v1/sip-accounts", json={"tenant_id": "nope"})
    assert schema.status_code == 422
    assert set(schema.get_json()["errors"]) == {"tenant_id", "username"}
    assert all(isinstance(v, list) for v in schema.get_json()["errors"].values())
    negative = api("reseller r1", "PATCH", f"/api/v1/tenants/{world.tenant['c1']}", json={"max_dids": -1})
    assert negative.status_code == 422 and "max_dids" in negative.get_json()["errors"]
    duplicate = api("superadmin", "POST", "/api/v1/tenants", json={"name": "c1", "realm": "other.api.example"})
    assert duplicate.status_code == 409 and duplicate.get_json()["errors"] == {"name": ["'c1' exists already"]}
    bad_cursor = api("superadmin", "GET", "/api/v1/cdrs", query_string={"cursor": "garbage!"})
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.get_json()["errors"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditLog)) == count


def test_key_grants_expiry_addresses_and_revocation(app, world, session):
    reader = _as(app, _key(session, world, "reseller r1", ["cdrs:read"]))
    assert reader("GET", "/api/v1/cdrs").status_code == 200
    refused = reader("GET", "/api/v1/tenants")
    assert refused.status_code == 403 and refused.get_json() == {"error": "this key lacks the scope tenants:read"}
    assert reader("POST", f"/api/v1/tenants/{world.tenant['c1']}/credit",
                  json={"amount": "1", "note": "x"}).status_code == 403
    writer = _as(app, _key(session, world, "reseller r1", ["tenants:write"]))
    assert writer("GET", "/api/v1/tenants").status_code == 200  # write implies read

    soon = dt.datetime.utcnow() + dt.timedelta(seconds=1)
    expired_token = _key(session, world, "reseller r1", ["*"], expires_at=soon)
    session.execute(ApiKey.__table__.update().where(ApiKey.key_prefix == expired_token[3:15]).values(
        expires_at=dt.datetime.utcnow() - dt.timedelta(seconds=5)))
    session.commit()
    expired = _as(app, expired_token)("GET", "/api/v1/cdrs")
    assert expired.status_code == 401 and expired.get_json() == {"error": "invalid, expired or revoked API key"}

    elsewhere = _as(app, _key(session, world, "reseller r1", ["*"], allowed_ips="10.0.0.0/8"))
    assert elsewhere("GET", "/api/v1/cdrs").status_code == 401  # the test client calls from 127.0.0.1
    here = _as(app, _key(session, world, "reseller r1", ["*"], allowed_ips="127.0.0.0/8 ::1"))
    assert here("GET", "/api/v1/cdrs").status_code == 200

    owner = _as(app, world.token["reseller r1"])
    victim = _key(session, world, "reseller r1", ["cdrs:read"])
    victim_id = session.scalar(select(ApiKey.id).where(ApiKey.key_prefix == victim[3:15]))
    assert _as(app, victim)("GET", "/api/v1/cdrs").status_code == 200
    used = owner("GET", f"/api/v1/api-keys/{victim_id}").get_json()
    assert used["last_used_at"] is not None and used["scopes"] == ["cdrs:read"]
    assert owner("DELETE", f"/api/v1/api-keys/{victim_id}").get_json()["revoked"] is True
    assert _as(app, victim)("GET", "/api/v1/cdrs").status_code == 401
    assert _as(app, "cp_nothere.secret")("GET", "/api/v1/cdrs").status_code == 401


def test_a_key_is_shown_once_and_cannot_mint_a_wider_one(app, world, session):
    narrow = _as(app, _key(session, world, "reseller r1", ["cdrs:read", "api_keys:write"]))
    wider = narrow("POST", "/api/v1/api-keys", json={"scopes": ["*"]})
    assert wider.status_code == 403
    assert narrow("POST", "/api/v1/api-keys", json={"scopes": ["tenants:write"]}).status_code == 403
    made = narrow("POST", "/api/v1/api-keys", json={"scopes": ["cdrs:read"], "name": "reports"})
    assert made.status_code == 201
    body = made.get_json()
    assert body["token"].startswith("cp_") and body["key"]["name"] == "reports"
    listed = narrow("GET", f"/api/v1/api-keys/{body['key']['id']}").get_json()
    assert "token" not in listed and body["token"] not in str(listed)
    stored = session.get(ApiKey, body["key"]["id"])
    assert body["token"].split(".")[1] not in (stored.key_hash, stored.key_prefix)


def test_rate_limit_answers_429_with_retry_after(world, session, clean_db):
    app = create_app({"TESTING": True, "API_RATE_LIMIT": "3/minute"})
    call = _as(app, _key(session, world, "reseller r1", ["*"]))
    assert [call("GET", "/api/v1/cdrs").status_code for _ in range(3)] == [200, 200, 200]
    limited = call("GET", "/api/v1/cdrs")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    other = _as(app, _key(session, world, "reseller r2", ["*"]))
    assert other("GET", "/api/v1/cdrs").status_code == 200  # per key


def test_credit_with_an_idempotency_key_credits_once(api, world, session):
    url = f"/api/v1/tenants/{world.tenant['c1']}/credit"
    body = {"amount": "2.50", "note": "wire 42"}
    first = api("reseller r1", "POST", url, json=body, headers={"Idempotency-Key": "wire-42"})
    again = api("reseller r1", "POST", url, json=body, headers={"Idempotency-Key": "wire-42"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert Decimal(first.get_json()["amount"]) == Decimal("2.5") and first.get_json()["actor"].startswith("apikey:")
    other_body = api("reseller r1", "POST", url, json={**body, "amount": "9"}, headers={"Idempotency-Key": "wire-42"})
    assert other_body.status_code == 409
    session.rollback()
    credits = session.scalars(select(LedgerEntry.amount).where(LedgerEntry.tenant_id == world.tenant["c1"],
                                                               LedgerEntry.note == "wire 42")).all()
    assert credits == [Decimal("2.5")]
    # Another caller's identical key is its own.
    assert api("superadmin", "POST", url, json=body, headers={"Idempotency-Key": "wire-42"}).status_code == 201


def test_racing_credits_with_one_key_credit_once(app, world, session):
    url = f"/api/v1/tenants/{world.tenant['c2']}/credit"
    token = world.token["reseller r1"]
    replies = []

    def send() -> None:
        client = app.test_client()
        replies.append(client.post(url, json={"amount": "1.00", "note": "race"},
                                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "race-1"}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in replies) == [201] * 6, [r.get_json() for r in replies]
    assert len({r.get_json()["id"] for r in replies}) == 1
    session.rollback()
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.note == "race")) == 1


def test_cursor_pages_stay_stable_while_rows_arrive(api, world, session):
    tenant = world.tenant["c1"]
    start = dt.datetime(2026, 11, 6, 9, 0, 0)

    def add(n: int) -> None:
        cdrs.write_many(session, [CallRecord(uuid=f"page-{n}-{i}", direction="outbound", tenant_id=tenant,
                                             start_at=start, disposition="FAILED") for i in range(n)])
        session.commit()

    add(7)
    seen, cursor, pages = [], None, 0
    while True:
        query = {"tenant_id": tenant, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api("reseller r1", "GET", "/api/v1/cdrs", query_string=query).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if pages == 1:
            add(2)  # newer rows: they belong before page 1 and must not shift what follows
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8  # the 7 and the seed's one, each once
    assert seen == sorted(seen, reverse=True)


def test_openapi_document_is_generated_and_the_reference_page_is_served_locally(app, world):
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    ops = [(path, method) for path, item in doc["paths"].items() for method in item]
    assert ("/api/v1/tenants/{tenant_id}/credit", "post") in ops and len(ops) >= 30
    credit = doc["paths"]["/api/v1/tenants/{tenant_id}/credit"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in credit["parameters"])
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html and "//cdn" not in html and "unpkg" not in html
    bundle = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000


def test_writes_are_audited_with_the_key_before_and_after(api, world, session):
    reply = api("reseller r1", "PATCH", f"/api/v1/tenants/{world.tenant['c1']}", json={"max_dids": 7})
    assert reply.status_code == 200 and reply.get_json()["max_dids"] == 7
    entries = api("reseller r1", "GET", "/api/v1/audit", query_string={"action": "tenant.update"}).get_json()["items"]
    assert entries[0]["actor"] == f"apikey:{world.key_id['reseller r1']}"
    assert entries[0]["details"] == {"before": {"max_dids": None}, "after": {"max_dids": 7}}
    assert api("reseller r2", "GET", "/api/v1/audit",
               query_string={"action": "tenant.update"}).get_json()["items"] == []


def test_the_cli_issues_the_first_key(app, world, session):
    from click.testing import CliRunner

    from controlplane.cli import main

    email = session.get(User, world.user["superadmin"]).email
    result = CliRunner().invoke(main, ["user", "api-key", "--email", email, "--scope", "cdrs:read", "--days", "30"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().rsplit(" ", 1)[-1]
    assert _as(app, token)("GET", "/api/v1/cdrs").status_code == 200
    assert _as(app, token)("GET", "/api/v1/tenants").status_code == 403
    bad = CliRunner().invoke(main, ["user", "api-key", "--email", email, "--scope", "everything"])
    assert bad.exit_code == 2 and "scopes" in bad.output
    missing = CliRunner().invoke(main, ["user", "api-key", "--email", "nobody@x", "--scope", "*"])
    assert missing.exit_code == 3


def test_a_portal_session_authenticates_and_its_writes_need_the_csrf_token(app, world, session):
    client = app.test_client()
    log_in(client, session, world.user["reseller r1"])
    me = client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.get_json()["user"]["id"] == world.user["reseller r1"]
    token = me.get_json()["csrf_token"]
    # The session's scope is the user's: a reseller sees its subtree only.
    names = {t["name"] for t in client.get("/api/v1/tenants").get_json()["items"]}
    assert names == {"r1", "c1", "c2"}
    url = f"/api/v1/tenants/{world.tenant['c1']}"
    refused = client.patch(url, json={"max_dids": 3})
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]
    assert client.patch(url, json={"max_dids": 3}, headers={"X-CSRFToken": "forged"}).status_code == 403
    done = client.patch(url, json={"max_dids": 3}, headers={"X-CSRFToken": token})
    assert done.status_code == 200 and done.get_json()["max_dids"] == 3
    other = app.test_client()  # another browser: its token is not this session's
    log_in(other, session, world.user["reseller r2"])
    assert other.patch(url, json={"max_dids": 4}, headers={"X-CSRFToken": token}).status_code in (403, 404)
    session.execute(User.__table__.update().where(User.id == world.user["reseller r1"]).values(active=False))
    session.commit()
    assert client.get("/api/v1/tenants").status_code == 401  # a disabled user's session ends


def test_totals_count_every_answered_call_and_pages_walk_start_times(api, world, session):
    tenant = world.tenant["c2"]
    base = dt.datetime(2026, 11, 10, 8, 0, 0)
    records = [CallRecord(uuid=f"tot-{i}", direction="outbound", tenant_id=tenant, start_at=base + dt.timedelta(
        minutes=i % 4), billsec=30 if i % 3 else 0, disposition="ANSWERED" if i % 3 else "NO ANSWER",
        cost=Decimal("0.10") if i % 3 else Decimal(0)) for i in range(12)]
    records.append(CallRecord(uuid="tot-undated", direction="outbound", tenant_id=tenant, disposition="FAILED"))
    cdrs.write_many(session, records)
    session.commit()
    totals = api("reseller r1", "GET", "/api/v1/cdrs/totals", query_string={"tenant_id": tenant}).get_json()
    # The seed's answered call, and 8 of the 12 (i % 3 != 0).
    assert (totals["calls"], totals["answered"], totals["billsec"]) == (14, 9, 30 + 8 * 30)
    assert Decimal(totals["cost"]) == Decimal("0.30") + 8 * Decimal("0.10")
    walked, cursor = [], None
    while True:
        query = {"tenant_id": tenant, "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = api("reseller r1", "GET", "/api/v1/cdrs", query_string=query).get_json()
        walked += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert len(walked) == len({c["uuid"] for c in walked}) == 14
    starts = [c["start_at"] for c in walked if c["start_at"]]
    assert starts == sorted(starts, reverse=True) and walked[-1]["uuid"] == "tot-undated"  # undated ones last
    wrong_kind = api("reseller r1", "GET", "/api/v1/tenants", query_string={"cursor": cursor or page_cursor(api)})
    assert wrong_kind.status_code == 400


def page_cursor(api) -> str:
    """A CDR cursor (start time and id): not one a tenant list accepts."""
    return api("superadmin", "GET", "/api/v1/cdrs", query_string={"limit": 1}).get_json()["next_cursor"]


def test_operators_route_an_account_over_a_trunk_group(api, world):
    made = api("superadmin", "POST", "/api/v1/trunk-groups", json={"name": "primary", "trunks": ["carrier-a"]})
    assert made.status_code == 201 and made.get_json()["trunk_ids"]
    assert api("superadmin", "POST", "/api/v1/trunk-groups",
               json={"name": "bad", "trunks": ["nope"]}).get_json()["errors"] == {
        "trunks": ["carrier trunk(s) not found: nope"]}
    account = world.account["c1"]
    routed = api("superadmin", "POST", f"/api/v1/sip-accounts/{account}/routing", json={"trunk_group": "primary"})
    assert routed.status_code == 200 and routed.get_json()["trunk_group_id"] == made.get_json()["id"]
    assert api("reseller r1", "POST", f"/api/v1/sip-accounts/{account}/routing",
               json={"trunk_group": None}).status_code == 403
    seen_by_tenant = api("tenant admin c1", "GET", f"/api/v1/sip-accounts/{account}").get_json()
    assert "trunk_group_id" not in seen_by_tenant and "trunk_id" not in seen_by_tenant
    quote = api("superadmin", "GET", "/api/v1/quote", query_string={
        "tenant_id": world.tenant["c1"], "number": "+4930123456", "account_id": account}).get_json()
    assert [r["trunk"] for r in quote["routes"]] == ["carrier-a"]


def test_bulk_accounts_from_csv_all_or_nothing(api, world, session):
    from controlplane.models import SipAccount

    url = "/api/v1/sip-accounts/bulk"
    c1 = {"tenant_id": world.tenant["c1"]}
    good = "username,caller_id_number,source_ip\n2001,4930111,\n2002,4930112,\npbx-1,,192.0.2.44\n"
    made = api("reseller r1", "POST", url, data=good, content_type="text/csv", query_string=c1)
    assert made.status_code == 201, made.get_json()
    items = made.get_json()["items"]
    assert [i["account"]["username"] for i in items] == ["2001", "2002", "pbx-1"]
    assert items[2]["account"]["kind"] == "trunk" and all(i["password"] for i in items)
    session.rollback()
    before = session.query(SipAccount).count()
    bad = "username,password\n3001,short\n2001,long-enough-pw\n3002,long-enough-pw\n3003,a,b\n"
    refused = api("reseller r1", "POST", url, data=bad, content_type="text/csv", query_string=c1)
    assert refused.status_code == 400
    assert refused.get_json()["errors"]["lines"] == [
        "line 2: password: at least 8 characters", "line 3: username: '2001' exists already in this tenant",
        "line 5: expected 2 columns, found 3"]
    session.rollback()
    assert session.query(SipAccount).count() == before  # line 4 was good, and is not created either
    assert api("reseller r2", "POST", url, data=good, content_type="text/csv", query_string=c1).status_code == 404
    header = api("reseller r1", "POST", url, data="name\nx\n", content_type="text/csv", query_string=c1)
    assert header.status_code == 400 and "body" in header.get_json()["errors"]


def test_carrier_trunks_added_and_a_carrier_disabled_leave_the_edge_tables(api, world, session):
    from sqlalchemy import text

    carrier = world.carrier
    added = api("superadmin", "POST", f"/api/v1/carriers/{carrier}/trunks",
                json={"name": "carrier-a-east", "host": "192.0.2.9", "port": 5080, "priority": 5})
    assert added.status_code == 201 and added.get_json()["port"] == 5080
    dup = api("superadmin", "POST", f"/api/v1/carriers/{carrier}/trunks", json={"name": "carrier-a", "host": "x.y"})
    assert dup.status_code == 409
    body = api("superadmin", "GET", f"/api/v1/carriers/{carrier}").get_json()
    assert [t["name"] for t in body["trunks"]] == ["carrier-a", "carrier-a-east"]
    assert all("password" not in t for t in body["trunks"])

    def addresses() -> set[str]:
        session.rollback()
        return set(session.execute(text("SELECT ip_addr FROM address")).scalars())

    assert {"192.0.2.1", "192.0.2.9"} <= addresses()  # Kamailio takes calls from both (tables written)
    off = api("superadmin", "POST", f"/api/v1/carriers/{carrier}/disable").get_json()
    assert off["changed"] is True and off["carrier"]["status"] == "disabled"
    assert not {"192.0.2.1", "192.0.2.9"} & addresses()
    assert api("superadmin", "POST", f"/api/v1/carriers/{carrier}/enable").get_json()["changed"] is True
    assert {"192.0.2.1", "192.0.2.9"} <= addresses()


def test_offers_and_custom_rates_change_what_a_call_costs(api, world):
    c1, url = world.tenant["c1"], f"/api/v1/tenants/{world.tenant['c1']}"

    def cost() -> str:
        return api("superadmin", "GET", "/api/v1/quote", query_string={
            "tenant_id": c1, "number": "+4930123456", "billsec": 60}).get_json()["cost"]

    assert Decimal(cost()) == Decimal("0.60")
    custom = api("superadmin", "POST", f"{url}/custom-rates", data="4930,Berlin,0.20,60,60,0\n",
                 content_type="text/csv")
    assert custom.status_code == 200 and custom.get_json()["rows"] == 1
    assert Decimal(cost()) == Decimal("0.20")  # the tenant's own row, before its plan's deck
    assert api("reseller r1", "POST", f"{url}/custom-rates", data="49,G,0.01,1,1,0\n",
               content_type="text/csv").status_code == 403
    assert api("superadmin", "DELETE", f"{url}/custom-rates").status_code == 204
    assert Decimal(cost()) == Decimal("0.60")

    offer = api("reseller r1", "POST", f"{url}/offers", json={"name": "Germany free", "prefix": "49", "days": 30})
    assert offer.status_code == 201, offer.get_json()
    assert Decimal(cost()) == 0
    assert api("tenant admin c1", "POST", f"{url}/offers",
               json={"name": "self-service", "prefix": "1", "days": 1}).status_code == 403
    assert [o["name"] for o in api("tenant admin c1", "GET", f"{url}/offers").get_json()["items"]] == ["Germany free"]
    offer_id = offer.get_json()["id"]
    elsewhere = f"/api/v1/tenants/{world.tenant['c3']}/offers/{offer_id}"
    assert api("superadmin", "DELETE", elsewhere).status_code == 404  # the offer is c1's
    assert api("reseller r2", "DELETE", f"{url}/offers/{offer_id}").status_code == 404
    ended = api("reseller r1", "DELETE", f"{url}/offers/{offer_id}")
    assert ended.status_code == 200
    assert Decimal(cost()) == Decimal("0.60")


def test_an_answer_after_a_write_is_what_was_stored(api, world):
    made = api("superadmin", "POST", "/api/v1/tenants", json={"name": "stored", "realm": "stored.api.example"})
    again = api("superadmin", "GET", f"/api/v1/tenants/{made.get_json()['id']}")
    assert made.get_json() == again.get_json()
    assert made.get_json()["balance"] == "0.000000"


def test_attacker_probes_with_other_tenants_ids(api, world):
    # An account of another (even visible) tenant in a quote reads like a missing one.
    other = api("reseller r1", "GET", "/api/v1/quote", query_string={
        "tenant_id": world.tenant["c1"], "number": "+4930123456", "account_id": world.account["c2"]})
    missing = api("reseller r1", "GET", "/api/v1/quote", query_string={
        "tenant_id": world.tenant["c1"], "number": "+4930123456", "account_id": 999999})
    assert other.status_code == missing.status_code == 404
    # A key for a user outside the scope, and one naming an operator admin, are missing users.
    for user in (world.user["reseller r2"], world.user["admin"]):
        assert api("reseller r1", "POST", "/api/v1/api-keys", json={"scopes": ["cdrs:read"], "user_id": user}
                   ).status_code == 404
    # A routing of another tenant's DID to one's own account, and one's DID to another tenant's account.
    assert api("tenant admin c1", "POST", f"/api/v1/dids/{world.did['c3']}/route",
               json={"account_id": world.account["c1"]}).status_code == 404
    # The same Idempotency-Key on another tenant's credit URL is a different request: refused, nothing credited.
    body = {"amount": "1.00", "note": "probe"}
    first = api("reseller r1", "POST", f"/api/v1/tenants/{world.tenant['c1']}/credit", json=body,
                headers={"Idempotency-Key": "probe-1"})
    replay = api("reseller r1", "POST", f"/api/v1/tenants/{world.tenant['c2']}/credit", json=body,
                 headers={"Idempotency-Key": "probe-1"})
    assert first.status_code == 201 and replay.status_code == 409
    # A portal session cookie naming a user by a string id is no session.
    fresh = create_app({"TESTING": True}).test_client()
    with fresh.session_transaction() as cookie:
        cookie["user_id"] = str(world.user["superadmin"])
    assert fresh.get("/api/v1/tenants").status_code == 401


def test_click_to_call_is_scoped_checked_and_reaches_the_node(api, world, session):
    """POST /api/v1/calls: the account must be in the caller's scope (a normal user: its own), a phone (not a
    trunk), active, and the number rated; then the media node gets the originate. A refusal sends nothing."""
    from controlplane.models import MediaNode, SipAccount, SipAccountKind, Status
    from controlplane.services import tenants
    from fs_standin import FreeSwitchStandIn

    fs = FreeSwitchStandIn(inbound_port=0, time_scale=1000.0).start()  # its phones never answer: nothing rings on
    try:
        node = session.query(MediaNode).filter_by(name="fs-seed").one()
        node.esl_host, node.esl_port = "127.0.0.1", fs.inbound_port
        session.commit()
        c1 = world.account["c1"]
        sees_c1 = ("superadmin", "admin", "reseller r1", "tenant admin c1", "user c1")
        for who in CALLERS:
            reply = api(who, "POST", "/api/v1/calls", json={"sip_account_id": c1, "destination": "+4930555123"})
            if who in sees_c1:
                assert reply.status_code == 202, (who, reply.get_json())
                body = reply.get_json()
                assert (body["node"], body["sip_account_id"], body["state"]) == ("fs-seed", c1, "ringing account")
                assert f"origination_uuid={body['uuid']}" in fs.originates[-1]
                sent = fs.originates[-1]
                assert f"cp_c2c_account={c1}," in sent and sent.endswith(" +4930555123 XML controlplane")
            else:
                missing = api(who, "POST", "/api/v1/calls",
                              json={"sip_account_id": 999999, "destination": "+4930555123"})
                assert reply.status_code == 404 and reply.get_json() == {
                    **missing.get_json(), "error": missing.get_json()["error"].replace("999999", str(c1))}, who
        sent = len(fs.originates)
        audited = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "call.originate"))
        assert (sent, audited) == (len(sees_c1), len(sees_c1))

        other = session.query(SipAccount).filter_by(tenant_id=world.tenant["c1"], username="1000").one()
        second = accounts_create(session, world, "c1", "1001")
        refused = [
            ("user c1", {"sip_account_id": second, "destination": "+4930555123"}, 404, None),  # not its own account
            ("tenant admin c1", {"sip_account_id": c1, "destination": "+15551234567"}, 400, "destination"),  # no rate
            ("tenant admin c1", {"sip_account_id": c1, "destination": "not a number"}, 400, "destination"),
            ("tenant admin c1", {"sip_account_id": c1, "destination": "4930}sofia/x"}, 400, "destination"),
            ("tenant admin c1", {"sip_account_id": c1}, 422, "destination"),
        ]
        for who, body, status, field in refused:
            reply = api(who, "POST", "/api/v1/calls", json=body)
            assert reply.status_code == status, (body, reply.get_json())
            if field:
                assert field in reply.get_json()["errors"], reply.get_json()
        session.query(SipAccount).filter_by(id=second).update({"kind": SipAccountKind.TRUNK, "source_ip": "192.0.2.9"})
        session.commit()
        reply = api("superadmin", "POST", "/api/v1/calls",
                    json={"sip_account_id": second, "destination": "+4930555123"})
        assert reply.status_code == 400 and "sip_account_id" in reply.get_json()["errors"]
        tenants.set_status(session, Scope.operator("test"), tenants.get_tenant(session, Scope.operator("test"),
                                                                               other.tenant_id), Status.DISABLED)
        session.commit()
        reply = api("superadmin", "POST", "/api/v1/calls", json={"sip_account_id": c1, "destination": "+4930555123"})
        assert reply.status_code == 409, reply.get_json()
        assert len(fs.originates) == sent  # nothing refused reached the node
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "call.originate")) == audited
        fs.stop()
        node.esl_port = fs.inbound_port or 9  # the node gone: 503, not a hang
        session.commit()
        tenants.set_status(session, Scope.operator("test"), tenants.get_tenant(session, Scope.operator("test"),
                                                                               other.tenant_id), Status.ACTIVE)
        session.commit()
        reply = api("superadmin", "POST", "/api/v1/calls", json={"sip_account_id": c1, "destination": "+4930555123"})
        assert reply.status_code == 503 and "no media node took the call" in reply.get_json()["error"]
    finally:
        fs.stop()


def accounts_create(session, world, tenant: str, username: str) -> int:
    from controlplane.services import accounts, tenants

    op = Scope.operator("test")
    account = accounts.create_sip_account(session, op, tenants.get_tenant(session, op, world.tenant[tenant]),
                                          username, f"pw-{username}-secret").account
    session.commit()
    return account.id


# --- operator objects: update and delete ------------------------------------------------------------------------

def _audited(session, action: str) -> list[AuditLog]:
    session.rollback()  # what the app committed since
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _edge(session, sql: str) -> set:
    from sqlalchemy import text

    session.rollback()
    return set(session.execute(text(sql)).scalars())


def test_a_carrier_is_renamed_and_tagged_and_a_taken_name_or_a_bad_value_changes_nothing(api, world, session):
    url = f"/api/v1/carriers/{world.carrier}"
    done = api("superadmin", "PATCH", url, json={"name": "carrier-a-renamed", "provider_tag": "wholesale"})
    assert done.status_code == 200, done.get_json()
    got = api("superadmin", "GET", url).get_json()
    assert (got["name"], got["provider_tag"]) == ("carrier-a-renamed", "wholesale") == (
        done.get_json()["name"], done.get_json()["provider_tag"])
    assert [t["name"] for t in got["trunks"]] == ["carrier-a"]  # the trunk keeps its own name
    [entry] = _audited(session, "carrier.update")
    assert entry.details == {"before": {"name": "carrier-a", "provider_tag": None},
                             "after": {"name": "carrier-a-renamed", "provider_tag": "wholesale"}}
    assert entry.actor == f"apikey:{world.key_id['superadmin']}"

    assert api("superadmin", "POST", "/api/v1/carriers", json={"name": "carrier-b", "host": "192.0.2.3"}
               ).status_code == 201
    taken = api("superadmin", "PATCH", url, json={"name": "carrier-b"})
    assert taken.status_code == 409 and taken.get_json()["errors"] == {"name": ["'carrier-b' exists already"]}
    bad = api("superadmin", "PATCH", url, json={"name": " ", "provider_tag": "x" * 65})
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"name", "provider_tag"}
    assert api("superadmin", "PATCH", url, json={"host": "192.0.2.4"}).status_code == 422  # a trunk's field
    assert api("superadmin", "PATCH", url, json={}).status_code == 200  # nothing to change: nothing audited
    assert api("superadmin", "GET", url).get_json()["name"] == "carrier-a-renamed"
    assert len(_audited(session, "carrier.update")) == 1
    assert api("reseller r1", "PATCH", url, json={"provider_tag": "mine"}).status_code == 403
    assert api("superadmin", "PATCH", "/api/v1/carriers/999999", json={}).status_code == 404


def test_a_trunk_update_is_checked_as_a_new_trunk_and_reaches_kamailio_s_tables(api, world, session):
    from controlplane.models import DeckKind
    from controlplane.services import decks

    decks.import_deck(session, Scope.operator("test"), "buy-a", ["49,Germany,0.30,1,1,0\n"], kind=DeckKind.BUY)
    session.commit()
    carrier = api("superadmin", "GET", f"/api/v1/carriers/{world.carrier}").get_json()
    trunk_id = carrier["trunks"][0]["id"]
    url = f"/api/v1/carriers/{world.carrier}/trunks/{trunk_id}"
    assert "192.0.2.1" in _edge(session, "SELECT ip_addr FROM address")

    done = api("superadmin", "PATCH", url, json={"host": "192.0.2.77", "port": 5070, "strip_prefix": "00",
                                                 "priority": 3, "buy_deck": "buy-a", "max_channels": 30})
    assert done.status_code == 200, done.get_json()
    [trunk] = api("superadmin", "GET", f"/api/v1/carriers/{world.carrier}").get_json()["trunks"]
    assert trunk == done.get_json()
    assert (trunk["host"], trunk["port"], trunk["strip_prefix"], trunk["priority"], trunk["max_channels"]) == (
        "192.0.2.77", 5070, "00", 3, 30) and trunk["buy_deck_id"]
    addresses = _edge(session, "SELECT ip_addr FROM address")
    assert "192.0.2.77" in addresses and "192.0.2.1" not in addresses  # Kamailio takes calls from the new host
    assert "192.0.2.77:5070" in _edge(session, "SELECT key_name FROM htable")

    # The rules of a new trunk, on the trunk as it would be: a password needs a username, registering both.
    before = api("superadmin", "GET", f"/api/v1/carriers/{world.carrier}").get_json()
    for body, fields in (({"host": "not a host!", "strip_prefix": "0x"}, {"host", "strip_prefix"}),
                         ({"password": "s3cret-pw"}, {"username"}), ({"register": True}, {"register"}),
                         ({"buy_deck": "nope"}, {"buy_deck"}), ({"name": ""}, {"name"})):
        bad = api("superadmin", "PATCH", url, json=body)
        assert bad.status_code == 400 and set(bad.get_json()["errors"]) == fields, (body, bad.get_json())
    assert api("superadmin", "PATCH", url, json={"port": 0}).status_code == 422
    assert api("superadmin", "PATCH", url, json={"codecs": "PCMA"}).status_code == 422  # unknown field
    api("superadmin", "POST", f"/api/v1/carriers/{world.carrier}/trunks", json={"name": "carrier-a-east",
                                                                           "host": "192.0.2.9"})
    taken = api("superadmin", "PATCH", url, json={"name": "carrier-a-east"})
    assert taken.status_code == 409 and taken.get_json()["errors"] == {"name": ["'carrier-a-east' exists already"]}
    after = api("superadmin", "GET", f"/api/v1/carriers/{world.carrier}").get_json()
    assert after["trunks"][0] == before["trunks"][0]

    registered = api("superadmin", "PATCH", url, json={"username": "acct-1", "password": "s3cret-pw",
                                                       "register": True, "buy_deck": None})
    assert registered.status_code == 200 and registered.get_json()["auth_mode"] == "register"
    assert registered.get_json()["buy_deck_id"] is None and "password" not in registered.get_json()
    assert f"trunk-{trunk_id}" in _edge(session, "SELECT l_uuid FROM uacreg")
    updates = _audited(session, "carrier_trunk.update")
    assert len(updates) == 2
    assert updates[0].details["before"]["host"] == "192.0.2.1" and updates[0].details["after"]["port"] == 5070
    assert updates[1].details["after"]["password"] == "(set)" and "s3cret" not in str(updates[1].details)

    elsewhere = api("superadmin", "POST", "/api/v1/carriers", json={"name": "carrier-b", "host": "192.0.2.3"})
    foreign = f"/api/v1/carriers/{elsewhere.get_json()['id']}/trunks/{trunk_id}"
    assert api("superadmin", "PATCH", foreign, json={"priority": 1}).status_code == 404  # carrier-a's trunk
    assert api("superadmin", "DELETE", foreign).status_code == 404
    assert api("reseller r1", "PATCH", url, json={"priority": 1}).status_code == 403


def test_a_trunk_is_deleted_only_when_nothing_needs_it(api, world, session, live):
    from controlplane.core.cdr import CallRecord
    from controlplane.kamailio.tables import sync
    from controlplane.models import CarrierTrunk, TrunkAddress
    from controlplane.services import decks

    carrier_url = f"/api/v1/carriers/{world.carrier}"
    [only] = api("superadmin", "GET", carrier_url).get_json()["trunks"]
    alone = api("superadmin", "DELETE", f"{carrier_url}/trunks/{only['id']}")
    assert alone.status_code == 409 and set(alone.get_json()["errors"]) == {"carrier"}
    assert "disable the carrier instead" in alone.get_json()["errors"]["carrier"][0]

    east = api("superadmin", "POST", f"{carrier_url}/trunks", json={"name": "east", "host": "192.0.2.9"}).get_json()
    url = f"{carrier_url}/trunks/{east['id']}"
    session.add(TrunkAddress(trunk_id=east["id"], address="198.51.100.9", mask=32))
    session.commit()
    account = world.account["c1"]

    def refused(reason: str) -> None:
        reply = api("superadmin", "DELETE", url)
        assert reply.status_code == 409 and list(reply.get_json()["errors"]) == [reason], reply.get_json()
        assert api("superadmin", "GET", carrier_url).get_json()["trunks"][-1]["name"] == "east"

    assert api("superadmin", "POST", f"/api/v1/sip-accounts/{account}/routing", json={"trunk": "east"}
               ).status_code == 200
    refused("sip_accounts")
    api("superadmin", "POST", f"/api/v1/sip-accounts/{account}/routing", json={})
    group = api("superadmin", "POST", "/api/v1/trunk-groups", json={"name": "g", "trunks": ["east"]}).get_json()
    refused("trunk_groups")
    assert api("superadmin", "DELETE", f"/api/v1/trunk-groups/{group['id']}").status_code == 204
    decks.import_deck(session, Scope.operator("test"), "buy-east", ["49,Germany,0.30,1,1,0,0,0,0,,east\n"])
    session.commit()
    refused("rates")
    decks.import_deck(session, Scope.operator("test"), "buy-east", ["49,Germany,0.30,1,1,0\n"])
    session.commit()
    live.admit("on-east", world.tenant["c1"], account, None, None, {"uuid": "on-east", "tenant": world.tenant["c1"]})
    assert live.take_channel("on-east", east["id"], None, "east")
    refused("calls")  # its CDR, written when it ends, names the trunk
    live.end("on-east")
    cdrs.write_many(session, [CallRecord(uuid="over-east", direction="outbound", tenant_id=world.tenant["c1"],
                                         trunk_id=east["id"], disposition="ANSWERED")])
    session.commit()
    refused("cdrs")
    assert "disable it instead" in api("superadmin", "DELETE", url).get_json()["errors"]["cdrs"][0]
    assert not _audited(session, "carrier_trunk.delete")

    west = api("superadmin", "POST", f"{carrier_url}/trunks", json={"name": "west", "host": "192.0.2.10"}).get_json()
    session.add(TrunkAddress(trunk_id=west["id"], address="198.51.100.10", mask=32))
    session.commit()
    sync(session)  # what a write through the API does after its commit
    assert "198.51.100.10" in _edge(session, "SELECT ip_addr FROM address")
    gone = api("superadmin", "DELETE", f"{carrier_url}/trunks/{west['id']}")
    assert gone.status_code == 204 and gone.data == b""
    assert [t["name"] for t in api("superadmin", "GET", carrier_url).get_json()["trunks"]] == ["carrier-a", "east"]
    assert api("superadmin", "DELETE", f"{carrier_url}/trunks/{west['id']}").status_code == 404
    session.rollback()
    assert session.get(CarrierTrunk, west["id"]) is None
    assert not session.query(TrunkAddress).filter_by(trunk_id=west["id"]).count()
    assert not {"192.0.2.10", "198.51.100.10"} & _edge(session, "SELECT ip_addr FROM address")
    [entry] = _audited(session, "carrier_trunk.delete")
    assert entry.entity_id == str(west["id"]) and entry.details["after"] is None
    assert entry.details["before"]["addresses"] == ["198.51.100.10/32"]
    assert api("reseller r1", "DELETE", url).status_code == 403


def test_a_trunk_group_is_reordered_and_deleted_when_no_account_routes_over_it(api, world, session):
    api("superadmin", "POST", f"/api/v1/carriers/{world.carrier}/trunks", json={"name": "east", "host": "192.0.2.9"})
    made = api("superadmin", "POST", "/api/v1/trunk-groups", json={"name": "g", "trunks": ["carrier-a", "east"]})
    ids, url = made.get_json()["trunk_ids"], f"/api/v1/trunk-groups/{made.get_json()['id']}"

    done = api("superadmin", "PATCH", url, json={"trunks": ["east", "carrier-a"]})
    assert done.status_code == 200 and done.get_json()["trunk_ids"] == ids[::-1]
    [listed] = api("superadmin", "GET", "/api/v1/trunk-groups").get_json()["items"]
    assert listed["trunk_ids"] == ids[::-1]
    for body in ({"trunks": []}, {"trunks": ["east", "east"]}, {"trunks": ["nope"]}):
        bad = api("superadmin", "PATCH", url, json=body)
        assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"trunks"}, body
    assert api("superadmin", "PATCH", url, json={}).get_json()["trunk_ids"] == ids[::-1]
    assert api("superadmin", "PATCH", url, json={"name": "other"}).status_code == 422
    [entry] = _audited(session, "trunk_group.update")
    assert entry.details == {"before": {"trunks": ["carrier-a", "east"]}, "after": {"trunks": ["east", "carrier-a"]}}

    account = world.account["c1"]
    api("superadmin", "POST", f"/api/v1/sip-accounts/{account}/routing", json={"trunk_group": "g"})
    used = api("superadmin", "DELETE", url)
    assert used.status_code == 409 and set(used.get_json()["errors"]) == {"sip_accounts"}
    assert api("superadmin", "GET", "/api/v1/trunk-groups").get_json()["items"] == [listed]
    api("superadmin", "POST", f"/api/v1/sip-accounts/{account}/routing", json={})
    assert api("reseller r1", "DELETE", url).status_code == 403
    assert api("superadmin", "DELETE", url).status_code == 204
    assert api("superadmin", "GET", "/api/v1/trunk-groups").get_json()["items"] == []
    assert api("superadmin", "PATCH", url, json={}).status_code == 404
    [entry] = _audited(session, "trunk_group.delete")
    assert entry.details == {"before": {"name": "g", "trunks": ["east", "carrier-a"]}, "after": None}


def test_a_plan_is_read_changed_and_deleted_when_no_tenant_is_on_it(api, world, session):
    from controlplane.services import decks

    decks.import_deck(session, Scope.operator("test"), "premium", ["4930,Berlin,0.90,1,1,0\n"])
    session.commit()
    basic = next(p for p in api("superadmin", "GET", "/api/v1/plans").get_json()["items"] if p["name"] == "basic")
    url = f"/api/v1/plans/{basic['id']}"
    assert api("superadmin", "GET", url).get_json() == basic

    done = api("superadmin", "PATCH", url, json={"decks": ["premium", "retail"], "markup_pct": "12.5"})
    assert done.status_code == 200, done.get_json()
    got = api("superadmin", "GET", url).get_json()
    assert got == done.get_json() and Decimal(got["markup_pct"]) == Decimal("12.5") and len(got["deck_ids"]) == 2
    quote = api("superadmin", "GET", "/api/v1/quote", query_string={
        "tenant_id": world.tenant["c1"], "number": "+4930123456", "billsec": 60}).get_json()
    assert Decimal(quote["cost"]) > Decimal("0.90")  # the first deck's row, marked up
    [entry] = _audited(session, "plan.update")
    assert entry.details == {"before": {"decks": ["retail"], "markup_pct": "0"},
                             "after": {"decks": ["premium", "retail"], "markup_pct": "12.5"}}

    api("superadmin", "POST", "/api/v1/plans", json={"name": "gold", "decks": ["premium"]})
    for body, status, field in (({"decks": ["nope"]}, 400, "decks"), ({"decks": []}, 400, "decks"),
                                ({"markup_pct": "-1"}, 400, "markup_pct"), ({"name": "gold"}, 409, "name"),
                                ({"markup_pct": "100000"}, 400, "markup_pct"), ({"currency": "EUR"}, 422, "currency")):
        bad = api("superadmin", "PATCH", url, json=body)
        assert bad.status_code == status and set(bad.get_json()["errors"]) == {field}, (body, bad.get_json())
    assert api("superadmin", "GET", url).get_json() == got
    assert len(_audited(session, "plan.update")) == 1

    used = api("superadmin", "DELETE", url)
    assert used.status_code == 409 and set(used.get_json()["errors"]) == {"tenants"}
    assert "move them to another plan first" in used.get_json()["errors"]["tenants"][0]
    assert api("superadmin", "GET", url).status_code == 200
    gold = next(p for p in api("superadmin", "GET", "/api/v1/plans").get_json()["items"] if p["name"] == "gold")
    assert api("reseller r1", "DELETE", f"/api/v1/plans/{gold['id']}").status_code == 403
    assert api("superadmin", "DELETE", f"/api/v1/plans/{gold['id']}").status_code == 204
    assert api("superadmin", "GET", f"/api/v1/plans/{gold['id']}").status_code == 404
    [entry] = _audited(session, "plan.delete")
    assert entry.details == {"before": {"name": "gold", "decks": ["premium"], "markup_pct": "0"}, "after": None}


def test_a_deck_is_deleted_with_its_rates_only_when_nothing_rates_or_buys_with_it(api, world, session):
    from controlplane.models import Rate, RateDeck, SipAccount, Tenant
    from controlplane.services import decks

    op = Scope.operator("test")
    for name in ("spare", "buy-a"):
        decks.import_deck(session, op, name, ["49,Germany,0.60,1,1,0\n", "33,France,0.50,1,1,0\n"])
    session.commit()

    def refused(name: str, reason: str) -> None:
        reply = api("superadmin", "DELETE", f"/api/v1/decks/{name}")
        assert reply.status_code == 409 and reason in reply.get_json()["errors"], reply.get_json()
        assert api("superadmin", "GET", f"/api/v1/decks/{name}/rates").status_code == 200

    refused("retail", "plans")  # basic lists it
    api("superadmin", "PATCH", f"/api/v1/carriers/{world.carrier}/trunks/"
        f"{api('superadmin', 'GET', f'/api/v1/carriers/{world.carrier}').get_json()['trunks'][0]['id']}",
        json={"buy_deck": "buy-a"})
    refused("buy-a", "trunks")
    session.query(SipAccount).filter_by(id=world.account["c1"]).update(
        {"rate_deck_id": session.scalar(select(RateDeck.id).where(RateDeck.name == "spare"))})
    session.commit()
    refused("spare", "sip_accounts")
    session.query(SipAccount).filter_by(id=world.account["c1"]).update({"rate_deck_id": None})
    session.commit()
    custom = api("superadmin", "POST", f"/api/v1/tenants/{world.tenant['c1']}/custom-rates",
                 data="4930,Berlin,0.20,60,60,0\n", content_type="text/csv")
    assert custom.status_code == 200
    refused(f"custom:{world.tenant['c1']}", "tenants")
    decks.set_default_deck(session, op, "spare")
    session.commit()
    refused("spare", "is_default")
    assert not _audited(session, "deck.delete")
    decks.set_default_deck(session, op, "buy-a")
    session.commit()

    deck_id = session.scalar(select(RateDeck.id).where(RateDeck.name == "spare"))
    assert api("reseller r1", "DELETE", "/api/v1/decks/spare").status_code == 403
    gone = api("superadmin", "DELETE", "/api/v1/decks/spare")
    assert gone.status_code == 204
    assert api("superadmin", "GET", "/api/v1/decks/spare/rates").status_code == 404
    assert "spare" not in {d["name"] for d in api("superadmin", "GET", "/api/v1/decks").get_json()["items"]}
    session.rollback()
    assert not session.query(Rate).filter_by(deck_id=deck_id).count()
    assert session.query(Tenant).count() == len(world.tenant)  # nothing else went with it
    assert api("superadmin", "DELETE", "/api/v1/decks/spare").status_code == 404
    [entry] = _audited(session, "deck.delete")
    assert entry.details["before"] == {"name": "spare", "kind": "sell", "currency": "USD", "version": 1, "rows": 2}


def test_a_node_is_removed_only_once_disabled_and_drained(api, world, session, live):
    url = "/api/v1/nodes/fs-seed"
    assert any(row.endswith("192.0.2.80:5060") for row in _edge(session, "SELECT destination FROM dispatcher"))
    active = api("superadmin", "DELETE", url)
    assert active.status_code == 409 and set(active.get_json()["errors"]) == {"status"}
    assert api("superadmin", "POST", f"{url}/disable").get_json()["changed"] is True
    live.admit("draining", world.tenant["c1"], world.account["c1"], None, None,
               {"uuid": "draining", "tenant": world.tenant["c1"], "node": "fs-seed"})
    draining = api("superadmin", "DELETE", url)
    assert draining.status_code == 409 and set(draining.get_json()["errors"]) == {"calls"}
    assert "fs-seed" in {n["name"] for n in api("superadmin", "GET", "/api/v1/nodes").get_json()["items"]}
    assert not _audited(session, "media_node.delete")
    live.end("draining")
    assert api("reseller r1", "DELETE", url).status_code == 403
    assert api("superadmin", "DELETE", url).status_code == 204
    assert api("superadmin", "GET", "/api/v1/nodes").get_json()["items"] == []
    assert api("superadmin", "DELETE", url).status_code == 404
    assert api("superadmin", "POST", f"{url}/enable").status_code == 404
    [entry] = _audited(session, "media_node.delete")
    assert entry.details == {"before": {"name": "fs-seed", "sip": "192.0.2.80:5060", "transport": "udp",
                                        "weight": 50, "status": "disabled"}, "after": None}
