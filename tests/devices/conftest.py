"""Fixtures for the HTTP device API tests: provisioned devices, and what people see of them
(the management API's device and state, the connector's recent events)."""

from types import SimpleNamespace

import httpx
import pytest

from devices.events import events_recent
from tests.conftest import device_host


def activate(client: httpx.Client, identity: str, password: str | None = None) -> httpx.Response:
    body = f"id={identity}" if password is None else f"id={identity}&password={password}"
    return client.post("/provision/activate", content=body)


@pytest.fixture
def token_device(device_client, connector):
    """A device that activated with a token over the connector's (devmode) plain HTTP."""
    identity = "sensor-1"
    response = activate(device_client, identity)
    assert response.status_code == 200
    return SimpleNamespace(identity=identity, token=response.text, headers={"X-Exosite-CIK": response.text})


@pytest.fixture
def wsgi_client_from():
    """``wsgi_client_from(connector, ip=..., scheme=...)`` → another device's HTTP client."""
    from murano.wsgi import application

    clients = []

    def make(connector, *, ip: str = "203.0.113.7", scheme: str = "http") -> httpx.Client:
        transport = httpx.WSGITransport(app=application, remote_addr=ip)
        client = httpx.Client(transport=transport, base_url=f"{scheme}://{device_host(connector)}")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def owner_api(api, owner):
    return api(owner)


@pytest.fixture
def device_info(owner_api, connector):
    """``device_info(identity)`` → the device as the management API shows it."""

    def get(identity: str) -> dict:
        response = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{identity}/")
        assert response.status_code == 200, response.content
        return response.json()

    return get


@pytest.fixture
def device_state(owner_api, connector):
    """``device_state(identity)`` → ``{alias: {"reported", "set", "timestamp"}}`` (management API)."""

    def get(identity: str) -> dict:
        response = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{identity}/state/")
        assert response.status_code == 200, response.content
        return response.json()

    return get


@pytest.fixture
def history(owner_api, connector):
    """``history(identity, alias)`` → ``[(timestamp µs, value)]``, newest first."""

    def get(identity: str, alias: str) -> list[tuple[int, str]]:
        response = owner_api.get(
            f"/api/v1/connectors/{connector.pk}/devices/{identity}/history/", {"alias": alias}
        )
        assert response.status_code == 200, response.content
        return [(point["timestamp"], point["value"]) for point in response.json()]

    return get


@pytest.fixture
def events(connector):
    """``events(type=None)`` → the connector's recent events (oldest first), of one type if named."""

    def get(type: str | None = None) -> list[dict]:
        recent = events_recent(connector.pk)
        return [e for e in recent if type is None or e["type"] == type]

    return get
