"""Who may open and post each page of the web UI, route by route and role by role — the web UI's
counterpart of tests/test_access_control.py.

One table names every web UI route (everything but the API and Django's admin) with each method
it takes and the rule that governs it; every entry is requested as the connector's business
admin, a developer, a viewer, an outsider (admin of another business) and an anonymous visitor,
with a body that succeeds where the rule allows, and must answer:

- anonymous: a redirect to the log-in page, except on public pages;
- outsider: ``404`` "Not found" on anything under someone else's connector (no existence leak);
- viewer: reads only (``403`` "Not allowed" on changes, and on the pages that only lead to one);
- developer: everything but deleting the connector (``403``);
- admin: everything.

A refused post changes nothing. A route the table does not name fails
``test_every_ui_route_is_in_the_access_table``, and a method it does not name for a route must
answer ``405`` (``test_methods_the_table_does_not_name_are_not_allowed``).

What the pages *show* each role (edit controls, the connector list) and the CSRF checks are in
tests/web/test_access.py.
"""

from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from portal.branding import branding_default
from tests.factories import PASSWORD
from tests.pki.certs import make_leaf
from tests.routes import ADMIN, ALLOWED_ROLES, PERSONAL, PUBLIC, READ, WRITE
from tests.ui_routes import UiWorld, ui_routes
from tests.web.conftest import page_text

PROJECT_APPS = ["accounts", "connectors", "devices", "jobs", "firmware", "claiming", "portal", "integrations"]
ROLES = ["admin", "developer", "viewer", "outsider", "anonymous"]


@dataclass(frozen=True)
class Case:
    """One route and method, the rule that governs it, and a request that succeeds if allowed."""

    route: str  # the URL pattern as the resolver spells it
    method: str
    access: str
    success: int  # what an allowed request answers (302: the page redirects after the change)
    body: Any = None  # form fields, or a callable taking the UiWorld
    outsider: int = 404  # what an outsider gets, where "not found" is not the natural answer
    anonymous: int | None = None  # what an anonymous visitor gets on a public page, if not ``success``

    @property
    def id(self) -> str:
        return f"{self.method.upper()} /{self.route}"


CONNECTOR = "connectors/<segment:connector_id>/"
DEVICE = CONNECTOR + "devices/<segment:identity>/"
RESOURCE = CONNECTOR + "resources/<rest:alias>/"
ROLLOUT = CONNECTOR + "firmware/rollouts/<int:rollout_id>/"
END_USER = CONNECTOR + "end-users/<int:user_id>/"
PORTAL = CONNECTOR + "portal/"
INTEGRATION = CONNECTOR + "integration/"
NEW_PASSWORD = "a-fresh-passphrase-for-2026"
SETTINGS = {"name": "Renamed", "identity_type": "opaque", "identity_casing": "mixed", "auth_type": "token",
            "activation_window_hours": "48", "transports": ["http", "mqtt"]}  # fmt: skip


def _certificate(world: UiWorld) -> dict:
    return {"certificate": make_leaf(world.device.identity).pem}


def _branding_fields() -> dict:
    """The Portal tab's branding form, filled with the defaults and a new title."""
    d = branding_default()
    return {
        "title": "Renamed", "description": d["description"], "companyName": d["companyName"],
        "themeType": d["themeType"], "deviceSpecs": "\n".join(d["landingPage"]["deviceSpecs"]),
        **{k: d["landingPage"][k] for k in ("mainSlogan", "secondarySlogan", "deviceName")},
        **{f"theme_{k}": v for k, v in d["theme"].items()},
        **{f"links_{k}": v for k, v in d["links"].items()},
    }  # fmt: skip


def _integration_fields(world: UiWorld) -> dict:
    """The Integration tab's form for the world's integration, a new interval."""
    body = world.integration_body
    fields = {"config_username": body["config"]["username"], "config_password": "",
              "list_operation": "listAssets", "state_operation": "getAssetState", "id_field": "id",
              "identity": "sha256", "interval_seconds": "120", "enabled": "on"}  # fmt: skip
    return {"spec": body["spec"], **fields, "shown": list(fields)}


def _branding_file(world: UiWorld) -> dict:
    return {
        "file": SimpleUploadedFile("branding.json", b'{"title": "Loaded"}', content_type="application/json")
    }


def _png_file(world: UiWorld) -> dict:
    out = BytesIO()
    Image.new("RGB", (4, 4), (10, 200, 10)).save(out, format="PNG")
    return {"file": SimpleUploadedFile("logo.png", out.getvalue(), content_type="image/png")}


def _content_file(world: UiWorld) -> dict:
    return {"file": SimpleUploadedFile("app.bin", b"firmware", content_type="application/octet-stream")}


TABLE = [
    # Site pages and health checks
    Case("", "get", PUBLIC, 200),
    Case("healthz", "get", PUBLIC, 200),
    Case("readyz", "get", PUBLIC, 200),
    # Accounts: log-in, log-out, passwords (Django's views), invitations
    Case("accounts/login/", "get", PUBLIC, 200),
    Case("accounts/login/", "post", PUBLIC, 302, lambda w: {"username": w.users["admin"].email,
                                                            "password": PASSWORD}),
    Case("accounts/logout/", "post", PUBLIC, 302),
    Case("accounts/password_change/", "get", PERSONAL, 200),
    Case("accounts/password_change/", "post", PERSONAL, 302,
         {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
    Case("accounts/password_change/done/", "get", PERSONAL, 200),
    Case("accounts/password_reset/", "get", PUBLIC, 200),
    Case("accounts/password_reset/", "post", PUBLIC, 302, lambda w: {"email": w.users["admin"].email}),
    Case("accounts/password_reset/done/", "get", PUBLIC, 200),
    # A mail's link: the token moves into the session and the page redirects to the form.
    Case("accounts/reset/<uidb64>/<token>/", "get", PUBLIC, 302),
    Case("accounts/reset/<uidb64>/<token>/", "post", PUBLIC, 302),
    Case("accounts/reset/done/", "get", PUBLIC, 200),
    # The invitation's key is the credential: anyone with the link sees the page. Posting, an
    # anonymous visitor chooses a password and joins; someone logged in with another address
    # is shown the page again (log out first).
    Case("accounts/invitations/<str:key>/", "get", PUBLIC, 200),
    Case("accounts/invitations/<str:key>/", "post", PUBLIC, 200,
         {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, anonymous=302),
    # Connectors: the list shows your businesses' connectors; creating one needs a business you
    # may write to (the outsider creates one in Globex).
    Case("connectors/", "get", PERSONAL, 200),
    Case("connectors/", "post", WRITE, 302, {"name": "New connector"}, outsider=302),
    Case(CONNECTOR, "get", READ, 302),
    Case(CONNECTOR + "settings/", "get", READ, 200),
    Case(CONNECTOR + "settings/", "post", WRITE, 302, SETTINGS),
    Case(CONNECTOR + "settings/generate-ca/", "get", WRITE, 200),
    Case(CONNECTOR + "settings/generate-ca/", "post", WRITE, 302, {"replace": "1"}),
    Case(CONNECTOR + "delete/", "get", ADMIN, 200),
    Case(CONNECTOR + "delete/", "post", ADMIN, 302, lambda w: {"name": w.connector.name}),
    # Resources ("New resource" posts the list's dialog; its own page is the fallback)
    Case(CONNECTOR + "resources/", "get", READ, 200),
    Case(CONNECTOR + "resources/", "post", WRITE, 302, {"alias": "temp", "format": "number", "sync": "on"}),
    Case(CONNECTOR + "resources/new/", "get", WRITE, 200),
    Case(CONNECTOR + "resources/new/", "post", WRITE, 302, {"alias": "temp", "format": "number",
                                                             "sync": "on"}),
    Case(RESOURCE + "edit/", "get", WRITE, 200),
    Case(RESOURCE + "edit/", "post", WRITE, 302, {"format": "string", "unit": "x", "sync": "on"}),
    Case(RESOURCE + "delete/", "get", WRITE, 200),
    Case(RESOURCE + "delete/", "post", WRITE, 302),
    # Devices
    Case(CONNECTOR + "devices/", "get", READ, 200),
    Case(CONNECTOR + "devices/", "post", WRITE, 302, {"identity": "new-1"}),
    Case(CONNECTOR + "device-changes/", "post", WRITE, 302,
         lambda w: {"action": "lock", "device": w.device.identity}),
    Case(CONNECTOR + "devices.csv", "get", READ, 200),
    Case(DEVICE, "get", READ, 200),
    Case(DEVICE, "post", WRITE, 302, {"alias": "mode", "value": "eco"}),  # the Set forms
    Case(DEVICE + "lock/", "post", WRITE, 302, {"locked": "1"}),
    Case(DEVICE + "revoke/", "get", WRITE, 200),
    Case(DEVICE + "revoke/", "post", WRITE, 302),
    Case(DEVICE + "delete/", "get", WRITE, 200),
    Case(DEVICE + "delete/", "post", WRITE, 302),
    Case(DEVICE + "tags/", "post", WRITE, 302, {"tag_name": ["a"], "tag_value": ["b"]}),
    Case(DEVICE + "certificate/", "post", WRITE, 302, _certificate),
    Case(DEVICE + "certificate/clear/", "post", WRITE, 302),
    Case(DEVICE + "state/", "post", WRITE, 302, {"alias": "mode", "value": "eco"}),
    Case(CONNECTOR + "logs/", "get", READ, 200),
    # Content store
    Case(CONNECTOR + "content/", "get", READ, 200),
    Case(CONNECTOR + "content/upload/", "post", WRITE, 302, _content_file),
    Case(CONNECTOR + "content/<segment:content_id>/delete/", "get", WRITE, 200),
    Case(CONNECTOR + "content/<segment:content_id>/delete/", "post", WRITE, 302),
    # Firmware updates
    Case(CONNECTOR + "firmware/", "get", READ, 200),
    Case(CONNECTOR + "firmware/", "post", WRITE, 302,
         lambda w: {"message": '{"version": "2.0", "name": "fw", "type": "URL_LIST", '
                               '"payload": ["https://example.com/fw-2.0.bin"]}',
                    "target": "devices", "devices": w.device.identity}),
    Case(CONNECTOR + "firmware/settings/", "post", WRITE, 302, {"enabled": "1"}),
    Case(ROLLOUT, "get", READ, 200),
    Case(ROLLOUT + "state/", "post", WRITE, 302, {"state": "paused"}),
    # Claiming: the End Users tab, the claim codes page (labels; the CSV and the generation are
    # the API's)
    Case(CONNECTOR + "end-users/", "get", READ, 200),
    Case(CONNECTOR + "end-users/", "post", WRITE, 302, {"email": "new.end.user@example.com"}),
    Case(END_USER, "get", READ, 200),
    Case(END_USER, "post", WRITE, 302, {"email": "end.user@example.com", "name": "Renamed",
                                        "user_data": '{"app_x": {"default": true}}'}),
    Case(END_USER + "password/", "post", WRITE, 302, {"password": NEW_PASSWORD}),
    Case(END_USER + "delete/", "post", WRITE, 302),
    Case(CONNECTOR + "claim-codes/", "get", READ, 200),
    # The Portal tab: branding (form, reset, branding.json), the preview and its theme, images,
    # the welcome e-mail (save, reset, test, preview), the generic claim QR code
    Case(PORTAL, "get", READ, 200),
    Case(PORTAL + "qr.svg", "get", READ, 200),
    Case(PORTAL + "branding/", "post", WRITE, 302, lambda w: _branding_fields()),
    Case(PORTAL + "branding/reset/", "post", WRITE, 302),
    Case(PORTAL + "branding.json", "get", READ, 200),
    Case(PORTAL + "branding/upload/", "post", WRITE, 302, _branding_file),
    Case(PORTAL + "preview/", "get", READ, 200),
    Case(PORTAL + "preview/theme.css", "get", READ, 200),
    Case(PORTAL + "images/<str:asset_name>/", "post", WRITE, 302, _png_file),
    Case(PORTAL + "images/<str:asset_name>/restore/", "post", WRITE, 302),
    Case(PORTAL + "email/", "post", WRITE, 302, {"subject": "Hi", "html": "<a href='<%LINK%>'>go</a>"}),
    Case(PORTAL + "email/reset/", "post", WRITE, 302),
    Case(PORTAL + "email/test/", "post", WRITE, 302),
    Case(PORTAL + "email/preview/", "get", READ, 200),
    # The Integration tab: the spec, configuration and sync form; Sync now (a queued job), Check
    # now, the operation tester (the world's third party is down: 502, the page says so) and
    # removing it (a confirmation page first)
    Case(INTEGRATION, "get", READ, 200),
    Case(INTEGRATION, "post", WRITE, 302, _integration_fields),
    Case(INTEGRATION + "sync/", "post", WRITE, 302),
    Case(INTEGRATION + "health/", "post", WRITE, 302),
    Case(INTEGRATION + "try/", "post", WRITE, 502, {"operation": "getAssetState", "param_id": "P-1"}),
    Case(INTEGRATION + "delete/", "get", WRITE, 200),
    Case(INTEGRATION + "delete/", "post", WRITE, 302),
]  # fmt: skip
TABLE_BY_KEY = {(case.route, case.method): case for case in TABLE}
assert len(TABLE_BY_KEY) == len(TABLE), "a route and method is in the table twice"


def _snapshot() -> dict:
    """Everything a page could change: the rows of the project's own apps."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
    }


def expected_status(case: Case, role: str) -> int:
    if case.access == PUBLIC:
        return case.anonymous if role == "anonymous" and case.anonymous else case.success
    if role == "anonymous":
        return 302  # to the log-in page
    if case.access == PERSONAL:
        return case.success
    if role == "outsider":
        return case.outsider
    return case.success if role in ALLOWED_ROLES[case.access] else 403


@pytest.fixture
def world(owner, developer, viewer, outsider, fleet, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # content items land in this test's directory
    # The world's integration calls a loopback port where nothing listens: refused at once.
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS, settings.INTEGRATIONS_RETRY_BACKOFF = True, 0
    users = {"admin": owner, "developer": developer, "viewer": viewer, "outsider": outsider}
    return UiWorld(users=users, connector=fleet, device=fleet.devices.get(identity="dev-1"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_ui_access(web, world, case, role):
    client = web(world.users.get(role))  # first: logging in changes what a password reset link holds
    url = world.url(case.route)
    body = case.body(world) if callable(case.body) else case.body
    expected = expected_status(case, role)
    before = _snapshot()

    response = getattr(client, case.method)(url, body or {})

    assert response.status_code == expected, page_text(response)[:2000]
    html = page_text(response)
    login_required = case.access != PUBLIC and role == "anonymous"
    if login_required:
        assert response["Location"].startswith("/accounts/login/?next="), response["Location"]
    elif expected == 302:
        assert not response["Location"].startswith("/accounts/login/?next="), response["Location"]
    if expected == 404:
        assert "Not found" in html
        assert world.connector.name not in html and world.connector.pk not in html
    if expected == 403:
        assert "Not allowed" in html
    if (login_required or expected >= 400) and case.method != "get":
        assert _snapshot() == before, "a refused post changed something"


# --- the table covers every route -------------------------------------------------------------


def test_every_ui_route_is_in_the_access_table():
    routes = ui_routes()

    named = {route for route, _ in TABLE_BY_KEY}
    missing = sorted(routes - named)
    stale = sorted(case.id for case in TABLE if case.route not in routes)

    assert missing == [], "web UI routes without an access rule in tests/web/test_ui_access.py"
    assert stale == [], "access table entries for routes that do not exist"


@pytest.mark.parametrize("route", sorted(ui_routes()))
def test_methods_the_table_does_not_name_are_not_allowed(web, world, route):
    """A page takes the methods its table entries name, and answers 405 to the others (function
    views do not declare their methods where the resolver could read them: ask the page)."""
    client = web(world.users["admin"])
    url = world.url(route)
    for method in ("get", "post"):
        if (route, method) not in TABLE_BY_KEY:
            assert getattr(client, method)(url).status_code == 405, f"{method.upper()} /{route}"
