"""The portal pages' CSP, error pages, CSRF failure page and labels on every form field."""

import re

import pytest

from claiming.services import link_create
from tests.factories import make_resource
from tests.portal.pages_client import PageClient, log_in

pytestmark = pytest.mark.django_db

PORTAL_CSP = (
    "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture
def alice_browser(alice, claiming_connector, coded_devices):
    make_resource(connector=claiming_connector, alias="target", format="number", settable=True)
    make_resource(
        connector=claiming_connector, alias="mode", format="string", settable=True, allowed=["a", "b"]
    )
    coded_devices("MINE")
    browser = PageClient()
    log_in(browser, alice.email)
    assert browser.post("/claim/", {"claim_code": "MINE"}).status_code == 302
    return browser


def test_portal_pages_have_the_portal_csp_and_api_keeps_json(claiming_connector, alice_browser):
    anonymous = PageClient()
    for path in ("/", "/login/", "/signup/", "/password-reset/", "/claim/", "/nope/"):
        assert anonymous.get(path)["Content-Security-Policy"] == PORTAL_CSP, path
    for path in ("/devices/", "/devices/MINE-1/", "/apps/", "/account/", "/devices/MINE-1/release/"):
        assert alice_browser.get(path)["Content-Security-Policy"] == PORTAL_CSP, path
    response = anonymous.get("/api/devices")
    assert response["Content-Type"].startswith("application/json")
    assert "https:" not in response["Content-Security-Policy"]


def test_error_pages_are_branded_and_never_link_to_the_platform(claiming_connector):
    response = PageClient().get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'id="portal-header"' in page and "Not found" in page
    assert "/connectors/" not in page and "/accounts/login" not in page
    api = PageClient().get("/api/nope")
    assert api.status_code == 404 and api.json()["detail"]


def test_csrf_failure_on_a_portal_host_is_the_portal_page(claiming_connector, alice):
    browser = PageClient(enforce_csrf_checks=True)
    response = browser.post("/login/", {"email": alice.email, "password": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and 'id="portal-header"' in page
    assert "IoT Connector" not in page


def test_csrf_failure_on_the_platform_is_the_platforms_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def _fields_without_labels(page: str) -> list[str]:
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
    missing = []
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if re.search(r'type="(hidden|submit)"', tag):
            continue
        match = re.search(r'id="([^"]+)"', tag)
        if not match or match.group(1) not in labelled:
            missing.append(tag)
    return missing


def test_every_form_field_has_a_label(claiming_connector, alice_browser, end_user):
    anonymous = PageClient()
    pages = [anonymous.get(p).content.decode() for p in ("/login/", "/signup/", "/password-reset/")]
    pending = end_user(claiming_connector, "pending@example.com", verified=False)
    pages.append(anonymous.get(f"/verify/{link_create(user=pending, purpose='verify')}/").content.decode())
    pages.append(
        anonymous.get(
            f"/password-reset/{link_create(user=pending, purpose='password_reset')}/"
        ).content.decode()
    )
    for path in ("/claim/?claim=X", "/account/", "/devices/MINE-1/", "/logout/"):
        pages.append(alice_browser.get(path).content.decode())
    # A log-in refused for an unconfirmed address shows the log-in and the "send again" forms.
    refused = log_in(anonymous, pending.email)
    assert refused.status_code == 403 and 'id="id_resend_email"' in refused.content.decode()
    pages.append(refused.content.decode())
    for page in pages:
        assert _fields_without_labels(page) == []
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert '<label for="value-target">' in pages[-3]


def test_paths_with_a_nul_are_not_found(claiming_connector, alice_browser):
    # PostgreSQL refuses a NUL even in a lookup: such a path names nothing (404, never 500).
    for path in ("/devices/%00/", "/devices/MINE-1%00/release/", "/verify/%00/", "/password-reset/a%00b/"):
        response = alice_browser.get(path)
        assert response.status_code == 404, path
        assert 'id="portal-header"' in response.content.decode()
