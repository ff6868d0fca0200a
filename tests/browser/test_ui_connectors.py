"""Issue #17, connectors part, in Chromium: the connector list's device counts, last activity and
App Link; Settings sections that fold with their toggle, a Save bar that stays in view and one
developer-mode warning; deleting a connector by typing its name; creating a resource in a dialog;
long aliases that wrap."""

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS


def provisioned(device_for, connector_id: str, identity: str) -> httpx.Client:
    """A device of the connector, provisioned over the device API, ready to write."""
    device = device_for(connector_id)
    token = device.post("/provision/activate", data={"id": identity})
    assert token.status_code == 200, token.text
    device.headers["X-Exosite-CIK"] = token.text
    return device


def whitelisted(api, connector_id: str, identity: str) -> None:
    created = api.client.post(f"/api/v1/connectors/{connector_id}/devices/", json={"identity": identity})
    assert created.status_code == 201, created.text


def connector_row(page, connector_id: str):
    return page.locator(f"tr[data-connector='{connector_id}']")


def test_the_list_shows_device_counts_by_status_and_the_last_activity(page, api, device_for):
    connector_id = api.connector("Counted fleet", protocol={"devmode": True})
    api.resource(connector_id, alias="temp", format="float")
    talking = provisioned(device_for, connector_id, "c-1")
    whitelisted(api, connector_id, "c-2")
    whitelisted(api, connector_id, "c-3")
    assert talking.post("/onep:v1/stack/alias", data={"temp": "20"}).status_code == 204
    api.connector("Empty fleet")

    page.goto("/connectors/")
    row = connector_row(page, connector_id)
    expect(row.locator(".device-counts")).to_contain_text("3 devices")
    # c-1 authenticated over plain HTTP: the Devices tab calls that status devmode.
    expect(row.locator(".status-counts li")).to_have_text(["2 whitelisted", "1 devmode"])
    # Last seen is written in batches (DEVICE_SEEN_BATCH_SECONDS): it shows once written.
    for _ in range(20):
        if row.locator("time").count() == 2:
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(row.locator("td").nth(2)).to_have_text("just now")
    expect(page.get_by_role("row").filter(has_text="Empty fleet")).to_contain_text("No devices")

    row.get_by_role("link", name="2 whitelisted").click()
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/devices/\?status=whitelisted$"))
    expect(page.get_by_role("row").filter(has_text="c-2")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="c-1")).to_have_count(0)


def test_the_app_link_is_a_working_url_and_is_copied(browser, live_url, logged_in_state, api):
    connector_id = api.connector("Linked", protocol={"devmode": True})
    context = browser.new_context(
        base_url=live_url, storage_state=logged_in_state, permissions=["clipboard-read", "clipboard-write"]
    )
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto("/connectors/")
        row = connector_row(page, connector_id)
        port = urlsplit(live_url).port
        app_link = f"http://{connector_id}.devices.localhost:{port}"
        expect(row.locator("code")).to_have_text(app_link)
        row.get_by_role("button", name="Copy").click()
        expect(row.get_by_role("button", name="Copied")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == app_link
    finally:
        context.close()
    # The link works as it is: its host names the connector, its scheme and port reach the server
    # (asked at 127.0.0.1: *.localhost names need not resolve on this machine).
    link = urlsplit(copied)
    answer = httpx.get(f"{link.scheme}://127.0.0.1:{link.port}/timestamp", headers={"Host": link.netloc})
    assert answer.status_code == 200 and answer.text.isdigit()


def test_settings_fold_sections_whose_toggle_is_off(page, api):
    connector_id = api.connector("Folding")  # provisioning on, no IP restriction
    page.goto(f"/connectors/{connector_id}/settings/")
    provisioning = page.get_by_label("Provisioning enabled")
    restrict = page.get_by_label("Restrict first provisioning by IP")
    addresses = page.get_by_label("Allowed addresses")
    expect(provisioning).to_be_checked()
    expect(restrict).not_to_be_checked()
    expect(addresses).to_be_hidden()
    restrict.check()
    expect(addresses).to_be_visible()
    addresses.fill("10.0.0.0/8")
    provisioning.uncheck()
    for hidden in (restrict, addresses, page.get_by_label("Activation window (hours)")):
        expect(hidden).to_be_hidden()
    provisioning.check()
    expect(addresses).to_be_visible()
    expect(addresses).to_have_value("10.0.0.0/8")

    subdomain = page.get_by_label("Portal sub-domain")
    expect(subdomain).to_be_hidden()
    page.get_by_label("End users claim devices on the connector's portal").check()
    expect(subdomain).to_be_visible()
    page.get_by_label("End users claim devices on the connector's portal").uncheck()
    ca = page.get_by_label("CA certificate (PEM)")
    expect(ca).to_be_hidden()
    page.get_by_label("Verify client certificates against the CA").check()
    expect(ca).to_be_visible()
    page.get_by_label("Verify client certificates against the CA").uncheck()

    # Folded fields are still sent: turning provisioning off keeps the addresses typed.
    provisioning.uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").first).to_contain_text("Settings saved.")
    settings = api.client.get(f"/api/v1/connectors/{connector_id}/").json()["provisioning"]
    assert settings["enabled"] is False
    assert settings["ip_whitelisting"] == {"enabled": True, "allowed": ["10.0.0.0/8"]}
    expect(page.get_by_label("Allowed addresses")).to_be_hidden()


def test_the_save_bar_stays_in_view_and_the_page_uses_its_width(page, api):
    connector_id = api.connector("Long settings")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/connectors/{connector_id}/settings/")
    save = page.get_by_role("button", name="Save settings")
    assert page.evaluate("document.documentElement.scrollHeight") > 2 * 800  # a page to scroll
    page.get_by_role("group", name="Identity format").scroll_into_view_if_needed()
    expect(save).to_be_in_viewport()
    page.mouse.wheel(0, 1200)
    expect(save).to_be_in_viewport()
    # Full width: the form is as wide as the page's content, not a narrow column.
    form = page.locator("form.settings-form").bounding_box()
    header = page.locator(".connector-header").bounding_box()
    assert form["width"] >= header["width"] - 2


def test_the_developer_mode_warning_shows_once(page, api):
    devmode_id = api.connector("Firmware lab", protocol={"devmode": True})
    page.goto(f"/connectors/{devmode_id}/settings/")
    expect(page.get_by_text("Developer mode is on")).to_have_count(1)
    expect(page.get_by_text("Security:")).to_have_count(0)

    safe_id = api.connector("Production line")
    page.goto(f"/connectors/{safe_id}/settings/")
    warning = page.locator("#devmode-warning")
    expect(warning).to_be_hidden()
    page.get_by_label("Developer mode: accept plain HTTP").check()
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Keep it off in production.")


def test_deleting_a_connector_needs_its_name(page, api, device_for):
    connector_id = api.connector("Doomed model", protocol={"devmode": True})
    api.resource(connector_id, alias="temp", format="float")
    provisioned(device_for, connector_id, "d-1")
    whitelisted(api, connector_id, "d-2")

    page.goto(f"/connectors/{connector_id}/settings/")
    page.get_by_role("link", name="Delete connector…").click()
    expect(page.locator(".delete-contents li")).to_have_text(
        [re.compile(r"^2 devices, with"), "1 resource", re.compile(r"^0 content items")]
    )
    page.get_by_label("Type the connector's name to confirm").fill("Doomed")
    page.get_by_role("button", name="Delete connector").click()
    expect(page.locator("#id_name_error")).to_contain_text("That is not this connector's name")
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/delete/$"))
    assert api.client.get(f"/api/v1/connectors/{connector_id}/").status_code == 200

    page.get_by_label("Type the connector's name to confirm").fill("Doomed model")
    page.get_by_role("button", name="Delete connector").click()
    expect(page).to_have_url(re.compile(r"/connectors/$"))
    deleted = "Connector “Doomed model” and its devices were deleted."
    expect(page.get_by_role("status").first).to_contain_text(deleted)
    expect(connector_row(page, connector_id)).to_have_count(0)
    assert api.client.get(f"/api/v1/connectors/{connector_id}/").status_code == 404


def test_a_resource_is_created_in_the_dialog(page, api):
    connector_id = api.connector("Dialog resources")
    page.goto(f"/connectors/{connector_id}/resources/")
    page.get_by_role("link", name="+ New resource").click()
    dialog = page.get_by_role("dialog", name="New resource")
    expect(dialog).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/resources/$"))  # no page change
    dialog.get_by_label("Alias").fill("level")
    dialog.get_by_label("Format").select_option("integer")
    dialog.get_by_label("Allowed values").fill("0-100\nlots")
    dialog.get_by_role("button", name="Create resource").click()
    # Refused: the dialog opens again over the list, with the reason and what was typed.
    dialog = page.get_by_role("dialog", name="New resource")
    expect(dialog.locator("#id_allowed_error")).to_have_text(
        "'lots' is neither an integer nor a range like \"0-100\""
    )
    expect(dialog.get_by_label("Alias")).to_have_value("level")
    dialog.get_by_label("Allowed values").fill("0-100")
    dialog.get_by_role("button", name="Create resource").click()
    expect(page.get_by_role("dialog", name="New resource")).to_be_hidden()
    expect(page.get_by_role("status").first).to_contain_text("Resource “level” created.")
    expect(page.get_by_role("cell", name="level", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/resources/$"))


def test_long_aliases_wrap_instead_of_widening_the_page(page, api):
    connector_id = api.connector("Wordy resources")
    alias = "calibration_offset_of_the_second_humidity_sensor_on_the_north_wall_in_greenhouse_b"
    api.resource(connector_id, alias=alias, format="float", unit="%", allowed=["0-100"], initial="50")
    api.resource(connector_id, alias="x" * 100, format="string")
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"/connectors/{connector_id}/resources/")
        expect(page.get_by_role("cell", name=alias, exact=True)).to_be_visible()
        no_scrollbar = "e => e.scrollWidth <= e.clientWidth"
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert page.locator(".table-wrap").evaluate(no_scrollbar), f"the table scrolls sideways at {width}px"
        # Wrapped: the alias's cell is taller than one line of text.
        assert page.get_by_role("cell", name="x" * 100, exact=True).bounding_box()["height"] > 40
