"""The end user's portal in Chromium, at a phone's size and a desktop's: scan the QR link on the
box, sign up, confirm the address from the e-mail, claim the device, set a value the device
long-polls for, choose a firmware version the device then reads, and be logged out everywhere
when the product manager blocks the account.

Everything goes through the live platform (Daphne + a Celery worker sending the e-mails, which
the file backend writes where ``mail_outbox`` reads them)."""

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM_ARGS, WAIT_MS  # noqa: F401

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
END_USER_PASSWORD = "a-long-end-user-password-7"
CONFIG_OTAU = {"version": "2.1.0", "name": "Spring release", "description": "Faster start-up",
               "type": "URL_LIST", "payload": ["https://firmware.example.com/t1-2.1.0.bin"]}  # fmt: skip


def wait_for_mail(mail_outbox, to: str, count: int = 1, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = mail_outbox(to)
        if len(messages) >= count:
            return messages
        time.sleep(0.25)
    raise AssertionError(f"no e-mail to {to} within {timeout} s")


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


@pytest.fixture
def product(api, live_url):
    """A claiming connector with firmware updates on, its portal, a settable ``mode``, and the
    device ``t1-<n>`` carrying a random claim code, activated (its token in ``device``)."""
    suffix = uuid.uuid4().hex[:8]
    connector_id = api.connector(
        "Thermo T1",
        protocol={"devmode": True},
        claiming={"enabled": True, "portal_subdomain": f"thermo-{suffix}"},
        firmware={"enabled": True},
    )
    api.resource(connector_id, alias="mode", format="string", settable=True, allowed=["eco", "boost"])
    api.resource(connector_id, alias="temp", format="float", unit="°C")
    code = f"CODE{suffix.upper()}"
    identity = f"t1-{suffix}"
    created = api.client.post(
        f"/api/v1/connectors/{connector_id}/devices/",
        json={"identity": identity, "tags": [{"name": "claim_code", "value": code}]},
    )
    assert created.status_code == 201, created.text
    device = httpx.Client(
        base_url=live_url, headers={"Host": f"{connector_id}.devices.localhost"}, timeout=90
    )
    token = device.post("/provision/activate", data={"id": identity})
    assert token.status_code == 200, token.text
    device.headers["X-Exosite-CIK"] = token.text
    assert device.post("/onep:v1/stack/alias", data={"temp": "21.5"}).status_code == 204
    port = live_url.rsplit(":", 1)[1]
    host = f"thermo-{suffix}.portal.localhost"
    # Chromium resolves *.localhost itself; this process talks to the portal by its Host header.
    portal_api = httpx.Client(base_url=live_url, headers={"Host": f"{host}:{port}"}, timeout=30)
    yield {
        "id": connector_id,
        "code": code,
        "identity": identity,
        "device": device,
        "portal": f"http://{host}:{port}",
        "portal_api": portal_api,
    }
    device.close()
    portal_api.close()


def firmware_upload(api, connector_id: str) -> None:
    """The product manager uploads the package metadata of 2.1.0 (a URL_LIST: no image)."""
    document = json.dumps({"author": "Thermo team", "product": "Thermo T1", "config_otau": CONFIG_OTAU})
    response = api.client.post(
        f"/api/v1/connectors/{connector_id}/content/",
        data={"id": "package_t1_2.1.0"},
        files={"file": ("package.json", document.encode(), "application/json")},
    )
    assert response.status_code == 201, response.text


def end_user_id(api, connector_id: str, email: str) -> int:
    listed = api.client.get(f"/api/v1/connectors/{connector_id}/end-users/", params={"q": email})
    assert listed.status_code == 200, listed.text
    [user] = [u for u in listed.json()["results"] if u["email"] == email]
    return user["id"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_scan_sign_up_verify_claim_set_a_value_update_firmware_and_get_blocked(
    browser, api, product, celery_worker, mail_outbox, screenshot, viewport
):
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    portal = product["portal"]
    context = browser.new_context(base_url=portal, viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    name = "phone" if viewport is PHONE else "desktop"

    # The QR code on the box: the landing page's script turns the fragment into the claim page.
    page.goto(f"/#/?claim={product['code']}&product={product['id']}")
    page.wait_for_url(re.compile(r"/claim/\?claim="))
    expect(page.locator("#claim-code-shown")).to_have_text(product["code"])
    screenshot(page, f"portal-claim-anonymous-{name}")
    page.locator("#claim-signup").click()

    # Sign up; the welcome e-mail's link (the password is chosen there) brings the new owner
    # back to the claim.
    page.get_by_label("E-mail address").fill(email)
    page.locator("#signup-submit").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    [welcome] = wait_for_mail(mail_outbox, email)
    links = re.findall(r'href="([^"]+/verify/[^"]+)"', html_of(welcome))
    assert links, html_of(welcome)
    link = links[0].replace("&amp;", "&")
    assert link.startswith(portal + "/verify/"), link
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(END_USER_PASSWORD)
    page.get_by_label("New password again").fill(END_USER_PASSWORD)
    page.locator("#verify-submit").click()
    page.wait_for_url(re.compile(r"/claim/\?claim="))

    # Claim: the device is now this owner's.
    page.locator("#claim-submit").click()
    page.wait_for_url("**/devices/")
    expect(page.get_by_role("status")).to_contain_text(f"Claimed: {product['identity']}")
    expect(page.locator("#main")).to_contain_text("21.5")
    screenshot(page, f"portal-devices-{name}")
    page.get_by_role("link", name=product["identity"]).click()
    expect(page.locator("#device-identity")).to_have_text(product["identity"])

    # Set a value: the device's long poll receives it.
    device = product["device"]
    since = str(int(time.time()))

    def long_poll():
        return device.get(
            "/onep:v1/stack/alias?mode", headers={"Request-Timeout": "60000", "If-Modified-Since": since}
        )

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(long_poll)
        page.get_by_label("New value of mode").select_option("boost")
        page.get_by_role("button", name="Set mode").click()
        expect(page.get_by_role("status")).to_contain_text("mode set to boost")
        response = waiting.result(timeout=60)
    assert response.status_code == 200 and response.text == "mode=boost"

    # A newer firmware: the owner is told, chooses it, and the device reads its config_otau.
    firmware_upload(api, product["id"])
    # The notice is made by the worker: it shows from the next page load on.
    deadline = time.monotonic() + 60
    while not page.locator("#notices").filter(has_text="2.1.0").count():
        assert time.monotonic() < deadline, "no firmware notice on the portal"
        time.sleep(0.5)
        page.reload()
    page.get_by_label(re.compile(r"^2\.1\.0")).check()
    page.locator("#firmware-submit").click()
    expect(page.get_by_role("status")).to_contain_text("Firmware 2.1.0 is on its way")
    deadline = time.monotonic() + 60
    while True:
        read = device.get("/onep:v1/stack/alias?config_otau")
        if read.status_code == 200 and "2.1.0" in read.text:
            break
        assert time.monotonic() < deadline, f"config_otau never reached the device: {read.text!r}"
        time.sleep(0.5)
    sent = json.loads(httpx.QueryParams(read.text)["config_otau"])
    assert sent["version"] == "2.1.0" and sent["payload"] == CONFIG_OTAU["payload"]
    screenshot(page, f"portal-device-{name}")
    notice_mails = wait_for_mail(mail_outbox, email, count=2)
    assert "2.1.0" in notice_mails[-1]["Subject"]

    # Blocked by the product manager: logged out on every browser and for every API token.
    second = browser.new_context(base_url=portal, viewport=viewport)
    other_tab = second.new_page()
    other_tab.goto("/login/")
    log_in = other_tab.get_by_role("region", name="Log in")
    log_in.get_by_label("E-mail address").fill(email)
    log_in.get_by_label("Password").fill(END_USER_PASSWORD)
    other_tab.get_by_role("button", name="Log in").click()
    other_tab.wait_for_url("**/devices/")
    portal_api = product["portal_api"]
    token = portal_api.post("/api/session", json={"email": email, "password": END_USER_PASSWORD}).json()[
        "token"
    ]
    user_id = end_user_id(api, product["id"], email)
    user_url = f"/api/v1/connectors/{product['id']}/end-users/{user_id}/"
    blocked = api.client.patch(user_url, json={"blocked": True})
    assert blocked.status_code == 200, blocked.text
    for tab in (page, other_tab):
        tab.goto("/devices/")
        tab.wait_for_url(re.compile(r"/login/"))
    after = portal_api.get("/api/devices", headers={"Authorization": f"Token {token}"})
    assert after.status_code == 401
    log_in = other_tab.get_by_role("region", name="Log in")
    log_in.get_by_label("E-mail address").fill(email)
    log_in.get_by_label("Password").fill(END_USER_PASSWORD)
    other_tab.get_by_role("button", name="Log in").click()
    expect(other_tab.locator("#main")).to_contain_text("This account is blocked.")
    second.close()
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_the_portal_tab_previews_the_branding_as_it_is_typed(page, api, screenshot):
    connector_id = api.connector(
        "Preview T1", protocol={"devmode": True},
        claiming={"enabled": True, "portal_subdomain": f"preview-{uuid.uuid4().hex[:8]}"},
    )  # fmt: skip
    page.goto(f"/connectors/{connector_id}/portal/")
    preview = page.frame_locator("#branding-preview")
    expect(preview.get_by_role("heading", level=1)).to_be_visible()
    # The saved welcome e-mail, rendered with sample values in its sandboxed frame.
    email_preview = page.frame_locator(".portal-email-frame")
    expect(email_preview.get_by_text("Product portal").first).to_be_visible()

    # Typed, not saved: the preview follows; markup in a field stays text.
    page.get_by_label("Main slogan").fill("Warm homes <script>alert(1)</script>")
    expect(preview.get_by_text("Warm homes <script>alert(1)</script>")).to_be_visible()
    page.get_by_label("Secondary slogan").fill("Heating that learns")
    expect(preview.get_by_text("Heating that learns")).to_be_visible()
    screenshot(page, "portal-tab")
    saved = api.client.get(f"/api/v1/connectors/{connector_id}/portal/branding/").json()
    assert saved["landingPage"]["mainSlogan"] == "This is your main slogan here"

    page.get_by_role("button", name="Save branding").click()
    expect(page.get_by_role("status").first).to_contain_text("Branding saved.")
    saved = api.client.get(f"/api/v1/connectors/{connector_id}/portal/branding/").json()
    assert saved["landingPage"]["mainSlogan"] == "Warm homes <script>alert(1)</script>"
    assert saved["landingPage"]["secondarySlogan"] == "Heating that learns"
