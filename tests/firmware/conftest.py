"""Fixtures for firmware updates: a connector with them on, packages in its content store,
devices, and their updates as the management API shows them."""

import json

import pytest

from connectors.services import connector_update

# The content store and device API fixtures (uploads, a provisioned device, events…).
from tests.content.conftest import *  # noqa: F403
from tests.factories import make_device


def config_otau(version="2.0.0", type="FILE", payload="fw-2.0.0.bin", **extra) -> dict:
    return {"version": version, "name": f"Release {version}", "description": None, "type": type,
            "payload": payload, **extra}  # fmt: skip


def package_document(**config) -> bytes:
    return json.dumps({"author": "Acme firmware team", "product": "Thermostat T1",
                       "config_otau": config_otau(**config)}).encode()  # fmt: skip


@pytest.fixture
def firmware_on(connector):
    """The connector with firmware updates on (which defines config_otau and otau_in)."""
    connector_update(connector=connector, changes={"firmware_update_enabled": True})
    connector.refresh_from_db()
    return connector


@pytest.fixture
def package(upload, firmware_on):
    """A FILE package for 2.0.0 and its firmware image, uploaded as a product manager does."""
    image = bytes(range(256)) * 1024
    assert upload("fw-2.0.0.bin", image).status_code == 201
    response = upload(
        "package_fw_2.0.0", package_document(), name="package.json", file_type="application/json"
    )
    assert response.status_code == 201, response.content
    return image


@pytest.fixture
def fleet(firmware_on):
    """Devices a-1…a-4 (tagged model=t1, a-4 also beta) and b-1 (model=t2)."""
    devices = {}
    for identity, tags in [("a-1", ["t1"]), ("a-2", ["t1"]), ("a-3", ["t1"]), ("a-4", ["t1", "beta"]),
                           ("b-1", ["t2"])]:  # fmt: skip
        tag_list = [{"name": "model", "value": t} for t in tags if t != "beta"]
        if "beta" in tags:
            tag_list.append({"name": "beta", "value": ""})
        devices[identity] = make_device(connector=firmware_on, identity=identity, tags=tag_list)
    return devices


@pytest.fixture
def start(owner_api, connector):
    """``start(**body)`` → the response to ``POST .../firmware/update/``."""

    def post(**body):
        return owner_api.post(f"/api/v1/connectors/{connector.pk}/firmware/update/", body, format="json")

    return post


@pytest.fixture
def rollout_of(owner_api, connector):
    def get(rollout_id: int) -> dict:
        response = owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/rollouts/{rollout_id}/")
        assert response.status_code == 200
        return response.json()

    return get


@pytest.fixture
def config_set(owner_api, connector):
    """``config_set(identity)`` → the config_otau a device would read now (parsed), or None."""

    def get(identity: str):
        state = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{identity}/state/").json()
        value = state.get("config_otau", {}).get("set")
        return json.loads(value) if value else None

    return get
