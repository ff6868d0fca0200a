"""Tenant isolation of the portal: end users see and change their own devices only, each
portal knows its own end users only, and platform and portal credentials never cross."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from claiming.services import end_user_create
from connectors.services import connector_settings_change
from tests.claiming.conftest import PORTAL_PASSWORD, PortalClient, session_token
from tests.conftest import basic_auth
from tests.factories import make_connector, make_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_owners(portal, claiming_connector, alice, bob, coded_devices):
    [a] = coded_devices("ALICE-BOX")
    [b] = coded_devices("BOB-BOX")
    alice_client, bob_client = portal(claiming_connector, alice), portal(claiming_connector, bob)
    assert alice_client.post("/api/claim", {"claim_code": "ALICE-BOX"}, format="json").status_code == 200
    assert bob_client.post("/api/claim", {"claim_code": "BOB-BOX"}, format="json").status_code == 200
    return alice_client, a, b


def test_an_end_user_sees_only_their_devices(two_owners):
    alice_client, a, _ = two_owners
    assert [d["identity"] for d in alice_client.get("/api/devices").json()] == [a.identity]


@pytest.mark.parametrize("identity", ["BOB-BOX-2", "no-such-device", "BOB-BOX-2/../ALICE-BOX-1"])
def test_another_users_device_is_a_404_like_one_that_does_not_exist(two_owners, identity, claiming_connector):
    from connectors.services import resource_create

    resource_create(connector=claiming_connector, alias="target", format="number", settable=True)
    alice_client, _, b = two_owners
    answers = [
        alice_client.delete(f"/api/devices/{identity}"),
        alice_client.patch(f"/api/devices/{identity}/state", {"target": 1}, format="json"),
        alice_client.get(f"/api/devices/{identity}/history"),
    ]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert all(r.json() == answers[0].json() for r in answers)
    assert b.tags.filter(name="users").count() == 1


def test_a_firmware_update_naming_another_users_device_is_a_404(two_owners, claiming_connector):
    connector_settings_change(connector=claiming_connector, changes={"firmware_update_enabled": True})
    alice_client, a, b = two_owners
    config = {"version": "2", "name": "v2", "type": "URL_LIST", "payload": ["https://example.com/fw.bin"]}
    response = alice_client.post(
        "/api/firmware/update", {"message": config, "devices": [b.identity]}, format="json"
    )
    assert response.status_code == 404


def test_a_code_of_another_connector_claims_nothing(portal, claiming_connector, alice, business):
    other = make_connector(business=business, name="Other", claiming_enabled=True, portal_subdomain="other")
    make_device(connector=other, identity="foreign-1")
    response = portal(claiming_connector, alice).post(
        "/api/claim", {"claim_code": "foreign-1"}, format="json"
    )
    assert response.status_code == 404


def test_another_portals_token_does_not_work_here(claiming_connector, business):
    other = make_connector(business=business, name="Other", claiming_enabled=True, portal_subdomain="other")
    stranger = end_user_create(
        connector=other, email="alice@example.com", password=PORTAL_PASSWORD, verified=True
    )
    token = session_token(other, stranger)
    assert PortalClient("other.portal.localhost", token).get("/api/devices").status_code == 200
    assert PortalClient("acme.portal.localhost", token).get("/api/devices").status_code == 401


def test_platform_credentials_do_not_open_the_portal_api(claiming_connector, owner, web):
    _, key = api_token_create(user=owner)
    with_token = PortalClient("acme.portal.localhost", key)
    assert with_token.get("/api/devices").status_code == 401
    basic = APIClient(HTTP_HOST="acme.portal.localhost")
    basic.credentials(**basic_auth(owner))
    assert basic.get("/api/devices").status_code == 401
    session = web(owner)
    assert session.get("/api/devices", HTTP_HOST="acme.portal.localhost").status_code == 401


def test_an_end_users_token_does_not_open_the_platform(claiming_connector, alice):
    token = session_token(claiming_connector, alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/connectors/").status_code == 401
    assert client.get(f"/api/v1/connectors/{claiming_connector.pk}/devices/").status_code == 401


@pytest.mark.parametrize(
    "path", ["/api/v1/connectors/", "/admin/", "/connectors/", "/accounts/login/", "/api/docs/"]
)
def test_nothing_of_the_platform_exists_on_a_portal_host(claiming_connector, owner, web, path):
    assert web(owner).get(path, HTTP_HOST="acme.portal.localhost").status_code == 404


def test_a_portal_host_without_a_claiming_connector_is_a_404(claiming_connector, business):
    make_connector(business=business, name="Off", portal_subdomain="off")
    for host in ("nobody.portal.localhost", "off.portal.localhost"):
        response = APIClient(HTTP_HOST=host).post(
            "/api/session", {"email": "a@b.c", "password": "x"}, format="json"
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "No such portal."}
