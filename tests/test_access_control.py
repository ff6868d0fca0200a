"""Who may do what, on every route of the management API (shared/docs/management-api.md, "Authentication
and access").

One table names every route under ``/api/v1/`` and ``/api:1/`` with each of its methods and the
rule that governs it; every entry is exercised as the business's admin, a developer, a viewer,
an outsider (admin of another business) and an anonymous client, and must answer what the
contract says:

- anonymous: ``401`` (with ``WWW-Authenticate``), except the few public routes;
- outsider: ``404`` on anything under someone else's connector or business (no existence leak);
- viewer: reads only (``403`` on writes);
- developer: everything but membership changes and deleting connectors (``403``);
- admin: everything.

A refused request changes nothing. A route the table does not name fails
``test_every_api_route_is_in_the_access_table``, so new routes get their rule written down here.
"""

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from tests.api_world import FIRMWARE, World, csv_upload, file_upload, png_image
from tests.conftest import basic_auth
from tests.integrations.pump_cloud import PumpCloud
from tests.routes import ADMIN, ALLOWED_ROLES, PERSONAL, PUBLIC, READ, WRITE, api_routes

PROJECT_APPS = ["accounts", "connectors", "devices", "jobs", "claiming", "portal", "integrations"]
ROLES = ["admin", "developer", "viewer", "outsider", "anonymous"]


@dataclass(frozen=True)
class Case:
    """One route and method, the rule that governs it, and a request that succeeds if allowed."""

    route: str  # the URL pattern as the resolver spells it
    method: str
    access: str
    success: int
    body: Any = None  # a payload, or a callable taking the World
    url: dict = field(default_factory=dict)  # URL arguments other than the World's defaults
    format: str = "json"
    outsider: int = 404  # what an outsider gets, where "not found" is not the natural answer

    @property
    def id(self) -> str:
        return f"{self.method.upper()} /{self.route}"


CONNECTOR = "api/v1/connectors/<segment:connector_id>/"
RESOURCE = CONNECTOR + "resources/<rest:alias>/"
DEVICE = CONNECTOR + "devices/<segment:identity>/"
CONTENT = CONNECTOR + "content/<segment:content_id>/"
ROLLOUT = CONNECTOR + "firmware/rollouts/<int:rollout_id>/"
END_USER = CONNECTOR + "end-users/<int:user_id>/"
PORTAL = CONNECTOR + "portal/"
BUSINESS = "api/v1/businesses/<int:business_id>/"
MEMBER = BUSINESS + "members/<int:member_id>/"
INTEGRATION = CONNECTOR + "integration/"
DEVICE2 = "api:1/service/<segment:connector_id>/device2/"
IDENTITY = DEVICE2 + "identity/<segment:identity>"

TABLE = [
    # Connectors
    Case("api/v1/connectors/", "get", PERSONAL, 200),
    # Creating names the business: an outsider naming ours is told there is no such business.
    Case("api/v1/connectors/", "post", WRITE, 201, lambda w: {"name": "New", "business": w.business.pk},
         outsider=400),
    Case(CONNECTOR, "get", READ, 200),
    Case(CONNECTOR, "patch", WRITE, 200, {"description": "changed"}),
    Case(CONNECTOR, "delete", ADMIN, 204),
    Case(CONNECTOR + "pki/generate-ca/", "post", WRITE, 201, {}),
    # Resources
    Case(CONNECTOR + "resources/", "get", READ, 200),
    Case(CONNECTOR + "resources/", "post", WRITE, 201, {"alias": "humidity", "format": "number"}),
    Case(RESOURCE, "get", READ, 200),
    Case(RESOURCE, "put", WRITE, 200, {"unit": "C"}),
    Case(RESOURCE, "patch", WRITE, 200, {"unit": "C"}),
    Case(RESOURCE, "delete", WRITE, 204),
    # Content store
    Case(CONNECTOR + "content/", "get", READ, 200),
    Case(CONNECTOR + "content/", "post", WRITE, 201, lambda w: {"file": file_upload("new.bin")},
         format="multipart"),
    Case(CONTENT, "get", READ, 200),
    Case(CONTENT, "patch", WRITE, 200, {"description": "changed"}),
    Case(CONTENT, "delete", WRITE, 204),
    Case(CONTENT + "download/", "get", READ, 200),
    # Devices
    Case(CONNECTOR + "devices/", "get", READ, 200),
    Case(CONNECTOR + "devices/", "post", WRITE, 201, {"identity": "fresh-device"}),
    Case(DEVICE, "get", READ, 200),
    Case(DEVICE, "patch", WRITE, 200, {"locked": True}),
    Case(DEVICE, "delete", WRITE, 204),
    Case(DEVICE + "state/", "get", READ, 200),
    Case(DEVICE + "state/", "patch", WRITE, 200, {"setpoint": 21}),
    Case(DEVICE + "history/", "get", READ, 200),
    Case(DEVICE + "history.csv", "get", READ, 200),
    Case(CONNECTOR + "devices/import/", "post", WRITE, 202, lambda w: {"file": csv_upload()},
         format="multipart"),
    # Firmware updates
    Case(CONNECTOR + "firmware/update/", "post", WRITE, 201, {"message": FIRMWARE, "devices": ["device-1"]}),
    Case(CONNECTOR + "firmware/packages/", "get", READ, 200),
    Case(CONNECTOR + "firmware/rollouts/", "get", READ, 200),
    Case(ROLLOUT, "get", READ, 200),
    Case(ROLLOUT, "patch", WRITE, 200, {"state": "paused"}),
    Case(ROLLOUT + "devices/", "get", READ, 200),
    Case(CONNECTOR + "firmware/devices/<segment:identity>/", "get", READ, 200),
    # Claiming: end users, claim codes, links and QR codes
    Case(CONNECTOR + "end-users/", "get", READ, 200),
    Case(CONNECTOR + "end-users/", "post", WRITE, 201, {"email": "new.end.user@example.com"}),
    Case(END_USER, "get", READ, 200),
    Case(END_USER, "patch", WRITE, 200, {"name": "Renamed"}),
    Case(END_USER, "delete", WRITE, 204),
    Case(END_USER + "password/", "post", WRITE, 204, {"password": "a-fresh-passphrase-for-2025"}),
    Case(DEVICE + "claim/", "get", READ, 200),
    Case(DEVICE + "claim/qr.svg", "get", READ, 200),
    Case(DEVICE + "claim/qr.png", "get", READ, 200),
    Case(CONNECTOR + "claim-codes/", "post", WRITE, 202, {"generate": True}),
    Case(CONNECTOR + "claim-codes.csv", "get", READ, 200),
    # The portal's branding, images (a raw PNG body) and welcome e-mail template
    Case(PORTAL + "branding/", "get", READ, 200),
    Case(PORTAL + "branding/", "put", WRITE, 200, {"title": "Renamed"}),
    Case(PORTAL + "branding/", "delete", WRITE, 204),
    Case(PORTAL + "assets/<str:asset_name>", "get", READ, 200),
    Case(PORTAL + "assets/<str:asset_name>", "put", WRITE, 204, lambda w: png_image(), format="raw"),
    Case(PORTAL + "assets/<str:asset_name>", "delete", WRITE, 204),
    Case(PORTAL + "email-template/", "get", READ, 200),
    Case(PORTAL + "email-template/", "put", WRITE, 200, {"subject": "Hi", "html": "<a href='<%LINK%>'>"}),
    # The connector's integration with another cloud's API (the pump cloud): calling an operation
    # or checking its health now is a write (the third party may act on it).
    Case(INTEGRATION, "get", READ, 200),
    Case(INTEGRATION, "put", WRITE, 200, lambda w: w.integration_body),
    Case(INTEGRATION, "delete", WRITE, 204),
    Case(INTEGRATION + "sync/", "post", WRITE, 202),
    Case(INTEGRATION + "health/", "get", READ, 200),
    Case(INTEGRATION + "health/", "post", WRITE, 200),
    Case(INTEGRATION + "operations/", "get", READ, 200),
    Case(INTEGRATION + "operations/<segment:operation_id>/call/", "post", WRITE, 200, {}),
    # Background jobs (device imports): the list shows your businesses' jobs.
    Case("api/v1/jobs/", "get", PERSONAL, 200),
    Case("api/v1/jobs/<segment:job_id>/", "get", READ, 200),
    # Murano Device2 compatibility
    Case(DEVICE2[:-1], "get", READ, 200),
    Case(DEVICE2[:-1], "patch", WRITE, 200, {"protocol": {"devmode": True}}),
    Case(DEVICE2 + "identity/", "get", READ, 200),
    Case(DEVICE2 + "identities", "post", WRITE, 202, lambda w: {"identities": csv_upload()},
         format="multipart"),
    Case(IDENTITY, "put", WRITE, 204, {"locked": False}, url={"identity": "fresh-device"}),
    Case(IDENTITY, "get", READ, 200),
    Case(IDENTITY, "patch", WRITE, 204, {"locked": True}),
    Case(IDENTITY, "delete", WRITE, 205),
    Case(IDENTITY + "/state", "get", READ, 200),
    Case(IDENTITY + "/state", "patch", WRITE, 204, {"setpoint": 21}),
    # Personal API tokens: everyone manages their own.
    Case("api/v1/tokens/", "get", PERSONAL, 200),
    Case("api/v1/tokens/", "post", PERSONAL, 201, {"name": "CI"}),
    Case("api/v1/tokens/<int:token_id>/", "delete", PERSONAL, 204),
    # Businesses and members
    Case("api/v1/businesses/", "get", PERSONAL, 200),
    Case(BUSINESS, "get", READ, 200),
    Case(BUSINESS + "members/", "get", READ, 200),
    Case(BUSINESS + "members/", "post", ADMIN, 201, {"email": "new.person@example.com", "role": "viewer"}),
    Case(MEMBER, "get", READ, 200),
    Case(MEMBER, "patch", ADMIN, 200, {"role": "developer"}),
    Case(MEMBER, "delete", ADMIN, 204),
    # The invitation token is the credential.
    Case("api/v1/invitations/accept/", "post", PUBLIC, 200,
         lambda w: {"token": w.invitation, "password": "a-fresh-passphrase-for-2025"}),
]  # fmt: skip
TABLE_BY_KEY = {(case.route, case.method): case for case in TABLE}
assert len(TABLE_BY_KEY) == len(TABLE), "a route and method is in the table twice"


def _snapshot() -> dict:
    """Everything a management request could change: the rows of the project's own apps."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for app in PROJECT_APPS
        if apps.is_installed(app)
        for model in apps.get_app_config(app.rsplit(".", 1)[-1]).get_models()
    }


def expected_status(case: Case, role: str) -> int:
    if case.access == PUBLIC:
        return case.success
    if role == "anonymous":
        return 401
    if case.access == PERSONAL:
        return case.success
    if role == "outsider":
        return case.outsider
    return case.success if role in ALLOWED_ROLES[case.access] else 403


@pytest.fixture(scope="module")
def pump_cloud():
    """The third party the world's integration calls (a real HTTPS server with its own CA)."""
    with PumpCloud() as cloud:
        yield cloud


@pytest.fixture
def world(db, settings, tmp_path, pump_cloud):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # uploads land in this test's directory
    settings.INTEGRATIONS_CA_BUNDLE = pump_cloud.ca_path
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True  # it is on loopback
    pump_cloud.reset()
    return World(third_party=pump_cloud)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_access(world, case, role):
    body = case.body(world) if callable(case.body) else case.body
    expected = expected_status(case, role)
    url = world.url(case.route, role, case.url)
    before = _snapshot()

    # "raw": the body as it is (an image), else encoded in that format.
    encoding = {"content_type": "image/png"} if case.format == "raw" else {"format": case.format}
    response = getattr(world.client(role), case.method)(url, body, **encoding)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/json"
        error = response.json()
        if expected == 400:
            assert error, "a 400 names what is wrong"
        else:
            assert isinstance(error["detail"], str) and error["detail"]
        if case.method != "get":
            assert _snapshot() == before, "a refused request changed something"
        assert world.third_party.requests == [], "a refused request called the third party"
    if expected == 401:
        assert response.has_header("WWW-Authenticate")


@pytest.mark.parametrize("route", ["api/v1/connectors/", "api/v1/businesses/"])
def test_lists_show_an_outsider_nothing_of_ours(world, route):
    response = world.client("outsider").get("/" + route)

    assert response.status_code == 200
    assert str(world.connector.pk) not in response.content.decode()
    assert "Acme" not in response.content.decode()


def test_a_token_of_someone_else_is_not_found(world):
    response = world.client("outsider").delete(f"/api/v1/tokens/{world.tokens['admin'].pk}/")

    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=world.tokens["admin"].pk).exists()


def test_bad_credentials_are_unauthorised_even_on_public_data(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic bm9ib2R5OndoYXRldmVy")  # nobody:whatever

    response = client.get("/api/v1/businesses/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username/password."}


# --- the table covers every route -------------------------------------------------------------


def test_every_api_route_is_in_the_access_table():
    routes = api_routes()

    missing = sorted(
        f"{method.upper()} /{route}"
        for route, methods in routes.items()
        for method in methods
        if (route, method) not in TABLE_BY_KEY
    )
    stale = sorted(case.id for case in TABLE if case.method not in routes.get(case.route, set()))

    assert missing == [], "API routes without an access rule in tests/test_access_control.py"
    assert stale == [], "access table entries for routes that do not exist"


@pytest.mark.parametrize("login", ["basic", "token", "session"])
def test_the_rules_hold_for_every_way_to_log_in(world, login):
    def client(role):
        user = world.users[role]
        client = APIClient()
        if login == "basic":
            client.credentials(**basic_auth(user))
        elif login == "token":
            client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
        else:
            client.force_login(user)
        return client

    connector = f"/api/v1/connectors/{world.connector.pk}/"

    assert client("viewer").get(connector).status_code == 200
    assert client("viewer").patch(connector, {"description": "x"}, format="json").status_code == 403
    assert client("developer").delete(connector).status_code == 403
    assert client("outsider").get(connector).status_code == 404
    assert client("admin").delete(connector).status_code == 204
