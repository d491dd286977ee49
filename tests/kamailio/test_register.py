"""Registration per tenant realm with digest auth against HA1, realm isolation, disable after sync."""

from __future__ import annotations

from controlplane.models import Status
from tests.kamailio.conftest import make_account, make_tenant, wait_for


def test_register_ok_and_listed_over_rpc(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    report = edge.sync(session)
    assert report.ok, report.errors
    assert "subscriber" in report.changed and "domain" in report.reloaded

    run = edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000")
    assert run.returncode == 0, run.stdout[-2000:]

    regs = edge.rpc.registrations(realm="acme.test")
    assert [r.aor for r in regs] == ["1000@acme.test"]
    assert regs[0].contacts and regs[0].contacts[0].user_agent == "cp-test-phone"
    assert edge.rpc.registration("1000", "acme.test") is not None


def test_wrong_password_and_unknown_user_refused(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    # .11 so these two failures never add up to a ban of the phones' address.
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.11", user="1000", realm="acme.test",
                     password="wrong-password").returncode == 0
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.12", user="4242", realm="acme.test",
                     password="pw-acme-1000").returncode == 0
    assert edge.rpc.registration("1000", "acme.test") is None


def test_unknown_realm_refused(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    # Challenged, then refused like a wrong password: the answers do not tell which realms exist.
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.15", user="1000", realm="nobody.test",
                     password="pw-acme-1000").returncode == 0


def test_same_username_in_two_realms(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    beta = make_tenant(session, "beta", "beta.test")
    a = make_account(session, acme, "1000", "pw-acme-1000")
    b = make_account(session, beta, "1000", "pw-beta-1000")
    edge.sync(session)

    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    assert edge.sipp("register.xml", user="1000", realm="beta.test", password="pw-beta-1000").returncode == 0
    # acme's password does not open beta's account.
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.13", user="1000", realm="beta.test",
                     password="pw-acme-1000").returncode == 0

    assert [r.aor for r in edge.rpc.registrations(realm="acme.test")] == ["1000@acme.test"]
    assert [r.aor for r in edge.rpc.registrations(realm="beta.test")] == ["1000@beta.test"]
    assert a.id != b.id


def test_disabled_account_and_tenant_refused_after_sync(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    beta = make_tenant(session, "beta", "beta.test")
    a = make_account(session, acme, "1000", "pw-acme-1000")
    make_account(session, beta, "2000", "pw-beta-2000")
    edge.sync(session)
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    assert edge.sipp("register.xml", user="2000", realm="beta.test", password="pw-beta-2000").returncode == 0

    a.status = Status.DISABLED
    beta.status = Status.DISABLED
    report = edge.sync(session)
    assert report.ok, report.errors
    # Existing registrations are removed at once, new ones refused (no restart).
    assert sorted(report.kicked) == ["1000@acme.test", "2000@beta.test"]
    assert edge.rpc.registrations(realm="acme.test") == []
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.14", user="1000", realm="acme.test",
                     password="pw-acme-1000").returncode == 0
    # A disabled tenant's realm is no longer ours at all.
    assert edge.sipp("register_refused.xml", source_ip="127.0.0.16", user="2000", realm="beta.test",
                     password="pw-beta-2000").returncode == 0

    # Enabled again: registers again.
    a.status = Status.ACTIVE
    edge.sync(session)
    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    wait_for(lambda: edge.rpc.registration("1000", "acme.test"), what="registration back")


def test_sync_is_idempotent_and_kick(edge, session):
    acme = make_tenant(session, "acme", "acme.test")
    make_account(session, acme, "1000", "pw-acme-1000")
    edge.sync(session)
    again = edge.sync(session)
    assert again.changed == [] and again.reloaded == [] and again.kicked == []

    assert edge.sipp("register.xml", user="1000", realm="acme.test", password="pw-acme-1000").returncode == 0
    assert edge.rpc.kick("1000", "acme.test") is True
    assert edge.rpc.registration("1000", "acme.test") is None
    assert edge.rpc.kick("1000", "acme.test") is False
