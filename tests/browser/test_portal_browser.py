"""The portal in Chromium: logging in (and its throttle), sign-up with the mailed link, tenants made through the
forms down the tree, a SIP account with its one-time password, the masquerade banner, CDR filters and their CSV
export, a rate-deck upload run by the jobs worker, screenshots, accessibility (axe-core) and screen sizes."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from controlplane.core.cdr import CallRecord
from controlplane.models import Cdr, Rate, RateDeck, SipAccount, Tenant, TenantKind, User
from controlplane.services import cdrs, users
from controlplane.services.scope import Scope
from tests.api.conftest import PORTAL_PASSWORD
from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, SCREENSHOTS, fill_login, log_in, set_password

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


# ================================================================================================= logging in
def test_login_wrong_password_throttle_and_logout(new_page, browser_world, session, portal):
    world = browser_world
    email = set_password(session, world.user["tenant admin c1"])
    page = new_page()
    fill_login(page, email, PORTAL_PASSWORD)
    expect(page).to_have_url(f"{portal.url}/")
    expect(page.get_by_test_id("tenant-dashboard")).to_be_visible()
    expect(page.get_by_test_id("whoami")).to_contain_text(email)

    # A page's response renews the session cookie (its expiry slides); a static file's never does, so the scripts
    # still loading when "Log out" is clicked cannot put the logged-in cookie back.
    assert "set-cookie" in page.request.get("/").headers
    asset = page.request.get("/assets/bootstrap/css/bootstrap.min.css")
    assert asset.ok and "set-cookie" not in asset.headers
    logged_in = page.context.cookies()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{portal.url}/login")
    page.context.add_cookies(logged_in)  # as a response under way at the logout would put it back
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto("/")  # logged out for real: the dashboard sends back to the login page
    expect(page).to_have_url(f"{portal.url}/login?next=%2F")
    expect(page.get_by_test_id("whoami")).to_have_count(0)

    fill_login(page, email, "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    expect(page.get_by_test_id("whoami")).to_have_count(0)

    for _ in range(4):  # 5 wrong ones in all
        fill_login(page, email, "still-not-it")
        expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    fill_login(page, email, PORTAL_PASSWORD)  # the right one, but the account is locked now
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
    expect(page.get_by_test_id("whoami")).to_have_count(0)
    assert page.url.endswith("/login")


def test_sign_up_confirm_by_mail_then_log_in(new_page, browser_world, session, portal):
    page = new_page()
    page.goto("/login")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Company or name").fill("Browserco Ltd")
    page.get_by_label("Email").fill("owner@browserco.example")
    page.get_by_label("Password (at least 10 characters)").fill("browserco-pass-1")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    expect(page.locator("main")).to_contain_text("owner@browserco.example")

    portal.mailbox.wait(1)
    mail = portal.mailbox.messages[0]
    assert mail["To"] == "owner@browserco.example" and mail["Subject"] == "Confirm your address"
    link = portal.mailbox.link()
    assert link.startswith(f"{portal.url}/verify/"), link

    fill_login(page, "owner@browserco.example", "browserco-pass-1")  # not confirmed yet
    expect(page.get_by_role("alert")).to_contain_text("confirm your email")

    page.goto(link)
    expect(page.get_by_text("Your address is confirmed: log in.")).to_be_visible()
    assert page.url.endswith("/login")
    fill_login(page, "owner@browserco.example", "browserco-pass-1")
    expect(page.get_by_test_id("tenant-dashboard")).to_be_visible()
    expect(page.get_by_role("heading", name="Browserco Ltd")).to_be_visible()
    user = session.scalar(select(User).where(User.email == "owner@browserco.example"))
    assert user.email_verified_at is not None and user.tenant.name == "Browserco Ltd"


# ================================================================================================= the tree
def nav(page, name: str):  # noqa: ANN001, ANN201
    """A link of the top navigation."""
    return page.locator("#cp-nav").get_by_role("link", name=name, exact=True)


def _create_tenant(page, name: str, realm: str, kind: str) -> None:  # noqa: ANN001
    nav(page, "Tenants").click()
    form = page.locator("form", has=page.get_by_role("button", name="Create"))
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("SIP realm (domain)").fill(realm)
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("Plan").select_option("basic")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_have_text(f"Tenant {name} created.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_tenants_down_the_tree_a_sip_account_and_the_masquerade(new_page, browser_world, session):
    world = browser_world
    operator = new_page()
    log_in(operator, session, world.user["superadmin"])
    _create_tenant(operator, "Acme Wholesale", "acme-wholesale.example", "reseller")
    nav(operator, "Tenants").click()
    tree = operator.get_by_test_id("tenant-tree")
    expect(tree.get_by_role("link", name="Acme Wholesale")).to_be_visible()
    acme = session.scalar(select(Tenant).where(Tenant.name == "Acme Wholesale"))
    assert acme.kind == TenantKind.RESELLER and acme.parent_id == world.tenant["operator"]

    boss, _ = users.create_user(session, Scope.operator(), acme, "boss@acme.example", password=PORTAL_PASSWORD)
    session.commit()
    reseller = new_page()
    log_in(reseller, session, boss.id)
    _create_tenant(reseller, "Acme Client One", "one.acme.example", "client")
    nav(reseller, "Tenants").click()
    rows = reseller.get_by_test_id("tenant-tree").locator("tbody tr")
    expect(rows).to_have_count(2)  # the reseller's own tenant and its new client below it, nothing else
    expect(rows.nth(0)).to_contain_text("Acme Wholesale")
    expect(rows.nth(1)).to_contain_text("Acme Client One")
    expect(rows.nth(1).locator(".bi-arrow-return-right")).to_have_count(1)  # drawn one level down
    client = session.scalar(select(Tenant).where(Tenant.name == "Acme Client One"))
    assert client.kind == TenantKind.CLIENT and client.parent_id == acme.id and client.realm == "one.acme.example"
    operator.reload()  # the operator sees it too, below the reseller
    names = operator.get_by_test_id("tenant-tree").locator("tbody tr td:first-child a").all_inner_texts()
    assert names.index("Acme Client One") == names.index("Acme Wholesale") + 1

    admin, _ = users.create_user(session, Scope.operator(), client, "admin@one.acme.example",
                                 password=PORTAL_PASSWORD)
    session.commit()
    tenant_admin = new_page()
    log_in(tenant_admin, session, admin.id)
    nav(tenant_admin, "SIP accounts").click()
    tenant_admin.get_by_label("Username").fill("2001")
    tenant_admin.get_by_label("Caller ID number").fill("4930555001")
    tenant_admin.get_by_role("button", name="Create").click()
    created = tenant_admin.get_by_test_id("created-account")
    expect(created).to_contain_text("2001 created")
    password = tenant_admin.get_by_test_id("new-password").inner_text().strip()
    assert len(password) >= 8
    listed = tenant_admin.get_by_test_id("accounts").locator("tbody tr", has_text="2001")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("4930555001")
    account = session.scalar(select(SipAccount).where(SipAccount.tenant_id == client.id,
                                                      SipAccount.username == "2001"))
    assert account.ha1 == hashlib.md5(f"2001:one.acme.example:{password}".encode()).hexdigest()  # noqa: S324
    tenant_admin.goto("/sip-accounts")  # shown once
    expect(tenant_admin.get_by_test_id("new-password")).to_have_count(0)
    expect(tenant_admin.get_by_test_id("accounts").locator("tbody tr", has_text="2001")).to_have_count(1)

    reseller.get_by_test_id("tenant-tree").get_by_role("link", name="Acme Client One").click()
    expect(reseller.get_by_test_id("masquerade-banner")).to_have_count(0)
    reseller.get_by_role("button", name="Use account").click()
    banner = reseller.get_by_test_id("masquerade-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Acme Client One")
    expect(reseller.get_by_test_id("tenant-dashboard")).to_be_visible()
    expect(nav(reseller, "Tenants")).to_have_count(0)  # as the client's admin
    nav(reseller, "SIP accounts").click()
    expect(reseller.get_by_test_id("accounts").locator("tbody tr", has_text="2001")).to_have_count(1)
    expect(banner).to_be_visible()  # on every page
    banner.get_by_role("button", name="Back to my account").click()
    expect(reseller.get_by_test_id("masquerade-banner")).to_have_count(0)
    expect(reseller.get_by_role("heading", level=1)).to_contain_text("Acme Client One")  # back on its page
    reseller.goto("/")
    expect(reseller.get_by_test_id("operator-dashboard")).to_be_visible()
    expect(reseller.get_by_test_id("masquerade-banner")).to_have_count(0)


# ================================================================================================= call records
CDR_ROWS = (  # (uuid, start, number, disposition, billsec, cost): c1's calls besides the seeded one
    ("brw01-before-since", dt.datetime(2026, 11, 2, 23, 59, 59), "4930111111", "ANSWERED", 60, "0.60"),
    ("brw02-first-second", dt.datetime(2026, 11, 3, 0, 0, 0), "4930222222", "ANSWERED", 90, "0.90"),
    ("brw03-other-number", dt.datetime(2026, 11, 4, 10, 0, 0), "4989333333", "ANSWERED", 30, "0.30"),
    ("brw04-not-answered", dt.datetime(2026, 11, 4, 12, 0, 0), "4930444444", "NO ANSWER", 0, "0"),
    ("brw05-last-second", dt.datetime(2026, 11, 5, 23, 59, 59), "4930555555", "ANSWERED", 12, "0.12"),
    ("brw06-the-day-after", dt.datetime(2026, 11, 6, 0, 0, 0), "4930666666", "ANSWERED", 45, "0.45"),
    ("brw07-has,a-comma", dt.datetime(2026, 11, 4, 8, 30, 0), "49307", "BUSY", 0, "0"),
)


def _seed_cdrs(session, world) -> None:  # noqa: ANN001
    c1, account = world.tenant["c1"], world.account["c1"]
    records = []
    for uuid, start, number, disposition, billsec, cost in CDR_ROWS:
        answered = billsec > 0
        records.append(CallRecord(
            uuid=uuid, direction="outbound", tenant_id=c1, sip_account_id=account, caller_id_number="1000",
            dialed=number, number=number, destination="Germany", start_at=start,
            answer_at=start if answered else None, end_at=start + dt.timedelta(seconds=billsec + 5),
            duration=billsec + 5, billsec=billsec, disposition=disposition,
            sip_code=200 if answered else 486 if disposition == "BUSY" else 480, cost=Decimal(cost),
            currency="USD"))
    cdrs.write_many(session, records)
    session.commit()


def test_cdr_filters_and_their_csv_export(new_page, browser_world, session):
    world = browser_world
    _seed_cdrs(session, world)
    page = new_page()
    log_in(page, session, world.user["tenant admin c1"])
    nav(page, "Call records").click()
    filters = page.get_by_test_id("cdr-filters")
    filters.get_by_label("From").fill("2026-11-03")
    filters.get_by_label("Until (incl.)").fill("2026-11-05")
    filters.get_by_label("Number starts with").fill("4930")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/cdrs\?since=2026-11-03&until=2026-11-05&destination=4930"))

    # What the database holds for this filter, asked directly: c1's calls started from the 3rd up to the end of
    # the 5th, to numbers starting 4930.
    expected = list(session.scalars(select(Cdr).where(
        Cdr.tenant_id == world.tenant["c1"], Cdr.start_at >= dt.datetime(2026, 11, 3),
        Cdr.start_at < dt.datetime(2026, 11, 6), Cdr.number.like("4930%")).order_by(Cdr.start_at.desc())))
    seeded = session.get(Cdr, world.cdr["c1"]).uuid
    assert {c.uuid for c in expected} == {"brw02-first-second", "brw04-not-answered", "brw05-last-second",
                                          "brw07-has,a-comma", seeded}

    table = page.get_by_test_id("cdr-table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(expected))
    shown = [(r.locator("td").nth(1).inner_text().strip(), r.locator("td").nth(3).inner_text().strip())
             for r in rows.all()]
    assert shown == [(c.uuid[:13], c.number) for c in expected]  # newest first
    totals = page.get_by_test_id("cdr-totals")
    expect(totals).to_contain_text(f"{len(expected)} calls")
    expect(totals).to_contain_text(f"{sum(1 for c in expected if c.billsec > 0)} answered")

    with page.expect_download() as info:
        page.get_by_test_id("cdr-export").click()
    download = info.value
    assert download.suggested_filename == "cdrs.csv"
    reader = csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8", newline="").read()))
    got = list(reader)
    assert "buy_cost" not in reader.fieldnames and "trunk_id" not in reader.fieldnames  # a client's view
    assert [r["uuid"] for r in got] == [c.uuid for c in expected]
    for row, cdr in zip(got, expected, strict=True):
        assert row["number"] == cdr.number and row["disposition"] == cdr.disposition
        assert row["start_at"] == cdr.start_at.strftime("%Y-%m-%d %H:%M:%S")
        assert int(row["billsec"]) == cdr.billsec and Decimal(row["cost"]) == cdr.cost
        assert int(row["tenant_id"]) == world.tenant["c1"]

    filters.get_by_label("Result").select_option("NO ANSWER")  # one more filter narrows the same table
    filters.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("brw04-not-ans")


# ================================================================================================= rate decks
def test_deck_upload_runs_on_the_jobs_worker(new_page, browser_world, session, jobs_worker):
    world = browser_world
    page = new_page()
    log_in(page, session, world.user["superadmin"])
    health = page.get_by_test_id("health").locator("li", has_text="Job workers")
    for _ in range(40):  # the worker registers in Redis once started; the dashboard then counts it
        if health.inner_text().split()[-3:-2] == ["OK:"]:
            break
        time.sleep(0.5)
        page.reload()
    expect(health).to_contain_text("OK: 1 running")

    good = "".join(f"49{n:04d},Germany {n},0.{n % 90 + 10:02d},60,60,0\n" for n in range(3000))
    nav(page, "Rate decks").click()
    form = page.locator("form", has=page.get_by_role("button", name="Upload"))
    form.get_by_label("Deck name").fill("browser-bulk")
    form.get_by_label("Kind").select_option("sell")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("CSV file").set_input_files(
        files=[{"name": "bulk.csv", "mimeType": "text/csv", "buffer": good.encode()}])
    form.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/decks/jobs/[\w-]+$"))
    done = page.get_by_test_id("deck-done")
    expect(done).to_have_text("Imported 3000 rates into browser-bulk (version 1).", timeout=60_000)  # htmx polls
    deck = session.scalar(select(RateDeck).where(RateDeck.name == "browser-bulk"))
    assert deck.currency == "EUR" and deck.version == 1
    assert session.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id)) == 3000
    page.reload()  # the job's page is its URL: a reload shows the same result
    expect(page.get_by_test_id("deck-done")).to_be_visible()

    nav(page, "Rate decks").click()
    expect(page.get_by_test_id("decks").locator("tr", has_text="browser-bulk")).to_contain_text("EUR")
    bad = "49,Germany,0.70,60,60,0\n4930,Berlin,abc,60,60,0\n,Nowhere,0.1,60,60,0\n"
    form.get_by_label("Deck name").fill("browser-bulk")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("CSV file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    form.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("deck-refused")).to_be_visible(timeout=60_000)
    errors = page.get_by_test_id("deck-errors").locator("li").all_inner_texts()
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3"], errors
    session.expire_all()
    assert session.get(RateDeck, deck.id).version == 1  # nothing changed
    assert session.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id)) == 3000


# ================================================================================================= screenshots
def test_screenshots(new_page, browser_world, session):
    world = browser_world
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    operator = new_page(viewport={"width": 1366, "height": 900})
    log_in(operator, session, world.user["superadmin"])
    expect(operator.get_by_test_id("operator-dashboard")).to_be_visible()
    operator.screenshot(path=str(SCREENSHOTS / "operator-dashboard.png"), full_page=True)
    tenant = new_page(viewport={"width": 1366, "height": 900})
    log_in(tenant, session, world.user["tenant admin c1"])
    expect(tenant.get_by_test_id("tenant-dashboard")).to_be_visible()
    tenant.wait_for_function("() => window.Chart && Chart.getChart('cp-days')")  # the chart drawn
    tenant.screenshot(path=str(SCREENSHOTS / "tenant-dashboard.png"), full_page=True)
    public = new_page(viewport={"width": 1366, "height": 900})
    public.goto("/plans")
    expect(public.get_by_test_id("plan-comparison")).to_contain_text("Germany")
    public.screenshot(path=str(SCREENSHOTS / "plans.png"), full_page=True)
    for name in ("operator-dashboard", "tenant-dashboard", "plans"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 0


# ================================================================================================= accessibility
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""
AXE_RUN = """async () => {
  const r = await axe.run(document);
  return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)})),
          passes: r.passes.map(p => p.id)};
}"""


def _axe(page, portal) -> dict:  # noqa: ANN001
    page.add_script_tag(url=f"{portal.url}/assets/axe-core/axe.min.js")
    return page.evaluate(AXE_RUN)


def _audit(page, portal, who: str, url: str, problems: dict, *, has_fields: bool = True) -> None:  # noqa: ANN001
    page.goto(url)
    result = _axe(page, portal)
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")
           or v["id"] in ("label", "select-name")]
    where = f"{who} {url}"
    if bad:
        problems[where] = bad
    unlabelled = page.evaluate(UNLABELLED)
    if unlabelled:
        problems.setdefault(where, []).append({"id": "unlabelled fields", "nodes": unlabelled})
    if has_fields and "label" not in result["passes"]:
        problems.setdefault(where, []).append({"id": "axe found no labelled field to check"})
    minor = [f"{v['id']} ({v['impact']})" for v in result["violations"] if v not in bad]
    if minor:
        print(f"axe, {where}: {', '.join(minor)}")  # shown with -s: moderate and minor findings


def test_accessibility_of_the_main_pages(new_page, browser_world, session, portal):
    world = browser_world
    problems: dict[str, list] = {}
    anonymous = new_page()
    _audit(anonymous, portal, "anonymous", "/login", problems)
    _audit(anonymous, portal, "anonymous", "/plans", problems)
    operator = new_page()
    log_in(operator, session, world.user["superadmin"])
    for url, fields in (("/", False), ("/tenants", True), (f"/tenants/{world.tenant['c1']}", True),
                        ("/sip-accounts", True), ("/cdrs", True), ("/plans", True)):
        _audit(operator, portal, "superadmin", url, problems, has_fields=fields)
    tenant = new_page()
    log_in(tenant, session, world.user["tenant admin c1"])
    for url, fields in (("/", False), ("/sip-accounts", True), ("/cdrs", True)):
        _audit(tenant, portal, "tenant admin", url, problems, has_fields=fields)
    assert not problems, "\n".join(f"{where}: {problems[where]}" for where in problems)


# ================================================================================================= screen sizes
@pytest.mark.parametrize(("width", "height"), [(390, 844), (1024, 768), (1366, 768)], ids=["phone", "tablet", "laptop"])
def test_no_horizontal_scroll(new_page, browser_world, session, width, height):
    """A phone's screen (the menu collapsed) and the widths where the operator's long menu is laid out in full."""
    world = browser_world
    widths = {}
    for who, url, testid in (("superadmin", "/", "operator-dashboard"), ("superadmin", "/sip-accounts", "accounts"),
                             ("tenant admin c1", "/sip-accounts", "accounts")):
        page = new_page(viewport={"width": width, "height": height})
        log_in(page, session, world.user[who])
        page.goto(url)
        expect(page.get_by_test_id(testid)).to_be_visible()
        widths[(who, url)] = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]")
    wide = {k: v for k, v in widths.items() if v[0] > v[1] + 1}
    assert not wide, f"wider than the screen (scrollWidth, innerWidth): {wide}"
    assert all(inner == width for _, inner in widths.values()), widths
