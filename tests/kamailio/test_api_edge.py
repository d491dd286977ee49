"""Suspend and enable over the REST API take effect at the real SIP edge at once: registrations are kicked and
refused after a suspend, accepted again after enable; a disabled SIP account the same (sipp against Kamailio)."""

from __future__ import annotations

from controlplane.models import MediaNode, Role, TenantKind, TenantRole, User
from controlplane.services import api_keys, tenants
from controlplane.services.scope import Scope
from controlplane.web import create_app
from tests.kamailio.conftest import make_account, wait_for


def _reseller_key(session) -> tuple[str, int, int]:
    op = Scope.operator("test")
    tenants.ensure_operator(session)
    reseller = tenants.create_tenant(session, op, name="resel", realm=None, kind=TenantKind.RESELLER)
    client = tenants.create_tenant(session, op, name="acme", realm="acme.test", parent="resel")
    account = make_account(session, client, "1000", "pw-acme-1000")
    user = User(tenant_id=reseller.id, email="resel@api.test", password_hash="x", role=Role.RESELLER,
                tenant_role=TenantRole.ADMIN)
    session.add(user)
    session.flush()
    token = api_keys.issue(session, op, user, ["tenants:write", "sip_accounts:write"]).token
    session.commit()
    return token, client.id, account.id


def test_suspend_and_enable_over_the_api_reach_kamailio(edge, session):
    token, tenant_id, account_id = _reseller_key(session)
    edge.sync(session)
    api = create_app({"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    wait_for(lambda: edge.rpc.registration("1000", "acme.test"), what="registered")

    reply = api.post(f"/api/v1/tenants/{tenant_id}/suspend", headers=auth)
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["changed"] is True and body["tenant"]["status"] == "disabled"
    assert body["edge"]["kicked"] == ["1000@acme.test"] and body["edge"]["synced"], body["edge"]
    assert edge.rpc.registrations(realm="acme.test") == []
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.21", user="1000", realm="acme.test",
                     password="pw-acme-1000").returncode == 0

    assert api.post(f"/api/v1/tenants/{tenant_id}/enable", headers=auth).get_json()["changed"] is True
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    wait_for(lambda: edge.rpc.registration("1000", "acme.test"), what="registered again")

    # The account alone: disabled over the API, kicked and refused; the live registration view follows.
    assert api.get(f"/api/v1/sip-accounts/{account_id}/registration", headers=auth).get_json()["registered"]
    reply = api.post(f"/api/v1/sip-accounts/{account_id}/disable", headers=auth)
    assert reply.status_code == 200 and reply.get_json()["edge"]["kicked"] == ["1000@acme.test"]
    assert api.get(f"/api/v1/sip-accounts/{account_id}/registration", headers=auth).get_json() == {
        "registered": False, "contacts": []}
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.22", user="1000", realm="acme.test",
                     password="pw-acme-1000").returncode == 0


def test_live_edge_views_for_operators(edge, session, fs_nodes):
    op = Scope.operator("test")
    operator = tenants.ensure_operator(session)
    admin = User(tenant_id=operator.id, email="ops@api.test", password_hash="x", role=Role.ADMIN,
                 tenant_role=TenantRole.ADMIN)
    session.add(admin)
    session.flush()
    token = api_keys.issue(session, op, admin, ["nodes:read", "carriers:read"]).token
    for i, node in enumerate(fs_nodes, start=1):
        session.add(MediaNode(name=f"fs{i}", host=node.ip, port=node.port))
    session.commit()
    edge.sync(session)
    api = create_app({"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {token}"}

    def active() -> list[dict] | None:
        items = api.get("/api/v1/nodes/dispatcher", headers=auth).get_json()["items"]
        return items if len(items) == len(fs_nodes) and all(i["active"] for i in items) else None

    states = wait_for(active, what="both nodes probed up, seen through the API")
    assert sorted(s["uri"].split(":", 1)[1].split(";")[0] for s in states) == sorted(
        f"{n.ip}:{n.port}" for n in fs_nodes)
    registrations = api.get("/api/v1/carriers/registrations", headers=auth)
    assert registrations.status_code == 200 and registrations.get_json() == {"items": []}
