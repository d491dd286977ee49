"""Tenant isolation lives in Scope: for each service that lists or fetches tenant-owned objects, an operator sees
everything, a reseller exactly its subtree, a client its own tenant, and an object outside the scope is NotFound
with the same message as a missing one.

The harness (`tree`, `SCOPED_LOOKUPS`) is meant to grow: a later service that fetches tenant-owned objects adds a
lookup here and is checked against every role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from controlplane.errors import NotFound
from controlplane.models import Role, TenantKind, TenantRole, User
from controlplane.services import accounts, dids, tenants
from controlplane.services.scope import Scope, for_user, subtree


@dataclass
class Tree:
    """operator -> resellers r1 (clients c1, c2; c2 has sub-reseller r3 -> c4), r2 (client c3)."""

    ids: dict[str, int]


@pytest.fixture()
def tree(session) -> Tree:
    tenants.ensure_operator(session)
    made = {}
    for name, kind, parent in (("r1", TenantKind.RESELLER, None), ("r2", TenantKind.RESELLER, None),
                               ("c1", TenantKind.CLIENT, "r1"), ("c2", TenantKind.RESELLER, "r1"),
                               ("r3", TenantKind.RESELLER, "c2"), ("c4", TenantKind.CLIENT, "r3"),
                               ("c3", TenantKind.CLIENT, "r2")):
        made[name] = tenants.create_tenant(session, Scope.operator(),
                                           name=name, realm=f"{name}.example", kind=kind, parent=parent)
        accounts.create_sip_account(session, Scope.operator(), made[name], "1000", "pw-1000-secret")
    session.flush()
    return Tree({name: t.id for name, t in made.items()})


def _user(session, tree: Tree, tenant: str, role: Role, tenant_role: TenantRole = TenantRole.ADMIN) -> User:
    user = User(tenant_id=tree.ids[tenant], email=f"{tenant}-{role}-{tenant_role}@example.com", password_hash="x",
                role=role, tenant_role=tenant_role)
    session.add(user)
    session.flush()
    return user


# What each role sees, by tenant name (the operator tenant itself aside).
VISIBLE = {
    "operator": {"r1", "r2", "c1", "c2", "r3", "c4", "c3"},
    "admin": {"r1", "r2", "c1", "c2", "r3", "c4", "c3"},
    "reseller r1": {"r1", "c1", "c2", "r3", "c4"},
    "reseller r3": {"r3", "c4"},
    "client c1": {"c1"},
    "client c1 user": {"c1"},
}


def _scopes(session, tree: Tree) -> dict[str, Scope]:
    return {
        "operator": Scope.operator(),
        "admin": for_user(session, _user(session, tree, "r1", Role.ADMIN)),
        "reseller r1": for_user(session, _user(session, tree, "r1", Role.RESELLER)),
        "reseller r3": for_user(session, _user(session, tree, "r3", Role.RESELLER)),
        "client c1": for_user(session, _user(session, tree, "c1", Role.CLIENT)),
        "client c1 user": for_user(session, _user(session, tree, "c1", Role.CLIENT, TenantRole.USER)),
    }


# Each lookup fetches one tenant-owned object by the tenant's name; a service that fetches tenant-owned
# objects adds its lookup here.
SCOPED_LOOKUPS: dict[str, Callable] = {
    "tenants.by_name": lambda s, scope, name: tenants.by_name(s, scope, name),
    "accounts.by_username": lambda s, scope, name: accounts.by_username(
        s, scope, tenants.by_name(s, Scope.operator(), name), "1000"),
}


def test_subtree_follows_nesting(session, tree):
    assert subtree(session, tree.ids["r1"]) == {tree.ids[n] for n in ("r1", "c1", "c2", "r3", "c4")}
    assert subtree(session, tree.ids["c3"]) == {tree.ids["c3"]}


@pytest.mark.parametrize("who", list(VISIBLE))
def test_lists_show_exactly_the_subtree(session, tree, who):
    scope = _scopes(session, tree)[who]
    seen = {t.name for t in tenants.list_tenants(session, scope)} - {"operator"}
    assert seen == VISIBLE[who]


@pytest.mark.parametrize("lookup", list(SCOPED_LOOKUPS))
@pytest.mark.parametrize("who", list(VISIBLE))
def test_lookups_outside_the_scope_look_missing(session, tree, who, lookup):
    scope = _scopes(session, tree)[who]
    fetch = SCOPED_LOOKUPS[lookup]
    for name in tree.ids:
        if name in VISIBLE[who]:
            assert fetch(session, scope, name) is not None
            continue
        with pytest.raises(NotFound) as outside:
            fetch(session, scope, name)
        # The same answer as for something that does not exist at all.
        assert "not found" in str(outside.value) and str(tree.ids[name]) not in str(outside.value)


def test_a_missing_tenant_and_a_hidden_one_get_the_same_message(session, tree):
    scope = _scopes(session, tree)["client c1"]
    with pytest.raises(NotFound) as hidden:
        tenants.by_name(session, scope, "c3")
    with pytest.raises(NotFound) as missing:
        tenants.by_name(session, scope, "zz")
    assert str(hidden.value).replace("'c3'", "X") == str(missing.value).replace("'zz'", "X")


def test_writes_take_the_scope_and_its_actor(session, tree):
    from controlplane.models import AuditLog

    scope = _scopes(session, tree)["reseller r1"]
    did = dids.add_did(session, scope, tenants.by_name(session, scope, "c1"), "+4930777000", to_account="1000")
    assert did.tenant_id == tree.ids["c1"]
    entry = session.query(AuditLog).filter_by(action="did.add").one()
    assert entry.actor == scope.actor and scope.actor.startswith("user:")
    c3 = tenants.by_name(session, Scope.operator(), "c3")
    with pytest.raises(NotFound):
        dids.add_did(session, scope, c3, "+4930777001")


# Who may create a tenant below whom (by the parent's name; None: the caller's default parent).
CREATE_TENANT = {
    "operator": {"r1": True, "c3": False, None: True},  # c3 is a client: a client has no tenants below it
    "reseller r1": {"r1": True, "r3": True, "r2": "NotFound", None: True},
    "reseller r3": {"r3": True, "r1": "NotFound", None: True},
    "client c1": {"c1": "Forbidden", None: "Forbidden"},
}


@pytest.mark.parametrize("who", list(CREATE_TENANT))
def test_tenants_are_created_only_inside_the_scope(session, tree, who):
    from controlplane.errors import Forbidden, Invalid

    scope = _scopes(session, tree)[who]
    for n, (parent, expected) in enumerate(CREATE_TENANT[who].items()):
        name = f"new-{n}"
        kwargs = dict(name=name, realm=f"{name}.{who.replace(' ', '-')}.example", parent=parent)
        if expected is True:
            made = tenants.create_tenant(session, scope, **kwargs)
            # Inside the caller's tree (a scope is computed per request: the next one sees the new tenant).
            assert scope.everything or made.id in subtree(session, scope.home)
            # With no parent named, a reseller's tenant goes below the reseller, an operator's below the operator.
            want_parent = tree.ids.get(parent) if parent else (scope.home or tenants.ensure_operator(session).id)
            assert made.parent_id == want_parent
        elif expected == "Forbidden":
            with pytest.raises(Forbidden):
                tenants.create_tenant(session, scope, **kwargs)
        else:
            with pytest.raises(Invalid) as refused:
                tenants.create_tenant(session, scope, **kwargs)
            # Another reseller's tenant reads like a missing one.
            assert refused.value.errors == {"parent": f"tenant {parent!r} not found"} if expected == "NotFound" \
                else "parent" in refused.value.errors


@pytest.mark.parametrize("who", list(VISIBLE))
def test_credit_goes_down_the_tree_only(session, tree, who):
    from controlplane.errors import Forbidden
    from controlplane.services import ledger

    scope = _scopes(session, tree)[who]
    home = scope.home
    for name, tenant_id in tree.ids.items():
        tenant = tenants.by_name(session, Scope.operator(), name)
        if not scope.sees(tenant_id):
            with pytest.raises(NotFound):
                ledger.add_credit(session, scope, tenant, "1", "top-up")
        elif who.startswith("client") or tenant_id == home:
            with pytest.raises(Forbidden):
                ledger.add_credit(session, scope, tenant, "1", "top-up")
        else:
            entry = ledger.add_credit(session, scope, tenant, "1", "top-up")
            assert entry.actor == scope.actor


@pytest.mark.parametrize("who", list(VISIBLE))
def test_sip_accounts_are_created_in_visible_tenants_by_their_admins(session, tree, who):
    from controlplane.errors import Forbidden

    scope = _scopes(session, tree)[who]
    for name, tenant_id in tree.ids.items():
        tenant = tenants.by_name(session, Scope.operator(), name)
        if not scope.sees(tenant_id):
            with pytest.raises(NotFound):
                accounts.create_sip_account(session, scope, tenant, "2000", "pw-2000-secret")
        elif scope.user_id is not None:
            with pytest.raises(Forbidden):
                accounts.create_sip_account(session, scope, tenant, "2000", "pw-2000-secret")
        else:
            assert accounts.create_sip_account(session, scope, tenant, "2000", "pw-2000-secret").account.id


OPERATOR_WRITES: dict[str, Callable] = {
    "carriers.create_carrier": lambda s, scope: __import__("controlplane.services.carriers", fromlist=["x"])
    .create_carrier(s, scope, name="carrier-x", host="192.0.2.10"),
    "nodes.add_node": lambda s, scope: __import__("controlplane.services.nodes", fromlist=["x"])
    .add_node(s, scope, name="fs-x", sip="192.0.2.11"),
    "decks.import_deck": lambda s, scope: __import__("controlplane.services.decks", fromlist=["x"])
    .import_deck(s, scope, "deck-x", ["49,Germany,0.60,1,1,0\n"]),
}


@pytest.mark.parametrize("write", list(OPERATOR_WRITES))
@pytest.mark.parametrize("who", list(VISIBLE))
def test_operator_wide_objects_are_written_by_operators_only(session, tree, who, write):
    from controlplane.errors import Forbidden

    scope = _scopes(session, tree)[who]
    if scope.everything:
        assert OPERATOR_WRITES[write](session, scope) is not None
    else:
        with pytest.raises(Forbidden):
            OPERATOR_WRITES[write](session, scope)
