"""The Integration tab in Chromium against the live platform: paste the pump cloud's spec, fill
the configuration form it generates, save, "Sync now" and watch the progress bar reach the end
with the created devices counted (the run is a job of the suite's Celery worker), then call
``getAssetState`` in the tester and read its JSON.

The pump cloud (tests/integrations/pump_cloud.py) runs in this process; the live server and the
worker trust its CA through the file tests/browser/live_settings.py names, written here before
anything calls it, and may call loopback hosts (``INTEGRATIONS_ALLOW_PRIVATE_HOSTS``)."""

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.integrations.pump_cloud import PumpCloud, asset_state, pump_cloud_spec

ASSETS = 250  # two batches of the sync: the bar moves before it ends


@pytest.fixture(scope="module")
def pump_cloud(platform_env):
    with PumpCloud() as cloud:
        shutil.copyfile(cloud.ca_path, Path(platform_env["MURANO_VAR_DIR"]) / "integrations-ca.pem")
        yield cloud


def test_paste_a_spec_configure_sync_and_try_an_operation(page, api, celery_worker, pump_cloud, screenshot):
    pump_cloud.reset()
    pump_cloud.add_assets(ASSETS)
    connector_id = api.connector("Pump fleet", protocol={"devmode": True})
    for alias, fmt in (("temperature", "float"), ("battery", "integer"), ("running", "boolean")):
        api.resource(connector_id, alias=alias, format=fmt)

    page.goto(f"/connectors/{connector_id}/devices/")
    page.get_by_role("navigation", name="Connector").get_by_role("link", name="Integration").click()
    expect(page.locator("#integration-none")).to_contain_text("No integration yet")

    # The spec first: its configuration form and operations come back with it.
    page.get_by_label("OpenAPI 2 (Swagger) document").fill(pump_cloud_spec(pump_cloud.host))
    page.get_by_role("button", name="Check the spec").click()
    expect(page.locator("#spec-notice")).to_contain_text("The spec is valid: Pump Cloud 1.0.0")
    form = page.locator("#integration-form")
    form.get_by_label("username", exact=True).fill(pump_cloud.username)
    form.get_by_label("password", exact=True).fill(pump_cloud.password)
    form.get_by_label("List operation").select_option("listAssets")
    form.get_by_label("State operation").select_option("getAssetState")
    form.get_by_label("Detail operation").select_option("getAsset")
    form.get_by_label("Page parameter").fill("page")
    screenshot(page, "integration-tab-config")
    form.get_by_role("button", name="Save integration").click()
    expect(page.get_by_role("status").filter(has_text="Integration created.")).to_be_visible()
    expect(page.locator("#spec-summary")).to_contain_text(pump_cloud.host)
    expect(form.get_by_label("password", exact=True)).to_have_value("")
    assert pump_cloud.password not in page.content()

    # Sync now: the progress bar follows the job to its end.
    page.get_by_role("button", name="Sync now").click()
    panel = page.locator("[data-sync-progress]")
    expect(panel).to_have_attribute("data-job-state", "finished", timeout=120_000)
    bar = page.get_by_label("Progress")
    assert bar.evaluate("bar => [bar.value, bar.max]") == [ASSETS, ASSETS]
    expect(page.locator("[data-sync-text]")).to_have_text(f"{ASSETS} of {ASSETS} assets")
    expect(panel.locator('[data-count="created"]')).to_have_text(str(ASSETS))
    expect(panel.locator('[data-count="error_count"]')).to_have_text("0")
    expect(panel.locator("[data-sync-state]")).to_have_text("Finished")
    screenshot(page, "integration-tab-synced")

    # The tester: getAssetState of one asset, its JSON as the pump cloud answered it.
    page.get_by_label("Operation", exact=True).select_option("getAssetState")
    expect(page).to_have_url(re.compile(r"\?operation=getAssetState#tester$"))
    tester = page.locator("#operation-form")
    tester.get_by_label("id (path, required)").fill("P-0001")
    tester.get_by_role("button", name="Call getAssetState").click()
    expect(page.locator("#operation-status")).to_have_text("200")
    state = asset_state(1)
    body = page.locator("#operation-body")
    expect(body).to_contain_text(f'"temperature": {state["temperature"]}')
    expect(body).to_contain_text(f'"battery": {state["battery"]}')
    screenshot(page, "integration-tab-tester")
