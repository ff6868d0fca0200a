"""The pump cloud (a real HTTPS API with its own CA) and a connector integrated with it."""

import pytest

from tests.factories import make_resource
from tests.integrations.pump_cloud import PumpCloud, pump_cloud_spec


@pytest.fixture(scope="session")
def _pump_cloud_server():
    with PumpCloud() as cloud:
        yield cloud


@pytest.fixture
def pump_cloud(_pump_cloud_server, settings):
    """The pump cloud, reset, trusted (its CA) and allowed (it is on loopback); quick timeouts."""
    _pump_cloud_server.reset()
    settings.INTEGRATIONS_CA_BUNDLE = _pump_cloud_server.ca_path
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True
    settings.INTEGRATIONS_TIMEOUT = 1.0
    settings.INTEGRATIONS_RETRY_BACKOFF = 0
    return _pump_cloud_server


@pytest.fixture
def owner_api(api, owner):
    return api(owner)


@pytest.fixture
def base(connector) -> str:
    """The connector's integration in the management API."""
    return f"/api/v1/connectors/{connector.pk}/integration/"


@pytest.fixture
def pump_resources(connector):
    """The resources the pump cloud's state fills."""
    for alias, fmt in (
        ("temperature", "number"),
        ("battery", "integer"),
        ("vibration", "number"),
        ("running", "boolean"),
    ):
        make_resource(connector=connector, alias=alias, format=fmt)
    return connector


def integration_body(cloud, *, auth="basic", **sync):
    config = (
        {"username": cloud.username, "password": cloud.password}
        if auth == "basic"
        else {"token": cloud.token}
    )
    return {
        "spec": pump_cloud_spec(cloud.host, auth=auth),
        "config": config,
        "sync": {
            "list_operation": "listAssets",
            "state_operation": "getAssetState",
            "detail_operation": "getAsset",
            "id_field": "id",
            "identity": "sha256",
            "interval_seconds": 60,
            "page_parameter": "page",
            **sync,
        },
        "maintainer_email": "ops@example.com",
    }
