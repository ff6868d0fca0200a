"""Cloud sets over MQTT (shared/docs/mqtt.md): a set made anywhere (another process too) reaches
the connected device on ``$resource/<alias>``; a set made while it is offline arrives when it
connects, until it reports the value back; a device hears only its own sets."""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from devices.models import Device as DeviceRow
from tests.factories import make_resource
from tests.mqtt.conftest import activate_tokens, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tokens(device_client, connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="setpoint", format="number", settable=True)
    make_resource(connector=connector, alias="mode", format="string", settable=True, sync=False)
    return activate_tokens(device_client, "sensor-1", "sensor-2")


@pytest.fixture
def cloud_set(owner_api, connector):
    """``cloud_set(identity, {alias: value})`` through the management API, as a person does."""

    def set_values(identity: str, values: dict) -> None:
        response = owner_api.patch(
            f"/api/v1/connectors/{connector.pk}/devices/{identity}/state/", values, format="json"
        )
        assert response.status_code == 200, response.content

    return set_values


def connected(mqtt_server, mqtt_device, token: str, client_id: str):
    """A paho device connected with ``token``, once its cloud sets are listened for."""
    device = mqtt_device(client_id)
    assert device.connect(mqtt_server.plain, password=token) == 0
    server = mqtt_server.server

    def listening() -> bool:
        ids = [pk for pk, c in list(server.connections.items()) if c.client_id == client_id]
        return bool(ids) and ids[0] in server.sets.subscribed

    assert wait_for(listening)
    return device


def quiet(device, seconds: float = 0.7) -> list:
    """The messages the device got over ``seconds`` (after a round trip: anything already sent
    has arrived)."""
    device.publish("$resource/temp", b"0")
    time.sleep(seconds)
    return list(device.messages)


def other_process_env() -> dict:
    """The environment of a process using this test's database (and its Redis for pushes)."""
    env = dict(os.environ)
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = name
        env.pop("DATABASE_URL", None)
    else:
        url = urlsplit(env["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
    return env


SET_IN_SHELL = """
from django.db import transaction
from connectors import runtime
from devices import services
from devices.models import Device
device = Device.objects.select_related("connector").get(connector_id={connector!r}, identity={identity!r})
rules = runtime.connector_rules(device.connector)
with transaction.atomic():
    services.device_state_set(device=device, values={values!r}, rules=rules)
print("set", device.pk)
"""


def test_a_set_made_in_another_process_reaches_the_connected_device(
    mqtt_server, mqtt_device, tokens, connector
):
    device = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "sensor-1")
    code = SET_IN_SHELL.format(connector=connector.pk, identity="sensor-1", values={"setpoint": 21})
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=other_process_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The other process found this test's device in this test's database.
    assert done.stdout.splitlines()[-1] == f"set {DeviceRow.objects.get(identity='sensor-1').pk}"
    # Pushed when the other process committed (before it exited): here at once.
    assert device.wait_message("$resource/setpoint", timeout=2) == b"21"


def test_a_set_of_a_resource_with_sync_off_is_not_pushed(
    mqtt_server, mqtt_device, tokens, cloud_set, device_state
):
    # shared/docs/device-api.md: "With sync off, set and reported stay equal and nothing is pushed."
    device = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "sensor-1")
    cloud_set("sensor-1", {"mode": "eco", "setpoint": 19})
    # The synced resource set in the same call arrives; the other one does not.
    assert device.wait_message("$resource/setpoint") == b"19"
    assert quiet(device) == []
    assert device_state("sensor-1")["mode"]["reported"] == "eco"
    device.close()
    again = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "sensor-1-again")
    assert quiet(again) == [("$resource/setpoint", b"19")]


def test_a_set_made_while_offline_arrives_on_connect_until_the_device_reports_it(
    mqtt_server, mqtt_device, tokens, cloud_set, device_state
):
    cloud_set("sensor-1", {"setpoint": 18})
    first = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "first")
    assert first.wait_message("$resource/setpoint") == b"18"
    first.close()
    # Not reported back yet: still pending, sent again.
    second = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "second")
    assert second.wait_message("$resource/setpoint") == b"18"
    second.publish("$resource/setpoint", b"18")
    setpoint = device_state("sensor-1")["setpoint"]
    assert (setpoint["set"], setpoint["reported"]) == ("18", "18")
    second.close()
    third = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "third")
    assert quiet(third) == []


def test_each_device_receives_only_its_own_sets(mqtt_server, mqtt_device, tokens, cloud_set):
    one = connected(mqtt_server, mqtt_device, tokens["sensor-1"], "one")
    two = connected(mqtt_server, mqtt_device, tokens["sensor-2"], "two")
    cloud_set("sensor-1", {"setpoint": 11})
    cloud_set("sensor-2", {"setpoint": 22})
    assert one.wait_message("$resource/setpoint") == b"11"
    assert two.wait_message("$resource/setpoint") == b"22"
    assert quiet(one) == [] and quiet(two) == []
