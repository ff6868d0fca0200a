"""A product manager's day in a real browser (headless Chromium) against a live platform:
log in, create a connector, define resources, whitelist a device, watch it provision live,
send it a command it long-polls for, and import 10,000 devices from a CSV file.

All scenarios live in this one file so the suite starts one server and one browser (pytest's
``--dist loadfile`` keeps a file on one worker).
"""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from tests.browser.conftest import EMAIL, PASSWORD, WAIT_MS


def open_tab(page, name: str) -> None:
    page.get_by_role("navigation", name="Connector").get_by_role("link", name=name).click()
    expect(page.get_by_role("navigation", name="Connector").locator("[aria-current=page]")).to_have_text(name)


def test_log_in_create_a_connector_and_define_resources(browser, live_url, screenshot):
    context = browser.new_context(base_url=live_url)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto("/connectors/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/connectors/$"))
        expect(page.get_by_label("E-mail address")).to_be_focused()  # ready to type
        page.get_by_label("E-mail address").fill(EMAIL)
        page.get_by_label("Password").fill("not my password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct e-mail address")
        expect(page.get_by_label("E-mail address")).to_have_value(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/connectors/$"))
        # Keyboard users skip the header straight to the page's content.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#main")).to_be_focused()

        page.get_by_label("Name").fill("Browser thermostat")
        page.get_by_role("button", name="Create connector").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Browser thermostat")
        expect(page.get_by_role("status").first).to_contain_text("Connector “Browser thermostat” created.")
        expect(page.get_by_text("No devices yet.")).to_be_visible()
        screenshot(page, "devices-tab-empty")

        open_tab(page, "Resources")
        page.get_by_role("link", name="+ New resource").click()
        page.get_by_label("Alias").fill("temp")
        page.get_by_label("Format").select_option("float")
        page.get_by_label("Unit").fill("°C")
        page.get_by_role("button", name="Create resource").click()
        expect(page.get_by_role("cell", name="temp", exact=True)).to_be_visible()

        page.get_by_role("link", name="+ New resource").click()
        page.get_by_label("Alias").fill("level")
        page.get_by_label("Format").select_option("integer")
        page.get_by_label("Allowed values").fill("0-100\nlots")
        page.get_by_role("button", name="Create resource").click()
        allowed = page.get_by_label("Allowed values")
        expect(allowed).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#id_allowed_error")).to_contain_text("'lots' is neither an integer nor a range")
        expect(page.get_by_label("Alias")).to_have_value("level")  # what was typed is kept
        allowed.fill("0-100")
        page.get_by_role("button", name="Create resource").click()
        expect(page.get_by_role("cell", name="level", exact=True)).to_be_visible()
        screenshot(page, "resources-tab")

        open_tab(page, "Content")
        expect(page.get_by_role("heading", name="Content", level=2)).to_be_visible()
        screenshot(page, "content-tab")

        open_tab(page, "Settings")
        expect(page.get_by_role("group", name="Protocol")).to_contain_text("Security:")
        page.get_by_label("Restrict first provisioning by IP").check()  # shows the addresses
        page.get_by_label("Allowed addresses").fill("10.0.0.0/8\nnot-an-address")
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#id_ip_whitelist_error")).to_contain_text("'not-an-address' is not an IP")
        screenshot(page, "settings-tab-error")
        page.get_by_label("Allowed addresses").fill("10.0.0.0/8")
        page.get_by_label("Developer mode: accept plain HTTP").check()
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_role("status").first).to_contain_text("Settings saved.")
        expect(page.get_by_text("Developer mode is on")).to_be_visible()
        screenshot(page, "settings-tab")
    finally:
        context.close()


def test_whitelist_in_the_dialog_and_watch_it_provision_live(page, api, device_for, screenshot):
    connector_id = api.connector("Live sensor", protocol={"devmode": True})
    api.resource(connector_id, alias="temp", format="float", unit="°C")

    page.goto(f"/connectors/{connector_id}/devices/")
    page.get_by_role("button", name="+ New device(s)").click()
    dialog = page.get_by_role("dialog", name="New device(s)")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("tab", name="Add one device")).to_have_attribute("aria-selected", "true")
    dialog.get_by_label("Identity").fill("sensor 1")
    dialog.get_by_label("Tags").fill("site=lab")
    dialog.get_by_role("button", name="Add device").click()
    # Refused: the dialog opens again with the reason next to the field and the typed values.
    dialog = page.get_by_role("dialog", name="New device(s)")
    error = dialog.locator("#id_identity_error")
    expect(error).to_contain_text("identity contains characters that are not allowed")
    expect(dialog.get_by_label("Identity")).to_be_focused()
    expect(dialog.get_by_label("Tags")).to_have_value("site=lab")
    dialog.get_by_label("Identity").fill("sensor-1")
    dialog.get_by_role("button", name="Add device").click()
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/devices/sensor-1/$"))
    expect(page.get_by_role("heading", level=2).filter(has_text="sensor-1")).to_contain_text("whitelisted")

    open_tab(page, "Logs")
    log = page.locator("[data-event-log]")
    expect(log.locator("[data-log-status]")).to_have_text("Live")

    device = device_for(connector_id)
    activated = device.post("/provision/activate", data={"id": "sensor-1"})
    assert activated.status_code == 200, activated.text
    device.headers["X-Exosite-CIK"] = activated.text
    assert device.post("/onep:v1/stack/alias", data={"temp": "21.5"}).status_code == 204

    rows = log.locator("tbody tr")
    expect(rows.filter(has_text="provisioned").filter(has_text="sensor-1")).to_have_count(1)
    expect(rows.filter(has_text="data_in").filter(has_text="temp=21.5")).to_have_count(1)
    screenshot(page, "logs-tab")

    page.get_by_role("button", name="Pause").click()
    assert device.post("/onep:v1/stack/alias", data={"temp": "22.25"}).status_code == 204
    expect(log.locator("[data-log-status]")).to_have_text("Paused (1 new)")
    expect(rows.filter(has_text="temp=22.25")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(rows.filter(has_text="temp=22.25")).to_have_count(1)

    page.get_by_label("Event type").select_option("provisioned")
    expect(rows.filter(has_text="data_in")).to_have_count(2)
    expect(rows.filter(has_text="data_in").first).to_be_hidden()
    expect(rows.filter(has_text="provisioned").first).to_be_visible()

    open_tab(page, "Devices")
    row = page.get_by_role("row").filter(has_text="sensor-1")
    expect(row).to_contain_text("devmode")  # it authenticated over plain HTTP
    expect(row).to_contain_text("token")
    expect(row.locator(".tag")).to_have_text(["site"])
    page.get_by_label("Tag column: show the values of one tag").select_option("site")
    expect(page.get_by_role("row").filter(has_text="sensor-1").locator(".tag")).to_have_text(["lab"])
    screenshot(page, "devices-tab")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    expect(page.get_by_role("button", name="+ New device(s)")).to_be_in_viewport()
    screenshot(page, "devices-tab-phone")


def test_a_value_set_on_the_device_page_reaches_a_long_polling_device(page, api, device_for, screenshot):
    connector_id = api.connector("Heater", protocol={"devmode": True})
    api.resource(connector_id, alias="mode", format="string", settable=True, allowed=["eco", "boost"])
    api.resource(connector_id, alias="temp", format="float")
    device = device_for(connector_id)
    token = device.post("/provision/activate", data={"id": "heater-1"}).text
    device.headers["X-Exosite-CIK"] = token
    for value in ["19.5", "20", "21.25"]:
        assert device.post("/onep:v1/stack/alias", data={"temp": value}).status_code == 204

    page.goto(f"/connectors/{connector_id}/devices/heater-1/")
    expect(page.get_by_role("img", name=re.compile(r"^temp: 3 values"))).to_be_visible()
    expect(page.locator("[data-event-log] tbody tr").filter(has_text="provisioned")).to_have_count(1)
    value = page.get_by_label("New value for mode")
    value.fill("turbo")
    page.get_by_role("button", name="Set").click()
    expect(page.get_by_role("alert")).to_contain_text("mode: 'turbo' is not an allowed value")
    expect(page.get_by_label("New value for mode")).to_have_value("turbo")

    # The poll counts changes from this second on, so a set that lands before the poll is
    # registered still wakes it (no race with the click below).
    since = str(int(time.time()))

    def long_poll():
        return device.get(
            "/onep:v1/stack/alias?mode", headers={"Request-Timeout": "60000", "If-Modified-Since": since}
        )

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(long_poll)
        page.get_by_label("New value for mode").fill("boost")
        page.get_by_role("button", name="Set").click()
        expect(page.get_by_role("status").first).to_contain_text("mode set to “boost”.")
        response = waiting.result(timeout=60)
    assert response.status_code == 200
    assert response.text == "mode=boost"
    state_row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="mode"))
    expect(state_row).to_contain_text("boost")
    screenshot(page, "device-page")

    page.get_by_role("button", name="Lock").click()
    expect(page.get_by_role("heading", level=2).filter(has_text="heater-1")).to_contain_text("locked")
    assert device.get("/onep:v1/stack/alias?temp").status_code == 403


def test_the_app_link_is_copied_to_the_clipboard(browser, live_url, logged_in_state, api):
    connector_id = api.connector("Clipboard")
    context = browser.new_context(
        base_url=live_url, storage_state=logged_in_state, permissions=["clipboard-read", "clipboard-write"]
    )
    try:
        page = context.new_page()
        page.goto(f"/connectors/{connector_id}/devices/")
        port = live_url.rsplit(":", 1)[1]  # as the platform was reached
        app_link = f"http://{connector_id}.devices.localhost:{port}"
        expect(page.locator("#app-link")).to_have_text(app_link)
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == app_link
    finally:
        context.close()


def test_a_file_uploads_on_the_content_tab_with_a_progress_bar(page, api, tmp_path):
    connector_id = api.connector("Content upload")
    firmware = tmp_path / "fw-1.0.bin"
    firmware.write_bytes(bytes(range(256)) * 4096)  # 1 MiB

    page.goto(f"/connectors/{connector_id}/content/")
    expect(page.get_by_text("No content yet.")).to_be_visible()
    page.get_by_role("button", name="+ New content").click()
    dialog = page.get_by_role("dialog", name="New content")
    dialog.get_by_role("button", name="Upload").click()
    expect(dialog.get_by_role("alert")).to_have_text("Choose a file to upload.")
    dialog.get_by_label("File").set_input_files(str(firmware))
    dialog.get_by_label("Id", exact=True).fill("../fw")
    dialog.get_by_role("button", name="Upload").click()
    # Refused by the API: its words in the alert, the progress hidden, the button usable again.
    expect(dialog.get_by_role("alert")).to_contain_text("id: ")
    expect(dialog.get_by_label("Upload progress")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Upload")).to_be_enabled()

    dialog.get_by_label("Id", exact=True).fill("")
    with page.expect_request(f"**/api/v1/connectors/{connector_id}/content/") as sent:
        dialog.get_by_role("button", name="Upload").click()
    assert sent.value.method == "POST" and sent.value.header_value("X-CSRFToken")
    # Stored, and the page reloads its list.
    row = page.get_by_role("row").filter(has_text="fw-1.0.bin")
    expect(row).to_contain_text("1 MB")  # 1 MiB, as every page writes sizes (core/sizes.py)
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/content/$"))


def test_a_csv_of_10000_devices_imports_with_a_live_progress_bar(
    page, api, celery_worker, tmp_path, screenshot
):
    connector_id = api.connector("Fleet import")
    lines = ["ID,Tags"]
    for i in range(10_000):
        if i in (17, 5001):
            lines.append(f"bad id {i},")  # not a valid identity
        elif i == 9000:
            lines.append(f'dev-{i:05d},"[{{not json"')
        else:
            tags = json.dumps([{"name": "batch", "value": str(i // 1000)}])
            lines.append(f'dev-{i:05d},"{tags.replace(chr(34), chr(34) * 2)}"')
    csv_file = tmp_path / "identities.csv"
    csv_file.write_text("\n".join(lines) + "\n")

    page.goto(f"/connectors/{connector_id}/devices/")
    page.get_by_role("button", name="+ New device(s)").click()
    dialog = page.get_by_role("dialog", name="New device(s)")
    dialog.get_by_role("tab", name="Add many (CSV)").click()
    dialog.get_by_role("button", name="Upload and import").click()
    expect(dialog.get_by_role("alert")).to_have_text("Choose a CSV file first.")
    dialog.get_by_label("CSV file").set_input_files(str(csv_file))
    dialog.get_by_role("button", name="Upload and import").click()

    progress = dialog.get_by_label("Import progress")
    expect(progress).to_be_visible()
    expect(dialog.locator("[data-import-text]")).to_contain_text("Finished:", timeout=120_000)
    assert progress.evaluate("bar => [bar.value, bar.max]") == [10_000, 10_000]
    expect(dialog.locator("[data-import-text]")).to_contain_text("10000 of 10000 rows · 9997 created")
    report = dialog.locator("[data-import-report]")
    expect(report.get_by_role("heading")).to_have_text("3 rows were not imported")
    expect(report.locator("tbody tr")).to_have_count(3)
    expect(report.locator("tbody tr").first).to_contain_text("19")  # line 19: the header is line 1
    screenshot(page, "devices-import-finished")

    dialog.get_by_role("link", name="Show the devices").click()
    # Counts past a few thousand may be the planner's estimate on PostgreSQL ("About …").
    expect(page.get_by_text(re.compile(r"^(About )?[\d,]+ devices\.$"))).to_be_visible()
    identities = page.locator("table.devices tbody td.mono a")
    expect(identities.first).to_have_text("dev-00000")
    page.get_by_label("Search identities").fill("dev-090")
    page.get_by_role("button", name="Search").click()
    expect(identities.first).to_have_text("dev-09001")  # dev-09000 was the row with bad tags
    expect(page.locator("table.devices tbody tr").first.locator(".tag")).to_have_text(["batch"])


def test_the_api_docs_list_the_operations_without_the_internet(page, live_url, screenshot):
    """/api/docs/ needs nothing but the platform: every request elsewhere is cut off (and counted)."""
    elsewhere: list[str] = []

    def only_the_platform(route):
        if route.request.url.startswith(live_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_platform)
    page.goto("/connectors/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()

    expect(page.get_by_role("heading", name=re.compile("IoT connector management API"))).to_be_visible()
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/connectors/"]').first).to_be_visible()
    assert operations.count() > 20
    screenshot(page, "api-docs")
    assert elsewhere == []


def test_fresh_claim_codes_are_generated_with_a_live_progress_bar(page, api, celery_worker, screenshot):
    connector_id = api.connector("Claiming fleet", claiming={"enabled": True})
    devices = f"/api/v1/connectors/{connector_id}/devices/"
    for i in range(30):
        response = api.client.post(devices, json={"identity": f"unit-{i:03d}"})
        assert response.status_code == 201, response.text
    before = api.client.get(f"/api/v1/connectors/{connector_id}/claim-codes.csv").text

    page.goto(f"/connectors/{connector_id}/claim-codes/")
    expect(page.get_by_text("unit-000", exact=True).first).to_be_visible()  # its label: the default code
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Generate new codes…").click()

    status = page.locator("[data-generate-text]")
    expect(status).to_have_text("Done: 30 devices got a new claim code.", timeout=60_000)
    bar = page.locator("[data-generate-progress] progress")
    assert bar.evaluate("bar => [bar.value, bar.max]") == [30, 30]
    screenshot(page, "claim-codes-generated")
    after = api.client.get(f"/api/v1/connectors/{connector_id}/claim-codes.csv").text
    codes = [line.split(",")[1] for line in after.splitlines()[1:]]
    assert len(codes) == 30 and len(set(codes)) == 30 and after != before
    assert all(len(code) >= 10 and not set(code) & set("0O1lI") for code in codes)
