"""Fixtures of the claiming and portal tests (a pytest plugin of tests/conftest.py): a claiming
connector with its portal host, end users with sessions, and devices with claim codes (all
through the real services and routes)."""

import pytest
from rest_framework.test import APIClient

from claiming.services import end_user_create, session_start
from tests.factories import make_connector, make_device

PORTAL_PASSWORD = "a-portal-password-that-is-long-9"


def portal_host(connector) -> str:
    from django.conf import settings

    return f"{connector.portal_subdomain}.{settings.PORTAL_DOMAIN}"


@pytest.fixture
def claiming_connector(business):
    """A claiming connector whose portal is acme.portal.localhost (devmode: plain HTTP)."""
    return make_connector(business=business, devmode=True, claiming_enabled=True, portal_subdomain="acme")


class PortalClient(APIClient):
    """A DRF client on a portal host, optionally with an end user's session token."""

    def __init__(self, host: str, token: str | None = None):
        super().__init__(HTTP_HOST=host)
        if token:
            self.credentials(HTTP_AUTHORIZATION=f"Token {token}")


@pytest.fixture
def portal():
    """``portal(connector, user=None)`` → a client of the connector's portal API, logged in as
    ``user`` (an end user, through ``POST /api/session``) when given."""

    def make(connector, user=None) -> PortalClient:
        client = PortalClient(portal_host(connector))
        if user is None:
            return client
        response = client.post(
            "/api/session", {"email": user.email, "password": PORTAL_PASSWORD}, format="json"
        )
        assert response.status_code == 200, response.content
        return PortalClient(portal_host(connector), response.json()["token"])

    return make


@pytest.fixture
def end_user():
    """``end_user(connector, email)`` → a verified end user with ``PORTAL_PASSWORD``."""

    def make(connector, email: str, **fields):
        fields.setdefault("verified", True)
        return end_user_create(connector=connector, email=email, password=PORTAL_PASSWORD, **fields)

    return make


@pytest.fixture
def alice(claiming_connector, end_user):
    return end_user(claiming_connector, "alice@example.com", name="Alice")


@pytest.fixture
def bob(claiming_connector, end_user):
    return end_user(claiming_connector, "bob@example.com", name="Bob")


@pytest.fixture
def coded_devices(claiming_connector):
    """``coded_devices(code, n, **tags)`` → ``n`` whitelisted devices with the claim code ``code``."""
    counter = iter(range(1, 10_000))

    def make(code: str, n: int = 1, extra_tags=()) -> list:
        devices = []
        for _ in range(n):
            tags = [{"name": "claim_code", "value": code}, *extra_tags]
            devices.append(
                make_device(connector=claiming_connector, identity=f"{code}-{next(counter)}", tags=tags)
            )
        return devices

    return make


def tags_of(device, name: str) -> list[str]:
    return sorted(device.tags.filter(name=name).values_list("value", flat=True))


def session_token(connector, user) -> str:
    return session_start(connector=connector, email=user.email, password=PORTAL_PASSWORD)


__all__ = ["PORTAL_PASSWORD", "portal_host", "session_token", "tags_of"]
