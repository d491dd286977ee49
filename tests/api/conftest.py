"""A seeded world for the REST API: the operator, two resellers side by side, their clients, one user per role,
each with an API key, and tenant-owned objects (SIP accounts, CDRs, ledger rows, keys, live calls) in every
tenant, so a test can ask for something inside and something outside each caller's part of the tree."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from controlplane.core.cdr import CallRecord
from controlplane.models import Role, SipAccount, TenantKind, TenantRole, User
from controlplane.services import accounts, api_keys, carriers, cdrs, decks, dids, ledger, nodes, plans, tenants
from controlplane.services.scope import Scope
from controlplane.state.live_calls import LiveCalls
from controlplane.web import create_app

# operator -> r1 (c1, c2), r2 (c3). Each client has SIP account 1000.
TREE = (("r1", TenantKind.RESELLER, None), ("r2", TenantKind.RESELLER, None),
        ("c1", TenantKind.CLIENT, "r1"), ("c2", TenantKind.CLIENT, "r1"), ("c3", TenantKind.CLIENT, "r2"))
CLIENTS = ("c1", "c2", "c3")
# Who calls the API: (home tenant, role, tenant role).
CALLERS = {
    "superadmin": ("operator", Role.SUPERADMIN, TenantRole.ADMIN),
    "admin": ("operator", Role.ADMIN, TenantRole.ADMIN),
    "reseller r1": ("r1", Role.RESELLER, TenantRole.ADMIN),
    "reseller r2": ("r2", Role.RESELLER, TenantRole.ADMIN),
    "tenant admin c1": ("c1", Role.CLIENT, TenantRole.ADMIN),
    "user c1": ("c1", Role.CLIENT, TenantRole.USER),
}
# Tenants each caller sees.
SEES = {
    "superadmin": {"operator", "r1", "r2", "c1", "c2", "c3"},
    "admin": {"operator", "r1", "r2", "c1", "c2", "c3"},
    "reseller r1": {"r1", "c1", "c2"},
    "reseller r2": {"r2", "c3"},
    "tenant admin c1": {"c1"},
    "user c1": {"c1"},
}


@dataclass
class World:
    tenant: dict[str, int] = field(default_factory=dict)  # name -> id
    account: dict[str, int] = field(default_factory=dict)  # tenant name -> its account 1000
    cdr: dict[str, int] = field(default_factory=dict)  # tenant name -> a CDR id
    call: dict[str, str] = field(default_factory=dict)  # tenant name -> a live call uuid
    did: dict[str, int] = field(default_factory=dict)  # tenant name -> a DID routed to its account 1000
    user: dict[str, int] = field(default_factory=dict)  # caller -> user id
    key_id: dict[str, int] = field(default_factory=dict)  # caller -> its key id
    token: dict[str, str] = field(default_factory=dict)  # caller -> its key
    carrier: int = 0  # the operator's carrier-a

    def name_of(self, tenant_id: int) -> str:
        return {v: k for k, v in self.tenant.items()}[tenant_id]


_uuids = itertools.count(1)


def seed(session, live: LiveCalls | None = None, grants: tuple[str, ...] = ("*",)) -> World:
    world = World()
    op = Scope.operator("test")
    world.tenant["operator"] = tenants.ensure_operator(session).id
    decks.import_deck(session, op, "retail", ["49,Germany,0.60,1,1,0\n"])
    plans.create_plan(session, op, name="basic", decks=["retail"])
    world.carrier = carriers.create_carrier(session, op, name="carrier-a", host="192.0.2.1").id
    nodes.add_node(session, op, name="fs-seed", sip="192.0.2.80")
    for name, kind, parent in TREE:
        t = tenants.create_tenant(session, op, name=name, realm=f"{name}.api.example", kind=kind, parent=parent,
                                  plan="basic", country_code="49")
        world.tenant[name] = t.id
    for name in CLIENTS:
        t = tenants.get_tenant(session, op, world.tenant[name])
        account = accounts.create_sip_account(session, op, t, "1000", "pw-1000-secret").account
        world.account[name] = account.id
        world.did[name] = dids.add_did(session, op, t, f"+49301{world.tenant[name]:06d}", to_account="1000").id
        ledger.add_credit(session, op, t, Decimal("10"), "seed credit")
        uuid = f"api-test-{next(_uuids)}-{name}"
        start = dt.datetime(2026, 11, 5, 12, 0, 0)
        cdrs.write_many(session, [CallRecord(
            uuid=uuid, direction="outbound", tenant_id=t.id, sip_account_id=account.id, dialed="4930123456",
            number="4930123456", destination="Germany", start_at=start, answer_at=start,
            end_at=start + dt.timedelta(seconds=30), duration=30, billsec=30, disposition="ANSWERED", sip_code=200,
            cost=Decimal("0.30"), currency="USD")])
        session.flush()
        from controlplane.models import Cdr

        world.cdr[name] = session.query(Cdr).filter_by(uuid=uuid).one().id
        if live is not None:
            call_uuid = f"live-{uuid}"
            live.admit(call_uuid, t.id, account.id, None, None, {"uuid": call_uuid, "tenant": t.id,
                                                                  "account": account.id, "caller": "1000",
                                                                  "number": "4930123456", "node": "fs-test"})
            world.call[name] = call_uuid
    for who, (home, role, tenant_role) in CALLERS.items():
        user = User(tenant_id=world.tenant[home], email=f"{who.replace(' ', '-')}@api.example",
                    password_hash="x", role=role, tenant_role=tenant_role,
                    sip_account_id=world.account.get(home) if tenant_role == TenantRole.USER else None)
        session.add(user)
        session.flush()
        world.user[who] = user.id
        issued = api_keys.issue(session, op, user, list(grants), name=f"{who} key")
        world.key_id[who] = issued.key.id
        world.token[who] = issued.token
    session.commit()
    return world


@pytest.fixture()
def live(redis_client) -> LiveCalls:
    return LiveCalls.connect()


@pytest.fixture()
def world(session, live) -> World:
    return seed(session, live)


@pytest.fixture()
def app(clean_db):
    return create_app({"TESTING": True, "API_RATE_LIMIT": "100000/minute"})


@pytest.fixture()
def api(app, world):
    """`api(who, method, url, **kw)`: a request as caller `who` (None: no key)."""
    client = app.test_client()

    def call(who: str | None, method: str, url: str, **kwargs):  # noqa: ANN202
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {world.token[who]}"
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def account_row(session, tenant_id: int) -> SipAccount:
    return session.query(SipAccount).filter_by(tenant_id=tenant_id, username="1000").one()


PORTAL_PASSWORD = "portal-pass-1234"


def log_in(client, session, user_id: int, password: str = PORTAL_PASSWORD):  # noqa: ANN001, ANN201
    """Log `client` in through the portal's own form (Flask-Login session, CSRF token from the page)."""
    import re

    from controlplane.services.users import hash_password

    user = session.get(User, user_id)
    user.password_hash = hash_password(password)
    session.commit()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    reply = client.post("/login", data={"csrf_token": token, "email": user.email, "password": password})
    assert reply.status_code == 302, reply.get_data(as_text=True)[:2000]
    return reply
