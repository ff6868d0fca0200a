"""Issue #17, Content, Firmware updates and Logs in a real browser: the upload says it worked,
sizes read the same everywhere, Firmware updates is a tab of its own, a rollout's statuses say
what they mean in colour and words, the start form shows the fields of the chosen targeting, and
the Logs tab says what it replays and does not trap the page's scroll."""

import json
import re

from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS
from tests.live import wait_for

FIRMWARE_IMAGE = bytes(range(256)) * 4800  # 1,228,800 bytes: "1.2 MB"
IDENTITIES = ["g-1", "g-2", "g-3", "g-4"]


def provisioned(device_for, connector_id: str, identity: str):
    """A device of the connector, provisioned over the device API, ready to write."""
    device = device_for(connector_id)
    token = device.post("/provision/activate", data={"id": identity})
    assert token.status_code == 200, token.text
    device.headers["X-Exosite-CIK"] = token.text
    return device


def upload(api, connector_id: str, content_id: str, data: bytes, content_type: str) -> None:
    response = api.client.post(
        f"/api/v1/connectors/{connector_id}/content/",
        data={"id": content_id},
        files={"file": (content_id, data, content_type)},
    )
    assert response.status_code in (200, 201), response.text


def firmware_world(api, device_for, worker, name: str = "Greenhouse") -> tuple[str, dict]:
    """A connector with firmware updates on, a 1.2 MB firmware image and its package, and a
    rollout to four devices: one installed, one failed, one downloading, one not reporting.
    Returns the connector's id and the devices' clients by identity."""
    connector_id = api.connector(name, protocol={"devmode": True}, firmware={"enabled": True})
    upload(api, connector_id, "fw-2.0.0.bin", FIRMWARE_IMAGE, "application/octet-stream")
    package = {
        "author": "Acme firmware team",
        "product": "Greenhouse G1",
        "config_otau": {"version": "2.0.0", "name": "Release 2.0.0", "description": None, "type": "FILE",
                        "payload": "fw-2.0.0.bin"},
    }  # fmt: skip
    upload(api, connector_id, "package_fw_2.0.0", json.dumps(package).encode(), "application/json")
    devices = {identity: provisioned(device_for, connector_id, identity) for identity in IDENTITIES}
    started = api.client.post(
        f"/api/v1/connectors/{connector_id}/firmware/update/",
        json={"package": "package_fw_2.0.0", "devices": sorted(devices)},
    )
    assert started.status_code == 201, started.text
    rollout_url = f"/api/v1/connectors/{connector_id}/firmware/rollouts/{started.json()['id']}/"
    # The first wave goes out from the worker; a report counts once the device was sent it.
    wait_for(lambda: api.client.get(rollout_url).json()["counts"] == {"SENT": 4}, "the Celery worker",
             worker, timeout=WAIT_MS / 1000)  # fmt: skip
    for identity, status in [("g-1", "INSTALL_SUCCESS"), ("g-2", "DOWNLOAD_ERROR"), ("g-3", "DOWNLOAD")]:
        message = "checksum mismatch" if status.endswith("_ERROR") else ""
        report = json.dumps({"version": "2.0.0", "status": status, "message": message})
        written = devices[identity].post("/onep:v1/stack/alias", data={"otau_in": report})
        assert written.status_code == 204, written.text
    return connector_id, devices


def open_tab(page, name: str) -> None:
    tabs = page.get_by_role("navigation", name="Connector")
    tabs.get_by_role("link", name=name, exact=True).click()
    expect(tabs.locator("[aria-current=page]")).to_have_text(name)


def test_an_upload_says_it_worked_and_sizes_read_the_same_everywhere(page, api, tmp_path):
    connector_id = api.connector("Upload message")
    image = tmp_path / "fw-1.2.bin"
    image.write_bytes(FIRMWARE_IMAGE)

    page.goto(f"/connectors/{connector_id}/content/")
    expect(page.get_by_text("Each must be smaller than 64 MB.")).to_be_visible()
    page.get_by_role("button", name="+ New content").click()
    dialog = page.get_by_role("dialog", name="New content")
    expect(dialog.get_by_text("Under 64 MB. An existing id is replaced.")).to_be_visible()
    dialog.get_by_label("File").set_input_files(str(image))
    dialog.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").filter(has_text="uploaded")).to_have_text("“fw-1.2.bin” uploaded.")
    row = page.get_by_role("row").filter(has_text="fw-1.2.bin")
    expect(row.get_by_role("cell", name="1.2 MB", exact=True)).to_be_visible()

    page.reload()  # the message was for that upload only
    expect(page.get_by_role("status").filter(has_text="uploaded")).to_have_count(0)
    page.get_by_role("button", name="+ New content").click()
    dialog.get_by_label("File").set_input_files(str(image))
    dialog.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").filter(has_text="replaced")).to_have_text("“fw-1.2.bin” replaced.")

    page.get_by_role("link", name="Delete fw-1.2.bin").click()
    expect(page.get_by_text(re.compile(r"^1\.2 MB, application/octet-stream\."))).to_be_visible()


def test_firmware_updates_is_a_tab_of_its_own(page, api):
    connector_id = api.connector("Firmware tab")
    page.goto(f"/connectors/{connector_id}/content/")
    open_tab(page, "Firmware updates")
    expect(page).to_have_url(re.compile(rf"/connectors/{connector_id}/firmware/$"))
    expect(page.get_by_role("button", name="Turn firmware updates on")).to_be_visible()
    open_tab(page, "Content")


def test_rollout_statuses_say_what_they_mean_in_colour_and_words(page, api, device_for, celery_worker):
    connector_id, devices = firmware_world(api, device_for, celery_worker, name="Rollout colours")
    page.goto(f"/connectors/{connector_id}/firmware/")
    rollouts = page.get_by_role("table", name="Rollouts, newest first")
    expect(rollouts.locator("[data-rollout-state]")).to_have_text("Running")
    expect(rollouts.locator("[data-rollout-state]")).to_have_class(re.compile(r"\bfw-status-running\b"))
    expect(rollouts.locator(".fw-status-failed")).to_have_text("Download failed 1")
    expect(rollouts.locator(".fw-status-succeeded")).to_have_text("Installed 1")
    expect(rollouts.locator(".fw-status-pending")).to_have_text("Sent (no report yet) 1")
    expect(rollouts.locator("[data-status=DOWNLOAD]")).to_have_class(re.compile(r"\bfw-status-running\b"))

    # (The rollout's number depends on what other tests of the live platform made before.)
    rollouts.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    expect(page.get_by_role("navigation", name="Connector").locator("[aria-current=page]")).to_have_text(
        "Firmware updates"
    )
    table = page.get_by_role("table", name=re.compile("The rollout's devices"))
    expected = [("g-1", "succeeded", "Installed"), ("g-2", "failed", "Download failed"),
                ("g-3", "running", "Downloading"), ("g-4", "pending", "Sent (no report yet)")]  # fmt: skip
    for identity, meaning, words in expected:
        badge = table.get_by_role("row").filter(has_text=identity).locator(".fw-status")
        expect(badge).to_have_text(words)
        expect(badge).to_have_class(re.compile(rf"\bfw-status-{meaning}\b"))
    red = page.locator("[data-rollout-counts] .fw-status-failed")
    expect(red).to_have_text("Download failed")
    assert red.evaluate("e => getComputedStyle(e).color") == "rgb(180, 35, 24)"  # --danger

    # The live counts (rollout.js, from the API) draw the same badges after a new report.
    counts = page.locator("[data-rollout-counts]")
    expect(counts.locator(".fw-status-running")).to_have_text("Downloading")
    report = json.dumps({"version": "2.0.0", "status": "INSTALL_SUCCESS", "message": ""})
    assert devices["g-3"].post("/onep:v1/stack/alias", data={"otau_in": report}).status_code == 204
    expect(counts.locator(".fw-status-running")).to_have_count(0)
    expect(counts.get_by_role("row").filter(has=page.locator(".fw-status-succeeded"))).to_have_text(
        re.compile(r"Installed\s*2")
    )


def test_the_start_form_shows_the_fields_of_the_chosen_targeting(page, api):
    connector_id = api.connector("Targeting", firmware={"enabled": True})
    page.goto(f"/connectors/{connector_id}/firmware/")
    form = page.locator("[data-rollout-form]")
    targeting = form.get_by_role("group", name="Devices to update")
    expect(targeting.get_by_role("radio", name="These devices")).to_be_checked()
    expect(form.get_by_label("Identities")).to_be_visible()
    expect(form.get_by_label("Tags")).to_be_hidden()
    expect(form.get_by_label("Identity prefix")).to_be_hidden()

    targeting.get_by_role("radio", name="Every device matching a filter").check()
    expect(form.get_by_label("Identities")).to_be_hidden()
    expect(form.get_by_label("Tags")).to_be_visible()
    expect(form.get_by_label("Status")).to_be_visible()
    expect(form.get_by_label("Identity prefix")).to_be_visible()

    # A refused form comes back with the chosen targeting and its fields.
    form.get_by_label("Tags").fill("model:t1")
    form.get_by_role("button", name="Start the update").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(form.get_by_role("radio", name="Every device matching a filter")).to_be_checked()
    expect(form.get_by_label("Tags")).to_have_value("model:t1")
    expect(form.get_by_label("Identities")).to_be_hidden()


def test_the_logs_tab_says_what_it_replays_shows_values_and_scrolls_the_page(page, api, device_for):
    connector_id = api.connector("Log scroll", protocol={"devmode": True})
    api.resource(connector_id, alias="temp", format="float")
    api.resource(connector_id, alias="note", format="string")
    device = provisioned(device_for, connector_id, "logger-1")
    for n in range(40):
        assert device.post("/onep:v1/stack/alias", data={"temp": f"{20 + n / 10}"}).status_code == 204
    assert device.post("/onep:v1/stack/alias", data={"note": "door open"}).status_code == 204

    page.goto(f"/connectors/{connector_id}/logs/")
    expect(page.get_by_text("the last 200 events are replayed when the page opens")).to_be_visible()
    rows = page.locator("[data-event-log] tbody tr")
    expect(rows).to_have_count(42)
    newest = rows.first
    expect(newest.locator(".payload").first).to_have_text("note=door open")
    # Flat payloads are said in full: no JSON, no "null", nothing to unfold.
    expect(page.locator("[data-event-log] tbody")).not_to_contain_text("null")
    expect(page.locator("[data-event-log] details")).to_have_count(0)

    # The wheel over the table scrolls the page, not a box inside it.
    assert page.evaluate("window.scrollY") == 0
    box = rows.nth(3).bounding_box()
    page.mouse.move(box["x"] + 50, box["y"] + 10)
    page.mouse.wheel(0, 600)
    expect(page.locator(".site-header")).not_to_be_in_viewport()
    assert page.locator(".log").evaluate("e => e.scrollTop") == 0
