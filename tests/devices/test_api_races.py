"""A device or its connector deleted while a management API request changes the device: the
change answers 404 ("No such device."), never a 500, and the delete goes through.

The views look the device up, then call a service that writes it; the delete is made to land
exactly between the two (deterministically: right after the view's lookup returns)."""

import threading

import pytest
from django.db import connection, connections, transaction

from connectors.services import connector_delete
from devices import services
from devices.models import Device, DeviceState, DeviceTag
from tests.factories import make_device, make_resource

V1 = "/api/v1/connectors/{}/devices/{}/"
DEVICE2 = "/api:1/service/{}/device2/identity/{}"


@pytest.fixture
def client(api, owner):
    return api(owner)


@pytest.fixture
def device(connector):
    make_resource(connector=connector, alias="setpoint", format="number", settable=True)
    return make_device(connector=connector, identity="th-001")


def delete_after_lookup(monkeypatch, module: str, what: str):
    """The view's ``device_get`` finds the device, then the connector or the device is deleted
    (and committed) before the view writes."""
    from devices import selectors

    def lookup_then_delete(**kwargs):
        found = selectors.device_get(**kwargs)
        if what == "connector":
            connector_delete(connector=found.connector)
        else:
            services.device_delete(device=Device.objects.get(pk=found.pk))
        return found

    monkeypatch.setattr(f"{module}.device_get", lookup_then_delete)


CHANGES = [
    ("devices.api.device2", "patch", DEVICE2, {"locked": True, "tags": [{"name": "batch", "value": "7"}]}),
    # Device2's state view looks its device up where the v1 one does (DeviceStateBase).
    ("devices.api.views", "patch", DEVICE2 + "/state", {"setpoint": 21}),
    ("devices.api.views", "patch", V1, {"locked": True, "tags": [{"name": "batch", "value": "7"}]}),
    ("devices.api.views", "patch", V1 + "state/", {"setpoint": 21}),
    ("devices.api.device2", "delete", DEVICE2, None),
    ("devices.api.views", "delete", V1, None),
]


@pytest.mark.parametrize("what", ["connector", "device"])
@pytest.mark.parametrize("module, method, route, body", CHANGES, ids=[f"{m} {r}" for _, m, r, _ in CHANGES])
def test_a_change_that_meets_a_delete_is_a_404(client, connector, device, monkeypatch, what, module, method,
                                               route, body):  # fmt: skip
    delete_after_lookup(monkeypatch, module, what)

    response = getattr(client, method)(route.format(connector.pk, device.identity), body, format="json")

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "No such device."}
    assert not Device.objects.filter(pk=device.pk).exists()
    assert not DeviceTag.objects.exists() and not DeviceState.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one write transaction at a time")
@pytest.mark.django_db(transaction=True)
def test_a_connector_delete_waits_for_a_device_change_in_flight_and_takes_its_rows(connector, device):
    """A change that locked its device first commits (tags and state included), then the
    connector's delete, which was waiting for it, deletes everything (no orphaned rows)."""
    locked, release = threading.Event(), threading.Event()
    errors = []

    def change():
        try:
            with transaction.atomic():
                services.device_update(device=device, tags=[{"name": "batch", "value": "7"}])
                locked.set()
                release.wait()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=change)
    worker.start()
    assert locked.wait(30)
    deleter = threading.Thread(target=lambda: _delete(connector, errors))
    deleter.start()
    _wait_until_blocked_on_a_lock()
    release.set()
    worker.join(30)
    deleter.join(30)

    assert errors == []
    assert not Device.objects.filter(pk=device.pk).exists()
    assert not DeviceTag.objects.filter(device_id=device.pk).exists()


def _delete(connector, errors):
    try:
        connector_delete(connector=connector)
    except Exception as exc:
        errors.append(exc)
    finally:
        connections.close_all()


def _wait_until_blocked_on_a_lock():
    """Until another session of this database waits for a row lock (the delete, behind the
    change's lock): a condition, checked until it holds."""
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.01)
    raise AssertionError("the delete never waited for the change's lock")
