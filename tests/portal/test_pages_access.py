"""Who may open each page of a portal host: every route of ``portal.urls`` (but the JSON API,
tests/claiming/test_portal_api.py) is listed here, and a new one fails the meta-test until it
says who may call it.

- Public pages answer anyone.
- An end user's pages send anyone else to the log-in page: the anonymous, and an end user of
  another connector carrying their own portal's cookie.
- A device's pages are a plain 404 to an end user of this portal who does not own the device.
"""

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver

from claiming.authentication import PORTAL_SESSION_COOKIE
from claiming.services import end_user_create, session_start
from portal import urls as portal_urls
from portal.models import FirmwareNotice
from tests.factories import make_connector
from tests.portal.pages_client import PageClient, log_in
from tests.portal_fixtures import PORTAL_PASSWORD

pytestmark = pytest.mark.django_db

PUBLIC, END_USER, OWNER = "public", "end user", "device owner"


@dataclass(frozen=True)
class Page:
    route: str  # as portal.urls spells it
    rule: str
    method: str = "get"


PAGES = [
    Page("", PUBLIC),
    Page("signup/", PUBLIC),
    Page("login/", PUBLIC),
    Page("logout/", PUBLIC),
    Page("verify/<segment:key>/", PUBLIC),
    Page("password-reset/", PUBLIC),
    Page("password-reset/<segment:key>/", PUBLIC),
    Page("claim/", PUBLIC),
    Page("vendor/<str:name>", PUBLIC),
    Page("theme.css", PUBLIC),
    Page("account/", END_USER),
    Page("devices/", END_USER),
    Page("apps/", END_USER),
    Page("notices/<int:notice_id>/dismiss/", END_USER, "post"),
    Page("devices/<rest:identity>/", OWNER),
    Page("devices/<rest:identity>/state/", OWNER, "post"),
    Page("devices/<rest:identity>/firmware/", OWNER, "post"),
    Page("devices/<rest:identity>/release/", OWNER),
]


def _routes(patterns, prefix: str = "") -> set[str]:
    found = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found |= _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.add(route)
    return found


def test_every_portal_page_is_in_the_table():
    pages = {route for route in _routes(portal_urls.urlpatterns) if not route.startswith("api/")}
    assert pages == {page.route for page in PAGES}


@pytest.fixture
def world(claiming_connector, alice, bob, coded_devices, business):
    [device] = coded_devices("ALICES")
    alice_browser = PageClient()
    log_in(alice_browser, alice.email)
    assert alice_browser.post("/claim/", {"claim_code": "ALICES"}).status_code == 302
    notice = FirmwareNotice.objects.create(user=alice, package_id="package_fw", version="2.0.0")
    values = {"identity": device.identity, "notice_id": notice.pk, "key": "no-such-key",
              "name": "favicon.ico"}  # fmt: skip
    return {"device": device, "values": values, "alice": alice, "bob": bob, "business": business}


def _path(page: Page, values: dict) -> str:
    path = page.route
    for name, value in values.items():
        for converter in ("segment", "rest", "int", "str"):
            path = path.replace(f"<{converter}:{name}>", str(value))
    return "/" + path


def _call(client, page: Page, path: str):
    return client.post(path, {}) if page.method == "post" else client.get(path)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"{page.method} /{page.route}")
def test_the_anonymous_and_another_portals_users(world, page):
    path = _path(page, world["values"])
    # An end user of another connector, with the session cookie of their own portal.
    other = make_connector(business=world["business"], devmode=True, claiming_enabled=True,
                           portal_subdomain="globex")  # fmt: skip
    end_user_create(connector=other, email="carol@example.com", password=PORTAL_PASSWORD, verified=True)
    outsider = PageClient()
    outsider.cookies[PORTAL_SESSION_COOKIE] = session_start(
        connector=other, email="carol@example.com", password=PORTAL_PASSWORD
    )
    for client in (PageClient(), outsider):
        response = _call(client, page, path)
        if page.rule == PUBLIC:
            assert response.status_code < 500, (path, response.status_code)
            assert not response.get("Location", "").startswith("/login/")
        else:
            assert response.status_code == 302, (path, response.status_code)
            assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.rule == OWNER], ids=lambda page: f"{page.method} /{page.route}"
)
def test_a_device_is_a_404_to_an_end_user_who_does_not_own_it(world, page):
    bob = PageClient()
    log_in(bob, world["bob"].email)
    response = _call(bob, page, _path(page, world["values"]))
    assert response.status_code == 404
    assert world["device"].identity not in response.content.decode()


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.rule != PUBLIC], ids=lambda page: f"{page.method} /{page.route}"
)
def test_the_end_user_opens_their_own_pages(world, page):
    alice = PageClient()
    log_in(alice, world["alice"].email)
    response = _call(alice, page, _path(page, world["values"]))
    if page.method == "get":
        assert response.status_code == 200, (page.route, response.status_code)
    else:  # a form sent empty: refused (409: firmware updates are off) or done; never a log-in page or 404
        assert response.status_code in (200, 302, 400, 403, 409), (page.route, response.status_code)
        assert not response.get("Location", "").startswith("/login/")
