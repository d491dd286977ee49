"""The portal in a real browser: Debian's Chromium driven by Playwright, against the web app run as
`scripts/bootstrap.sh up` runs it (`controlplane web`, gunicorn, as a subprocess on a free port) over the run's
test database and Redis prefix, with a real SMTP server (aiosmtpd) catching the mail it sends.

One web server, mail server and browser per module; every test gets the API tests' seeded world (tests/api/
conftest.py `seed`, emptied again by `clean_db`) and fresh browser contexts (no cookies carried over)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.testing.net import free_port
from tests.api.conftest import PORTAL_PASSWORD, live, seed, world  # noqa: F401 - fixtures reused here
from tests.portal.conftest import Mailbox

CHROMIUM = Path("/usr/bin/chromium")
BIN = Path(sys.executable).parent  # the venv's bin: `controlplane` as bootstrap.sh runs it
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"

NO_CHROMIUM = f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"


@dataclass
class Portal:
    url: str
    log: Path
    mailbox: Mailbox

    def logs(self, tail: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-tail:])
        except OSError:
            return "(no web log)"


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def smtp() -> Iterator[Mailbox]:
    """A real SMTP server on loopback for the module (the web app is told its port when it starts)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def portal(db_url: str, smtp: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """`controlplane web` on a free port, with this run's DATABASE_URL and CP_REDIS_PREFIX (tests/conftest.py)."""
    work = tmp_path_factory.mktemp("browser-web")
    port = free_port()
    log = work / "web.log"
    env = dict(os.environ, DATABASE_URL=db_url, CP_REDIS_PREFIX=os.environ["CP_REDIS_PREFIX"],
               CP_WEB_HOST="127.0.0.1", CP_WEB_PORT=str(port), CP_SMTP_HOST="127.0.0.1",
               CP_SMTP_PORT=str(smtp.port), CP_API_RATE_LIMIT="100000/minute", CP_SIGNUP="1",
               CP_SPOOL_DIR=str(work / "spool"), GUNICORN_CMD_ARGS=f"--access-logfile {log} --error-logfile {log}")
    proc = subprocess.Popen([str(BIN / "controlplane"), "web"], env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=log.open("ab"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _up(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`controlplane web` did not come up on {url}:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield Portal(url, log, smtp)
    finally:
        proc.terminate()  # gunicorn's master (exec'd by `controlplane web`) stops its workers
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def jobs_worker(portal: Portal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    """The rq worker as bootstrap.sh runs it (`controlplane jobs`), on the run's queues (CP_REDIS_PREFIX)."""
    work = tmp_path_factory.mktemp("browser-jobs")
    log = work / "jobs.log"
    proc = subprocess.Popen([str(BIN / "controlplane"), "jobs"], env=dict(os.environ), cwd=work,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()  # rq's warm shutdown: the job at hand (none by then) is finished first
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def new_page(browser, portal: Portal):
    """`new_page(**context_options)`: a page in a fresh context (its own cookies) on the portal."""
    contexts = []

    def make(**options):  # noqa: ANN003, ANN202
        context = browser.new_context(base_url=portal.url, accept_downloads=True, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture()
def browser_world(world, portal: Portal):  # noqa: F811 - `world` is the API tests' fixture
    """The seeded world, with no mail left over from an earlier test."""
    portal.mailbox.messages.clear()
    return world


def set_password(session, user_id: int, password: str = PORTAL_PASSWORD) -> str:  # noqa: ANN001
    """The user's portal password (seed() leaves an unusable hash); its email back."""
    from controlplane.models import User
    from controlplane.services.users import hash_password

    user = session.get(User, user_id)
    user.password_hash = hash_password(password)
    session.commit()
    return user.email


def fill_login(page, email: str, password: str) -> None:  # noqa: ANN001 - a Playwright Page
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page, session, user_id: int) -> None:  # noqa: ANN001
    """Log the page's context in as the user, through the login form, and wait for the dashboard."""
    from playwright.sync_api import expect

    fill_login(page, set_password(session, user_id), PORTAL_PASSWORD)
    expect(page.get_by_test_id("whoami")).to_be_attached()  # inside the collapsed menu on a phone


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201 - the web app's log with a failure
    outcome = yield
    report = outcome.get_result()
    portal = getattr(item, "funcargs", {}).get("portal")
    if report.when == "call" and report.failed and isinstance(portal, Portal):
        report.sections.append(("web log (tail)", portal.logs()))
