"""The portal's foundations, through its own pages: login and its throttle, roles and what each may open, the
masquerade, sign-up with a mailed link, password reset, CSRF on every change."""

from __future__ import annotations

from sqlalchemy import select

from controlplane.models import AuditLog, SipAccount, Status, Tenant, User
from controlplane.web.portal.context import NAV
from tests.api.conftest import CALLERS, PORTAL_PASSWORD, log_in
from tests.portal.conftest import csrf


def _audit(session, action: str) -> list[AuditLog]:
    session.expire_all()
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _try(client, email: str, password: str):  # noqa: ANN202
    token = csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def test_login_logout_and_the_session(app, world, session):
    client = app.test_client()
    assert client.get("/").status_code == 302  # to the login page
    log_in(client, session, world.user["superadmin"])
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="operator-dashboard"' in page.get_data(as_text=True)
    assert _audit(session, "user.login")
    token = csrf(page.get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_passwords_lock_the_account_for_a_while_and_are_audited(app, world, session):
    client = app.test_client()
    log_in(client, session, world.user["tenant admin c1"])  # sets the password
    email = session.get(User, world.user["tenant admin c1"]).email
    fresh = app.test_client()
    for _ in range(5):
        assert _try(fresh, email, "wrong-password").status_code == 401
    locked = _try(fresh, email, PORTAL_PASSWORD)  # the right password, but locked now
    assert locked.status_code == 429 and "Too many failed logins" in locked.get_data(as_text=True)
    failures = _audit(session, "user.login_failed")
    assert len(failures) == 5 and failures[-1].details["locked"] == ["account"]
    assert _try(fresh, "nobody@nowhere.example", "x" * 12).status_code == 401  # the same answer for no one


def test_each_role_sees_its_pages_and_gets_404_for_the_others(app, world, session):
    from controlplane.web.portal.context import portal_scope  # noqa: F401 - the NAV's rules are the pages' rules

    pages = {"portal.home.dashboard": "/", "portal.tenants.tree": "/tenants",
             "portal.accounts.list_accounts": "/sip-accounts", "portal.calls.live": "/calls",
             "portal.cdrs.list_cdrs": "/cdrs", "portal.credit.history": "/credit", "portal.rates.my_rates": "/rates",
             "portal.operator.carrier_list": "/carriers", "portal.operator.node_list": "/nodes",
             "portal.operator.deck_list": "/decks", "portal.operator.plan_list": "/plans-admin",
             "portal.manage.reports": "/reports", "portal.manage.quote": "/quote", "portal.manage.user_list": "/users",
             "portal.manage.audit_log": "/audit", "portal.numbers.group_list": "/trunk-groups",
             "portal.numbers.did_list": "/dids"}
    managers_only = {"portal.accounts.list_accounts", "portal.credit.history", "portal.manage.reports",
                     "portal.manage.quote", "portal.manage.user_list", "portal.manage.audit_log",
                     "portal.numbers.did_list"}
    assert {n.endpoint for n in NAV} == set(pages)
    operator_only = {e for e in pages if e.startswith("portal.operator.")} | {"portal.numbers.group_list"}
    expected = {
        "superadmin": set(pages), "admin": set(pages), "reseller r1": set(pages) - operator_only,
        "tenant admin c1": set(pages) - {"portal.tenants.tree"} - operator_only,
        "user c1": set(pages) - {"portal.tenants.tree"} - managers_only - operator_only,
    }
    for who, allowed in expected.items():
        client = app.test_client()
        log_in(client, session, world.user[who])
        home = client.get("/").get_data(as_text=True)
        for endpoint, url in pages.items():
            status = client.get(url).status_code
            assert status == (200 if endpoint in allowed else 404), (who, url, status)
            assert (f'href="{url}"' in home) == (endpoint in allowed), (who, url)
    c2 = world.tenant["c2"]
    client = app.test_client()
    log_in(client, session, world.user["reseller r2"])
    assert client.get(f"/tenants/{c2}").status_code == 404  # another reseller's client: as if it did not exist
    assert client.get("/tenants/999999").status_code == 404


def test_a_reseller_uses_a_clients_account_and_comes_back(app, world, session):
    client = app.test_client()
    log_in(client, session, world.user["reseller r1"])
    c1 = world.tenant["c1"]
    token = csrf(client.get(f"/tenants/{c1}").get_data(as_text=True))
    assert client.post(f"/tenants/{c1}/use", data={}).status_code == 302  # no token: nothing happens
    assert "masquerade-banner" not in client.get("/").get_data(as_text=True)
    client.post(f"/tenants/{c1}/use", data={"csrf_token": token})
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="masquerade-banner"' in home and 'data-testid="tenant-dashboard"' in home
    assert client.get("/tenants").status_code == 404  # as c1's admin: no tenants below
    accounts = client.get("/sip-accounts").get_data(as_text=True)
    assert "1000" in accounts
    me = client.get("/api/v1/sip-accounts").get_json()  # the portal's scripts act as the masquerade too
    assert {a["tenant_id"] for a in me["items"]} == {c1}
    start = _audit(session, "user.masquerade")
    assert start and start[-1].actor == f"user:{world.user['reseller r1']}" and start[-1].entity_id == str(c1)
    client.post("/tenants/back", data={"csrf_token": csrf(home)})
    assert "masquerade-banner" not in client.get("/").get_data(as_text=True)
    assert _audit(session, "user.masquerade_end")
    other = app.test_client()  # reseller r2 may not use r1's client
    log_in(other, session, world.user["reseller r2"])
    token = csrf(other.get("/").get_data(as_text=True))
    assert other.post(f"/tenants/{c1}/use", data={"csrf_token": token}).status_code == 404


def test_a_client_creates_a_sip_account_and_sees_its_password_once(app, world, session):
    client = app.test_client()
    log_in(client, session, world.user["tenant admin c1"])
    page = client.get("/sip-accounts").get_data(as_text=True)
    reply = client.post("/sip-accounts", data={"csrf_token": csrf(page), "tenant_id": world.tenant["c1"],
                                                "kind": "account", "username": "1007", "webphone_enabled": "y"})
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and 'data-testid="new-password"' in body
    account = session.scalar(select(SipAccount).where(SipAccount.username == "1007"))
    assert account.tenant_id == world.tenant["c1"] and account.webphone_enabled
    assert 'data-testid="new-password"' not in client.get("/sip-accounts").get_data(as_text=True)
    dup = client.post("/sip-accounts", data={"csrf_token": csrf(body), "tenant_id": world.tenant["c1"],
                                              "kind": "account", "username": "1007"})
    assert dup.status_code == 400 and "exists already" in dup.get_data(as_text=True)
    forged = client.post("/sip-accounts", data={"csrf_token": csrf(body), "tenant_id": world.tenant["c2"],
                                                 "kind": "account", "username": "1008"})
    assert forged.status_code in (404, 400)  # another tenant's id in the form: not found, nothing created
    assert session.scalar(select(SipAccount).where(SipAccount.username == "1008")) is None


def test_suspend_from_the_tenant_page(app, world, session):
    client = app.test_client()
    log_in(client, session, world.user["reseller r1"])
    c2 = world.tenant["c2"]
    token = csrf(client.get(f"/tenants/{c2}").get_data(as_text=True))
    client.post(f"/tenants/{c2}/suspend", data={"csrf_token": token})
    session.expire_all()
    assert session.get(Tenant, c2).status == Status.DISABLED
    assert _audit(session, "tenant.disable") or _audit(session, "tenant.suspend")


def test_sign_up_confirms_the_address_by_mail(app, world, session, mailbox):
    client = app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    reply = client.post("/signup", data={"csrf_token": csrf(page), "company": "Newco Ltd",
                                          "email": "owner@newco.example", "password": "newco-pass-123"})
    assert reply.status_code == 200 and "owner@newco.example" in reply.get_data(as_text=True)
    mailbox.wait(1)
    assert mailbox.messages[0]["To"] == "owner@newco.example"
    refused = _try(client, "owner@newco.example", "newco-pass-123")
    assert refused.status_code == 401 and "confirm your email" in refused.get_data(as_text=True)
    link = mailbox.link()
    assert client.get(link.split("portal.test", 1)[1]).status_code == 302
    assert _try(client, "owner@newco.example", "newco-pass-123").status_code == 302
    user = session.scalar(select(User).where(User.email == "owner@newco.example"))
    assert user.tenant.name == "Newco Ltd" and user.tenant.parent_id == world.tenant["operator"]
    taken = client.post("/signup", data={"csrf_token": csrf(client.get("/signup").get_data(as_text=True)),
                                          "company": "Other", "email": "owner@newco.example",
                                          "password": "another-pass-1"})
    assert taken.status_code == 400


def test_password_reset_by_mail_works_once(app, world, session, mailbox):
    user = session.get(User, world.user["tenant admin c1"])
    client = app.test_client()
    page = client.get("/forgot").get_data(as_text=True)
    client.post("/forgot", data={"csrf_token": csrf(page), "email": user.email})
    client.post("/forgot", data={"csrf_token": csrf(page), "email": "unknown@nowhere.example"})
    mailbox.wait(1)
    assert len(mailbox.messages) == 1  # the unknown address got the same page, and no mail
    path = mailbox.link().split("portal.test", 1)[1]
    form = client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf(form), "password": "brand-new-pass-1"}).status_code == 302
    assert _try(app.test_client(), user.email, "brand-new-pass-1").status_code == 302
    assert client.get(path).status_code == 400  # used once: the password it was bound to changed


def test_every_page_of_every_role_answers(app, world, session):
    quote = f"/quote?tenant_id={world.tenant['c1']}&number=4930123&billsec=90"
    managing = ("/reports?by=destination", "/reports?by=failed", quote, "/audit?action=user", "/users")
    for who in CALLERS:
        client = app.test_client()
        log_in(client, session, world.user[who])
        for url in ("/", "/calls", "/cdrs?since=2026-11-01&until=2026-11-30", "/rates?q=49", "/plans",
                    *(managing if who != "user c1" else ())):
            assert client.get(url).status_code == 200, (who, url)
    assert app.test_client().get("/plans").status_code == 200  # public


def test_the_dialer_gets_only_the_users_web_phone_accounts(app, world, session):
    from controlplane.services import accounts, tenants
    from controlplane.services.scope import Scope

    op = Scope.operator("test")
    c1 = tenants.get_tenant(session, op, world.tenant["c1"])
    accounts.update_account(session, op, session.get(SipAccount, world.account["c1"]), {"webphone_enabled": True})
    other = accounts.create_sip_account(session, op, c1, "1002", "pw-1002-secret").account
    accounts.update_account(session, op, other, {"webphone_enabled": True})
    trunk = accounts.create_sip_account(session, op, c1, "pbx", "pw-pbx-secret-1", kind=accounts.SipAccountKind.TRUNK,
                                        source_ip="192.0.2.44").account
    accounts.update_account(session, op, trunk, {"webphone_enabled": True})
    session.commit()
    seen = {}
    for who in ("tenant admin c1", "user c1", "reseller r1"):
        client = app.test_client()
        log_in(client, session, world.user[who])
        body = client.get("/phone/accounts").get_json()
        seen[who] = {a["username"] for a in body["items"]}
        for a in body["items"]:
            assert a["ha1"] == session.get(SipAccount, a["id"]).ha1 and a["realm"] == c1.realm
            assert a["ws_url"].startswith("wss://")
        page = client.get("/").get_data(as_text=True)
        assert ('data-testid="dialer"' in page) == (who != "reseller r1")
    assert seen == {"tenant admin c1": {"1000", "1002"}, "user c1": {"1000"}, "reseller r1": set()}
