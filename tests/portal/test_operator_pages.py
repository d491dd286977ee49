"""The operator's pages: operators only (404 for every tenant scope); carriers, nodes and plans created through
their forms; a deck upload runs on a real rq worker and its page shows progress, then the result or the bad
lines by number."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from controlplane.models import Carrier, MediaNode, Plan, Rate, RateDeck
from tests.api.conftest import log_in
from tests.api.test_jobs import _work
from tests.portal.conftest import csrf

PAGES = ("/carriers", "/nodes", "/decks", "/plans-admin")


def _client(app, session, world, who: str):  # noqa: ANN202
    client = app.test_client()
    log_in(client, session, world.user[who])
    return client


def test_operator_pages_are_for_operators_only(app, world, session):
    for who in ("superadmin", "admin"):
        client = _client(app, session, world, who)
        for url in PAGES:
            assert client.get(url).status_code == 200, (who, url)
    for who in ("reseller r1", "tenant admin c1", "user c1"):
        client = _client(app, session, world, who)
        home = client.get("/").get_data(as_text=True)
        for url in PAGES:
            assert client.get(url).status_code == 404, (who, url)
            assert f'href="{url}"' not in home


def test_carrier_node_and_plan_forms(app, world, session):
    client = _client(app, session, world, "superadmin")
    page = client.get("/carriers").get_data(as_text=True)
    assert client.post("/carriers", data={"csrf_token": csrf(page), "name": "carrier-b", "host": "192.0.2.20",
                                          "port": "5060", "transport": "udp", "buy_deck": "",
                                          "priority": "5"}).status_code == 302
    bad = client.post("/carriers", data={"csrf_token": csrf(page), "name": "carrier-c", "host": "not a host!",
                                         "port": "5060", "transport": "udp", "priority": "5"})
    assert bad.status_code == 400 and "not a host name" in bad.get_data(as_text=True)
    assert session.scalar(select(Carrier).where(Carrier.name == "carrier-b")) is not None
    assert session.scalar(select(Carrier).where(Carrier.name == "carrier-c")) is None
    page = client.get("/nodes").get_data(as_text=True)
    assert client.post("/nodes", data={"csrf_token": csrf(page), "name": "fs-portal", "sip": "192.0.2.90:5080",
                                       "weight": "40"}).status_code == 302
    assert session.scalar(select(MediaNode).where(MediaNode.name == "fs-portal")).weight == 40
    page = client.get("/plans-admin").get_data(as_text=True)
    assert client.post("/plans-admin", data={"csrf_token": csrf(page), "name": "premium", "decks": "retail",
                                             "markup_pct": "10"}).status_code == 302
    missing = client.post("/plans-admin", data={"csrf_token": csrf(page), "name": "ghost", "decks": "nope",
                                                "markup_pct": "0"})
    assert missing.status_code == 400 and "not found" in missing.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Plan).where(Plan.name == "premium")) is not None


def _upload(client, name: str, text: str) -> str:
    page = client.get("/decks").get_data(as_text=True)
    reply = client.post("/decks", data={"csrf_token": csrf(page), "name": name, "kind": "sell", "currency": "EUR",
                                        "csv": (io.BytesIO(text.encode()), "deck.csv")},
                        content_type="multipart/form-data")
    assert reply.status_code == 302, reply.get_data(as_text=True)[:500]
    return reply.headers["Location"]


def test_a_deck_upload_shows_progress_then_its_result(app, world, session):
    client = _client(app, session, world, "superadmin")
    good = "".join(f"44{n:04d},UK {n},0.{n % 90 + 10:02d},60,60,0\n" for n in range(3000))
    job = _upload(client, "uk", good)
    waiting = client.get(job).get_data(as_text=True)
    assert 'data-status="queued"' in waiting and 'hx-trigger="every 1s"' in waiting
    _work()
    done = client.get(job, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-testid="deck-done"' in done and "3000 rates" in done and "hx-trigger" not in done
    deck = session.scalar(select(RateDeck).where(RateDeck.name == "uk"))
    assert session.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id)) == 3000
    # Reloaded later, the page shows the same result (the job is in the URL).
    assert 'data-testid="deck-done"' in client.get(job).get_data(as_text=True)


def test_a_bad_deck_shows_its_lines_and_changes_nothing(app, world, session):
    client = _client(app, session, world, "superadmin")
    before = session.scalar(select(func.count()).select_from(Rate))
    job = _upload(client, "retail", "49,Germany,0.60,60,60,0\n4930,Berlin,abc,60,60,0\n")
    _work()
    page = client.get(job).get_data(as_text=True)
    assert 'data-testid="deck-refused"' in page and re.search(r"line 2", page)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Rate)) == before
    other = _client(app, session, world, "reseller r1")  # another user's job: as if there were none
    assert other.get(job).status_code == 404


def test_dids_offers_and_trunk_groups(app, world, session):
    from controlplane.models import Did, Offer, TrunkGroup

    client = _client(app, session, world, "reseller r1")
    page = client.get("/dids").get_data(as_text=True)
    token = csrf(page)
    client.post("/dids", data={"csrf_token": token, "op": "add", "tenant_id": world.tenant["c1"],
                               "number": "+4930777000"})
    did = session.scalar(select(Did).where(Did.number.like("%4930777000")))
    assert did is not None and did.tenant_id == world.tenant["c1"]
    client.post(f"/tenants/{world.tenant['c1']}/offers", data={"csrf_token": token, "name": "de-free",
                                                                "prefix": "49", "days": "7"})
    assert session.scalar(select(Offer).where(Offer.tenant_id == world.tenant["c1"], Offer.name == "de-free"))
    tenant_admin = _client(app, session, world, "tenant admin c1")
    token = csrf(tenant_admin.get("/dids").get_data(as_text=True))
    tenant_admin.post("/dids", data={"csrf_token": token, "op": "route", "did_id": did.id,
                                     "account_id": world.account["c1"]})
    session.expire_all()
    assert session.get(Did, did.id).sip_account_id == world.account["c1"]
    other = _client(app, session, world, "reseller r2")  # another reseller's client's number: not found
    token = csrf(other.get("/dids").get_data(as_text=True))
    other.post("/dids", data={"csrf_token": token, "op": "release", "did_id": did.id})
    session.expire_all()
    assert session.get(Did, did.id) is not None
    ops = _client(app, session, world, "superadmin")
    page = ops.get("/trunk-groups").get_data(as_text=True)
    token = csrf(page)
    ops.post(f"/carriers/{world.carrier}/trunks", data={})  # not a portal route: ignored
    ops.post("/trunk-groups", data={"csrf_token": token, "name": "eu", "trunks": ["carrier-a"]})
    group = session.scalar(select(TrunkGroup).where(TrunkGroup.name == "eu"))
    assert [m.trunk_id for m in group.members]
    assert _client(app, session, world, "reseller r1").get("/trunk-groups").status_code == 404
