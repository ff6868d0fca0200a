"""The browser suite's fixtures: one live platform (a real Daphne process with a database of its
own, and a Celery worker for bulk imports) and one headless Chromium for the whole session.

pytest-django's ``live_server`` is a WSGI server without websockets; the Logs tab and the
import progress need the ASGI application, so the suite starts Daphne like production does.
Tests here never touch the test database: everything goes through the live server.
"""

import email
import email.policy
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.live import (
    MANAGE,
    ROOT,
    free_port,
    migrate_and_create_admin,
    own_database,
    start_daphne,
    stop,
    wait_for,
    wait_until_up,
)

EMAIL, PASSWORD = "pm@example.com", "browser-suite-password-1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# How long a page or an expectation may wait (ms). Generous: the suite shares two cores with
# everything else, and a wait only costs time when something is wrong.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
# Where the screenshots of each tab go (gitignored).
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "test-output" / "screenshots"))


@pytest.fixture(scope="session")
def platform_env(tmp_path_factory):
    """Environment of the live processes: their own database (SQLite file, or a PostgreSQL
    database of their own on the PostgreSQL stack), channel prefix and task folder; their port
    chosen now, so the links the worker's e-mails carry (``MURANO_URL``) point at the server; and
    e-mails written as files to ``MAIL_DIR`` (the suite's outbox, ``mail_outbox``)."""
    var_dir = tmp_path_factory.mktemp("browser-live")
    port = free_port()
    env = {
        **os.environ,
        "MURANO_URL": f"http://127.0.0.1:{port}",
        "LIVE_PORT": str(port),
        "EMAIL_URL": f"file://{var_dir / 'mail'}",
        "MURANO_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "tests.browser.live_settings",
        "PYTHONPATH": str(ROOT),
        "CHANNEL_PREFIX": f"browser{uuid.uuid4().hex[:8]}",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEVICE_DEFAULT_CONNECTOR": "",
        "LOG_LEVEL": "WARNING",
    }
    if not os.environ.get("DATABASE_URL"):
        env.pop("REDIS_URL", None)  # embedded stack: the test process's embedded Redis, one server
    with own_database(env, "browser", var_dir / "live.sqlite3"):
        # Static files are served by WhiteNoise from STATIC_ROOT, as in production (``make run``
        # collects them too); collected while the database is migrated.
        collect = subprocess.Popen([*MANAGE, "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT)
        migrate_and_create_admin(env, EMAIL, PASSWORD, "Browser")
        if collect.wait(timeout=120) != 0:
            raise RuntimeError("collectstatic failed")
        yield env


@pytest.fixture(scope="session")
def live_url(platform_env):
    """The live platform's base URL: one Daphne process serving pages, APIs, websockets and
    the device API."""
    log = Path(platform_env["MURANO_VAR_DIR"]) / "daphne.log"
    url, process = start_daphne(platform_env, log, port=int(platform_env["LIVE_PORT"]))
    try:
        wait_until_up(url + "/healthz", process, log, timeout=60)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def celery_worker(platform_env, live_url):
    """A Celery worker for the live platform (bulk imports run there, as in production)."""
    log = Path(platform_env["MURANO_VAR_DIR"]) / "celery.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "murano", "worker", "--pool=solo", "--concurrency=1",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"],
            env=platform_env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: b" ready." in log.read_bytes(), "the Celery worker", process, log=log, timeout=60)
        yield process
    finally:
        # Cold shutdown: the tests are over, no task is worth finishing.
        stop(process, sig=signal.SIGQUIT)


@pytest.fixture
def mail_outbox(platform_env):
    """``mail_outbox(to)`` → the e-mails the live platform sent to ``to`` so far, oldest first
    (``email.message.EmailMessage``; the file backend writes one file per connection)."""
    folder = Path(platform_env["MURANO_VAR_DIR"]) / "mail"

    def read(to: str) -> list:
        messages = []
        for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime) if folder.exists() else []:
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if raw.strip():
                    message = email.message_from_bytes(raw.lstrip(), policy=email.policy.default)
                    if to in (message["To"] or ""):
                        messages.append(message)
        return messages

    return read


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an event loop running in this
    # thread while it is open, and Django refuses database calls from a thread with a running
    # loop (SynchronousOnlyOperation) — it must be gone before this worker's next test file.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def logged_in_state(browser, live_url):
    """The cookies of a session opened through the login form, shared by the tests' pages."""
    context = browser.new_context(base_url=live_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/connectors/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser, live_url, logged_in_state):
    """A fresh browser tab, logged in as the product manager."""
    viewport = {"width": 1280, "height": 900}
    context = browser.new_context(base_url=live_url, storage_state=logged_in_state, viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # What the Content-Security-Policy refused (an inline script, style or handler; another
    # origin): Chromium reports it on the console, and the page then lacks that part.
    tab.on("console", lambda message: _refused_by_the_policy(message, errors))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def _refused_by_the_policy(message, errors: list[str]) -> None:
    if "Content Security Policy" in message.text:
        errors.append(message.text)


@dataclass
class Api:
    """The management API of the live server, as a product manager's script uses it."""

    client: httpx.Client

    def connector(self, name: str, **settings) -> str:
        response = self.client.post("/api/v1/connectors/", json={"name": name, **settings})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def resource(self, connector_id: str, **definition) -> None:
        response = self.client.post(f"/api/v1/connectors/{connector_id}/resources/", json=definition)
        assert response.status_code == 201, response.text


@pytest.fixture
def api(live_url):
    with httpx.Client(base_url=live_url, auth=(EMAIL, PASSWORD), timeout=10) as client:
        yield Api(client)


@pytest.fixture
def device_for(live_url):
    """``device_for(connector_id)`` → an HTTP client that talks to the live server as a device of
    that connector (its ``Host`` header names the connector)."""
    clients = []

    def make(connector_id: str, **kwargs) -> httpx.Client:
        client = httpx.Client(
            base_url=live_url, headers={"Host": f"{connector_id}.devices.localhost"}, timeout=30, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def screenshot():
    """``screenshot(page, name)`` saves a full-page PNG under ``SCREENSHOTS``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
