"""Issue #17, accessibility: axe-core (the ``axe-playwright-python`` test dependency, which ships
axe's script) checks the console's main pages in Chromium, as a logged-in product manager sees
them, with content on every page. A serious or critical violation (contrast below WCAG AA, a
control without a label, …) fails the page's test with the rule, its help and the elements."""

import json

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import EMAIL, PASSWORD, Api
from tests.browser.test_ui_content import upload

BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def fleet(live_url, logged_in_state):
    """One connector with a resource, a provisioned device with values, a content item, and
    firmware updates on with a rollout: every page below has something to show. Returns the
    page addresses' fields."""
    with httpx.Client(base_url=live_url, auth=(EMAIL, PASSWORD), timeout=10) as client:
        api = Api(client)
        connector_id = api.connector("Accessible", protocol={"devmode": True}, firmware={"enabled": True})
        api.resource(connector_id, alias="temp", format="float", unit="°C")
        upload(api, connector_id, "config.json", json.dumps({"interval": 60}).encode(), "application/json")
        with httpx.Client(base_url=live_url, headers={"Host": f"{connector_id}.devices.localhost"}) as device:
            token = device.post("/provision/activate", data={"id": "sensor-1"})
            assert token.status_code == 200, token.text
            device.headers["X-Exosite-CIK"] = token.text
            for value in ("20.5", "21", "21.5"):
                assert device.post("/onep:v1/stack/alias", data={"temp": value}).status_code == 204
        config = {"version": "1.1.0", "name": "Release 1.1.0", "type": "URL_LIST",
                  "payload": ["https://example.com/fw-1.1.0.bin"]}  # fmt: skip
        started = client.post(f"/api/v1/connectors/{connector_id}/firmware/update/",
                              json={"message": config, "devices": ["sensor-1"]})  # fmt: skip
        assert started.status_code == 201, started.text
    return {"id": connector_id, "rollout": started.json()["id"]}


PAGES = {
    "connectors list": "/connectors/",
    "devices tab": "/connectors/{id}/devices/",
    "device page": "/connectors/{id}/devices/sensor-1/",
    "resources tab": "/connectors/{id}/resources/",
    "content tab": "/connectors/{id}/content/",
    "firmware tab": "/connectors/{id}/firmware/",
    "logs tab": "/connectors/{id}/logs/",
    "settings tab": "/connectors/{id}/settings/",
    "rollout page": "/connectors/{id}/firmware/rollouts/{rollout}/",
    "content upload dialog": "/connectors/{id}/content/",
}


def _blocking(page) -> list[dict]:
    return [v for v in Axe().run(page).response["violations"] if v["impact"] in BLOCKING]


def _report(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            why = node.get("failureSummary", "").splitlines()[-1:]
            lines.append(f"    {' '.join(map(str, node['target']))}: {why}")
    return "\n".join(lines)


def test_the_check_finds_an_unlabelled_control_and_poor_contrast(page, fleet):
    """The check itself: a page spoilt on purpose fails it (so an empty list means something)."""
    page.goto(PAGES["content tab"].format(**fleet))
    page.evaluate("""() => {
        const main = document.querySelector("main");
        main.appendChild(document.createElement("input"));
        const faint = main.appendChild(document.createElement("p"));
        faint.textContent = "Faint words";
        faint.style.color = "#bbb";  // the CSSOM, which the page's CSP allows
    }""")
    assert {v["id"] for v in _blocking(page)} >= {"label", "color-contrast"}


@pytest.mark.parametrize("name", PAGES)
def test_the_page_has_no_serious_accessibility_violation(page, fleet, name):
    page.goto(PAGES[name].format(**fleet))
    expect(page.locator("main")).to_be_visible()
    if name in ("logs tab", "device page"):
        expect(page.locator("[data-log-status]")).to_have_text("Live")  # its rows are drawn
    if name == "content upload dialog":
        page.get_by_role("button", name="+ New content").click()
        expect(page.get_by_role("dialog", name="New content")).to_be_visible()
    blocking = _blocking(page)
    assert blocking == [], f"{name}:\n{_report(blocking)}"
