"""The portal's claim, device list, device page (values, settings, history, firmware, release),
apps and notices — as an end user sees them in the browser."""

import json
import re
import time

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from connectors.runtime import connector_rules
from connectors.services import connector_settings_change
from devices.models import ValuePoint
from devices.services import device_write
from firmware.models import DeviceUpdate, Rollout
from portal.models import FirmwareNotice
from tests.factories import make_resource
from tests.portal.pages_client import PageClient, log_in
from tests.portal_fixtures import portal_host, tags_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-password-42"


@pytest.fixture
def alice_browser(alice):
    browser = PageClient()
    assert log_in(browser, alice.email).status_code == 302
    return browser


def claim(browser, code, **extra):
    return browser.post("/claim/", {"claim_code": code, **extra})


def test_sign_up_from_a_claim_link_to_the_claimed_device(claiming_connector, coded_devices):
    [device] = coded_devices("BOX123")
    browser = PageClient()
    page = browser.get("/claim/?claim=BOX123&product=" + claiming_connector.pk).content.decode()
    assert "BOX123" in page
    signup = re.search(r'href="(/signup/\?next=[^"]+)"', page).group(1)
    page = browser.get(signup.replace("&amp;", "&")).content.decode()
    next_path = re.search(r'name="next" value="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert next_path.startswith("/claim/?claim=BOX123")
    response = browser.post("/signup/", {"email": "gina@example.com", "next": next_path})
    assert "Check your e-mail" in response.content.decode()
    [message] = mail.outbox
    link = re.search(r"https?://[^/\s]+(/verify/[^\s\"<]+)", message.body).group(1)
    assert browser.get(link).status_code == 200  # shows the form, uses nothing
    response = browser.post(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.status_code == 302
    page = browser.get(response["Location"]).content.decode()
    assert 'id="claim-form"' in page and 'value="BOX123"' in page
    response = claim(browser, "BOX123", product=claiming_connector.pk)
    assert response.status_code == 302 and response["Location"] == "/devices/"
    page = browser.get("/devices/").content.decode()
    assert f"Claimed: {device.identity}" in page
    assert f'href="/devices/{device.identity}/"' in page


def test_anonymous_claim_page_sends_to_sign_up_and_back(claiming_connector):
    page = PageClient().get("/claim/?claim=ABC").content.decode()
    assert 'href="/signup/?next=/claim/%3Fclaim%3DABC"' in page
    assert 'href="/login/?next=/claim/%3Fclaim%3DABC"' in page


@pytest.mark.parametrize(
    ("setup", "status", "message"),
    [
        ("unknown", 404, "No device has this claim code."),
        ("expired", 410, "This claim code has expired."),
        ("owned", 409, "The devices with this claim code already have an owner."),
    ],
)
def test_claim_refusals_are_messages_on_the_page(
    claiming_connector, alice_browser, bob, coded_devices, portal, setup, status, message
):
    if setup == "expired":
        coded_devices("CODE", extra_tags=[{"name": "expires", "value": str(int(time.time()) - 60)}])
    elif setup == "owned":
        coded_devices("CODE")
        assert (
            portal(claiming_connector, bob)
            .post("/api/claim", {"claim_code": "CODE"}, format="json")
            .status_code
            == 200
        )
    response = claim(alice_browser, "CODE")
    assert response.status_code == status
    page = response.content.decode()
    assert message in page
    assert 'id="claim-form"' in page and 'id="portal-footer"' in page  # the full page


def test_claim_throttle_is_a_message_on_the_page(claiming_connector, alice_browser, settings):
    settings.CLAIM_FAILURES_PER_USER = 2
    for _ in range(2):
        assert claim(alice_browser, "NOPE").status_code == 404
    response = claim(alice_browser, "NOPE")
    assert response.status_code == 429
    assert re.search(r"Too many claim attempts; try again in \d+ minutes?\.", response.content.decode())


def test_a_code_of_another_product_is_not_claimed(claiming_connector, alice_browser, coded_devices):
    [device] = coded_devices("XYZ")
    page = alice_browser.get("/claim/?claim=XYZ&product=other-product").content.decode()
    assert "this claim code is for another product" in page.lower()
    response = claim(alice_browser, "XYZ", product="other-product")
    assert response.status_code == 400
    assert tags_of(device, "users") == []


def test_device_list_empty_state_and_apps(claiming_connector, alice_browser):
    connector_settings_change(connector=claiming_connector, changes={"managed_apps": [
        {"id": "app1", "name": "Thermo App", "description": "Control it", "url": "https://app.example.com",
         "logo": "https://app.example.com/logo.png"},
    ]})  # fmt: skip
    page = alice_browser.get("/devices/").content.decode()
    assert "No devices yet" in page and 'href="/claim/"' in page
    assert "Thermo App" in page
    page = alice_browser.get("/apps/").content.decode()
    assert 'href="https://app.example.com" rel="noopener noreferrer"' in page
    assert 'src="https://app.example.com/logo.png"' in page
    assert "Control it" in page


def test_apps_empty_state(claiming_connector, alice_browser):
    assert "No apps for this product yet." in alice_browser.get("/apps/").content.decode()


def test_device_list_queries_do_not_grow_with_devices(
    claiming_connector, alice, alice_browser, coded_devices, django_assert_max_num_queries
):
    make_resource(connector=claiming_connector, alias="temp", format="number", unit="°C")
    rules = connector_rules(claiming_connector)
    devices = coded_devices("MANY", 20)
    for i, device in enumerate(devices):
        device_write(device=device, values={"temp": str(20 + i)}, rules=rules)
    assert claim(alice_browser, "MANY").status_code == 302
    alice_browser.get("/devices/")  # warm caches (rules)
    with django_assert_max_num_queries(15):
        page = alice_browser.get("/devices/").content.decode()
    assert page.count('class="card device-card"') == 20
    assert "39 °C" in page
    assert "<time datetime=" in page or "never" in page


def test_another_users_device_is_404_and_values_are_escaped(
    claiming_connector, alice_browser, bob, coded_devices, portal
):
    evil = "<script>alert(1)</script>"
    make_resource(connector=claiming_connector, alias="label", format="string")
    [mine] = coded_devices("MINE")
    [theirs] = coded_devices("THEIRS")
    device_write(device=mine, values={"label": evil}, rules=connector_rules(claiming_connector))
    assert claim(alice_browser, "MINE").status_code == 302
    portal(claiming_connector, bob).post("/api/claim", {"claim_code": "THEIRS"}, format="json")
    response = alice_browser.get(f"/devices/{theirs.identity}/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode() and 'id="portal-header"' in response.content.decode()
    assert alice_browser.get("/devices/nope/").status_code == 404
    for path in ("/devices/", f"/devices/{mine.identity}/"):
        page = alice_browser.get(path).content.decode()
        assert evil not in page and "&lt;script&gt;" in page


@pytest.fixture
def mine(claiming_connector, alice_browser, coded_devices):
    make_resource(connector=claiming_connector, alias="temp", format="number", unit="°C")
    make_resource(connector=claiming_connector, alias="target", format="number", settable=True, unit="°C")
    make_resource(connector=claiming_connector, alias="mode", format="string", settable=True,
                  allowed=["eco", "comfort"])  # fmt: skip
    make_resource(connector=claiming_connector, alias="power", format="boolean", settable=True)
    [device] = coded_devices("MINE")
    assert claim(alice_browser, "MINE").status_code == 302
    return device


def test_device_page_sets_values(claiming_connector, alice, alice_browser, mine, portal):
    page = alice_browser.get(f"/devices/{mine.identity}/").content.decode()
    assert '<label for="value-target">' in page and 'type="number"' in page
    assert re.search(r'<select name="value"[^>]*id="value-mode"', page)
    assert '<option value="comfort"' in page and '<option value="true"' in page
    response = alice_browser.post(f"/devices/{mine.identity}/state/", {"alias": "target", "value": "21.5"})
    assert response.status_code == 302
    assert "target set to 21.5" in alice_browser.get(response["Location"]).content.decode()
    api = portal(claiming_connector, alice)
    state = api.get("/api/devices").json()[0]["state"]
    assert state["target"]["set"] == "21.5"

    bad = alice_browser.post(f"/devices/{mine.identity}/state/", {"alias": "target", "value": "warm"})
    assert bad.status_code == 400
    assert "is not a valid number" in bad.content.decode()
    fixed = alice_browser.post(f"/devices/{mine.identity}/state/", {"alias": "temp", "value": "1"})
    assert fixed.status_code == 403
    assert "These values cannot be set: temp." in fixed.content.decode()


def test_history_chart_and_its_table(claiming_connector, alice_browser, mine):
    now_us = int(time.time() * 1_000_000)
    for i, value in enumerate(["20", "22.5", "21"]):
        ValuePoint.objects.create(
            device=mine, alias="temp", timestamp=now_us - (3 - i) * 60_000_000, value=value
        )
    page = alice_browser.get(f"/devices/{mine.identity}/?alias=temp&range=1h").content.decode()
    assert 'role="img"' in page and "History of temp over the last 1 hour: 3 points" in page
    assert "<polyline" in page and page.count("<circle") == 3
    assert ": 22.5 °C</title>" in page
    assert "<details" in page and "<td>22.5</td>" in page
    assert 'style="' not in page
    assert 'id="history-summary">Every point<' in page
    empty = alice_browser.get(f"/devices/{mine.identity}/?alias=target&range=30d").content.decode()
    assert "No data for target in the last 30 days." in empty


DAY_US = 86_400_000_000
BUCKET_US = 3 * 3600 * 1_000_000  # a 30-day range in round buckets of at most 300: 3 h


def record_a_month(device, alias: str, now_us: int, value) -> list[tuple[int, str]]:
    """2,000 points of ``alias`` spread over the 30 days before ``now_us`` (the newest 2 h
    before it), ``value(i)`` the i-th; the ``(timestamp, value)``s."""
    start, step = now_us - 30 * DAY_US + 60_000_000, (30 * DAY_US - 2 * 3600 * 1_000_000) // 2000
    rows = [(start + i * step, value(i)) for i in range(2000)]
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=device, alias=alias, timestamp=t, value=v) for t, v in rows]
    )
    return rows


def test_a_month_of_points_is_drawn_as_averages_over_the_whole_range(claiming_connector, alice_browser, mine):
    now_us = int(time.time() * 1_000_000)
    # 20, 21, 22 °C over and over, but 35 °C in the first hours: long before the newest 500 points.
    rows = record_a_month(mine, "temp", now_us, lambda i: "35" if i < 5 else str(20 + i % 3))
    page = alice_browser.get(f"/devices/{mine.identity}/?alias=temp&range=30d").content.decode()
    assert 'id="history-summary">Averaged per 3 h (' in page
    periods = int(re.search(r"averaged per 3 h: (\d+) periods of 2,000 points", page).group(1))
    assert 235 <= periods <= 241
    assert page.count('class="chart-point chart-bucket"') == periods
    assert '<polygon class="chart-band"' in page and 'style="' not in page
    # A bucket from the middle of the month, as its title and its table row say.
    middle = rows[1000][0] - rows[1000][0] % BUCKET_US
    values = [float(v) for t, v in rows if middle <= t < middle + BUCKET_US]
    average, low, high = f"{sum(values) / len(values):.4g}", f"{min(values):g}", f"{max(values):g}"
    assert f"<title>avg {average} °C (min {low}, max {high}) · {len(values)} points · " in page
    # The spike of the first hours is there, at the left edge of the chart.
    assert "max 35) · " in page and "<td>35</td>" in page
    first_x = float(re.search(r'class="chart-point chart-bucket" cx="([\d.]+)"', page).group(1))
    assert first_x < 66
    # The table lists the periods.
    assert '<th scope="col">Average (°C)</th><th scope="col">Min</th>' in page


def test_a_short_range_of_a_busy_device_still_draws_every_point(claiming_connector, alice_browser, mine):
    now_us = int(time.time() * 1_000_000)
    rows = record_a_month(mine, "temp", now_us, lambda i: str(20 + i % 3))
    in_a_day = [v for t, v in rows if t >= now_us - DAY_US]
    page = alice_browser.get(f"/devices/{mine.identity}/?alias=temp&range=24h").content.decode()
    assert 'id="history-summary">Every point<' in page
    assert f"History of temp over the last 24 hours: {len(in_a_day)} points" in page
    assert page.count('<circle class="chart-point"') == len(in_a_day)
    # A range that is not one of the page's: the default (24 hours).
    fallback = alice_browser.get(f"/devices/{mine.identity}/?alias=temp&range=99y")
    assert fallback.status_code == 200 and "over the last 24 hours" in fallback.content.decode()


def test_a_month_of_on_off_values_draws_the_latest_of_each_period(claiming_connector, alice_browser, mine):
    now_us = int(time.time() * 1_000_000)
    record_a_month(mine, "power", now_us, lambda i: "true" if i % 2 else "false")
    page = alice_browser.get(f"/devices/{mine.identity}/?alias=power&range=30d").content.decode()
    assert 'id="history-summary">Latest value per 3 h (' in page
    assert re.search(r"<title>latest (true|false) · \d+ points · ", page)
    assert "chart-band" not in page and '<th scope="col">Latest power</th>' in page


def test_the_platforms_own_resources_are_not_values_owners_read_or_set(
    claiming_connector, alice, alice_browser, mine, portal
):
    # Firmware updates on: config_otau and otau_in exist (settable config_otau), as do pdaas_*.
    connector_settings_change(connector=claiming_connector, changes={"firmware_update_enabled": True})
    rules = connector_rules(claiming_connector)
    device_write(device=mine, values={"temp": "20.5", "pdaas_reset": "false"}, rules=rules)
    page = alice_browser.get(f"/devices/{mine.identity}/").content.decode()
    for alias in ("config_otau", "otau_in", "pdaas_reset", "pdaas_claim_code", "pdaas_user_email"):
        assert f"value-{alias}" not in page and f"value-row-{alias}" not in page
        assert f'<option value="{alias}"' not in page
    assert 'id="value-row-temp"' in page and "20.5 °C" in page
    # The chart starts with a measurement, not an on/off value.
    assert "History of temp over the last 24 hours" in page
    devices = alice_browser.get("/devices/").content.decode()
    assert "pdaas_reset" not in devices and "otau_in" not in devices

    # Owners choose a firmware version; they do not write config_otau themselves, on the page or the API.
    message = json.dumps({"version": "6.6.6", "type": "URL_LIST", "payload": ["https://evil.example/x"]})
    page_set = alice_browser.post(
        f"/devices/{mine.identity}/state/", {"alias": "config_otau", "value": message}
    )
    assert page_set.status_code == 403
    api_set = portal(claiming_connector, alice).patch(
        f"/api/devices/{mine.identity}/state", {"config_otau": message}, format="json"
    )
    assert api_set.status_code == 403
    assert api_set.json() == {"detail": "These values cannot be set: config_otau."}
    assert rules["config_otau"].settable  # the device maker's rollouts still set it


def test_firmware_choice_starts_a_rollout_for_the_device(
    claiming_connector,
    alice_browser,
    mine,
    api,
    owner,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    connector_settings_change(connector=claiming_connector, changes={"firmware_update_enabled": True})
    config = {"version": "2.0.0", "name": "Release 2.0.0", "description": None, "type": "URL_LIST",
              "payload": ["https://fw.example.com/2.0.0.bin"]}  # fmt: skip
    document = json.dumps({"author": "Acme", "config_otau": config}).encode()
    body = {"id": "package_fw_2", "file": SimpleUploadedFile("package.json", document, "application/json")}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            f"/api/v1/connectors/{claiming_connector.pk}/content/", body, format="multipart"
        )
    assert response.status_code in (200, 201), response.content
    package_id = "package_fw_2"
    page = alice_browser.get(f"/devices/{mine.identity}/").content.decode()
    assert 'id="firmware-form"' in page and "2.0.0" in page
    response = alice_browser.post(f"/devices/{mine.identity}/firmware/", {"package": package_id})
    assert response.status_code == 302
    rollout = Rollout.objects.get(connector=claiming_connector)
    assert rollout.version == "2.0.0"
    assert list(DeviceUpdate.objects.filter(rollout=rollout).values_list("device__identity", flat=True)) == [
        mine.identity
    ]
    # The device reads the package's config_otau (the value the firmware update set for it).
    state = api(owner).get(f"/api/v1/connectors/{claiming_connector.pk}/devices/{mine.identity}/state/")
    assert json.loads(state.json()["config_otau"]["set"]) == config
    page = alice_browser.get(f"/devices/{mine.identity}/").content.decode()
    assert "Latest update: version 2.0.0" in page
    assert alice_browser.post(f"/devices/{mine.identity}/firmware/", {"package": "nope"}).status_code == 400


def test_release_asks_then_releases(claiming_connector, alice_browser, mine):
    page = alice_browser.get(f"/devices/{mine.identity}/release/").content.decode()
    assert 'id="release-form"' in page
    response = alice_browser.post(f"/devices/{mine.identity}/release/")
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert f"Released: {mine.identity}" in alice_browser.get("/devices/").content.decode()
    assert tags_of(mine, "users") == []
    assert alice_browser.get(f"/devices/{mine.identity}/").status_code == 404


def test_notices_show_and_dismiss(claiming_connector, alice, alice_browser):
    notice = FirmwareNotice.objects.create(user=alice, package_id="fw-3", version="3.0.0")
    page = alice_browser.get("/devices/").content.decode()
    assert "New firmware <strong>3.0.0</strong>" in page and "choose it on your device's page" in page
    response = alice_browser.post(f"/notices/{notice.pk}/dismiss/", {"next": "/apps/"})
    assert response.status_code == 302 and response["Location"] == "/apps/"
    assert "3.0.0" not in alice_browser.get("/devices/").content.decode()


def test_cookies_of_another_portal_and_of_the_platform_mean_nothing(
    claiming_connector, business, alice, end_user, client, owner
):
    from tests.factories import make_connector

    other = make_connector(business=business, devmode=True, claiming_enabled=True, portal_subdomain="other")
    stranger = end_user(other, "alice@example.com")
    elsewhere = PageClient(host=portal_host(other))
    assert log_in(elsewhere, stranger.email).status_code == 302
    browser = PageClient()
    browser.cookies = elsewhere.cookies  # the other portal's session cookie, sent here
    response = browser.get("/devices/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    # The platform's session (a product manager logged in) means nothing on a portal.
    client.force_login(owner)
    platform = PageClient()
    platform.cookies = client.cookies
    assert platform.get("/devices/").status_code == 302
    assert 'id="nav-login"' in platform.get("/").content.decode()
