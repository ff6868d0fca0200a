"""The device API over MQTT, topic by topic (shared/docs/mqtt.md), with a real MQTT client."""

import json
import os

import pytest

from devices.models import Device as DeviceRow
from tests.devices.conftest import activate
from tests.factories import make_connector, make_resource
from tests.mqtt.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def resources(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="state", format="string")
    make_resource(connector=connector, alias="setpoint", format="number", settable=True)


@pytest.fixture
def token(device_client, resources):
    response = activate(device_client, "sensor-1")
    assert response.status_code == 200
    return response.text


def test_a_write_is_stored_before_its_puback(mqtt_server, mqtt_device, token, device_state, mqtt_events):
    device = mqtt_device()
    assert device.connect(mqtt_server.plain, password=token) == 0
    info = device.publish("$resource/temp", b"21.5")
    assert info.is_published()
    # Read right after the PUBACK: the value is there.
    assert device_state("sensor-1")["temp"]["reported"] == "21.5"
    events = mqtt_events("data_in")
    assert events[-1]["payload"][0]["values"] == {"temp": "21.5"}
    assert events[-1]["identity"] == "sensor-1"


def test_connect_and_disconnect_are_logged_and_the_device_is_online(
    mqtt_server, mqtt_device, token, device_info, mqtt_events
):
    device = mqtt_device("firmware-1")
    assert device.connect(mqtt_server.plain, password=token) == 0
    connect = wait_for(lambda: mqtt_events("connect"))
    assert connect[-1]["identity"] == "sensor-1"
    assert connect[-1]["payload"]["client_id"] == "firmware-1"
    assert connect[-1]["payload"]["auth"] == "token"
    assert device_info("sensor-1")["online"] is True
    device.close()
    disconnect = wait_for(lambda: mqtt_events("disconnect"))
    assert disconnect[-1]["payload"]["reason"] == "client_disconnect"


def test_a_batch_object_writes_all_or_nothing(mqtt_server, mqtt_device, token, device_state, mqtt_events):
    device = mqtt_device()
    device.connect(mqtt_server.plain, password=token)
    device.publish("$resource.batch", json.dumps({"temp": 20.25, "state": "ok"}))
    state = device_state("sensor-1")
    assert (state["temp"]["reported"], state["state"]["reported"]) == ("20.25", "ok")
    device.publish("$resource.batch", json.dumps({"temp": "warm", "state": "bad"}))
    state = device_state("sensor-1")
    assert (state["temp"]["reported"], state["state"]["reported"]) == ("20.25", "ok")
    assert "temp" in mqtt_events("write_rejected")[-1]["payload"]["reason"]
    # The connection stays open after a rejected write.
    device.publish("$resource/state", b"still here")
    assert device_state("sensor-1")["state"]["reported"] == "still here"


def test_a_batch_array_records_history(mqtt_server, mqtt_device, token, history, device_state, mqtt_events):
    device = mqtt_device()
    device.connect(mqtt_server.plain, password=token)
    points = [
        {"timestamp": 1_700_000_000_000_000, "values": {"temp": 1}},
        {"timestamp": 1_700_000_001_000_000, "values": {"temp": 2}},
    ]
    device.publish("$resource.batch", json.dumps(points))
    assert history("sensor-1", "temp") == [(1_700_000_001_000_000, "2"), (1_700_000_000_000_000, "1")]
    # Duplicate timestamps are refused, nothing recorded.
    duplicate = [{"timestamp": 5, "values": {"temp": 1}}, {"timestamp": 5, "values": {"temp": 2}}]
    device.publish("$resource.batch", json.dumps(duplicate))
    assert len(history("sensor-1", "temp")) == 2
    assert "duplicate" in mqtt_events("write_rejected")[-1]["payload"]["reason"]


def test_provision_publishes_the_token_and_the_connection_becomes_the_devices(
    mqtt_server, mqtt_device, resources, device_state, connector
):
    device = mqtt_device()
    # TLS: the server name chooses the connector.
    assert device.connect(mqtt_server.tls, host=f"{connector.pk}.devices.localhost", ca=mqtt_server.ca) == 0
    device.publish("$provision/newdev", b"")
    token = device.wait_message("$provision/newdev").decode()
    assert len(token) == 40
    device.publish("$resource/temp", b"7")
    assert device_state("newdev")["temp"]["reported"] == "7"
    assert DeviceRow.objects.get(identity="newdev").lifecycle == "provisioned"
    # The token works for a new connection.
    again = mqtt_device()
    assert again.connect(mqtt_server.plain, password=token) == 0


def test_provision_over_plain_tcp_goes_to_the_default_connector(
    mqtt_server, mqtt_device, resources, device_state, connector, settings
):
    settings.DEVICE_DEFAULT_CONNECTOR = connector.pk
    device = mqtt_device()
    assert device.connect(mqtt_server.plain) == 0
    device.publish("$provision/plain-dev", b"")
    assert len(device.wait_message("$provision/plain-dev")) == 40
    device.publish("$resource/state", b"hello")
    assert device_state("plain-dev")["state"]["reported"] == "hello"


def test_a_cloud_set_reaches_the_connected_device(mqtt_server, mqtt_device, token, owner_api, connector):
    device = mqtt_device()
    device.connect(mqtt_server.plain, password=token)
    other = mqtt_device()
    other_token = activate_other(connector)
    other.connect(mqtt_server.plain, password=other_token)
    wait_for(lambda: len(mqtt_server.server.sets.subscribed) == 2)
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/sensor-1/state/", {"setpoint": 22.5}, format="json"
    )
    assert response.status_code == 200, response.content
    assert device.wait_message("$resource/setpoint") == b"22.5"
    # Devices never receive each other's sets.
    assert other.messages == []


def activate_other(connector):
    import httpx

    from murano.wsgi import application
    from tests.conftest import device_host

    transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.8")
    with httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}") as client:
        response = activate(client, "sensor-2")
    assert response.status_code == 200
    return response.text


def test_pending_sets_are_sent_on_connect(mqtt_server, mqtt_device, token, owner_api, connector):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/sensor-1/state/", {"setpoint": 18}, format="json"
    )
    assert response.status_code == 200, response.content
    device = mqtt_device()
    device.connect(mqtt_server.plain, password=token)
    assert device.wait_message("$resource/setpoint") == b"18"


def test_a_large_batch_over_tls_is_stored(mqtt_server, mqtt_device, token, device_state, connector):
    # TLS records are read 16 KiB at a time: a payload of many records arrives whole.
    device = mqtt_device()
    device.connect(
        mqtt_server.tls, host=f"{connector.pk}.devices.localhost", ca=mqtt_server.ca, password=token
    )
    big = "x" * 60_000
    device.publish("$resource.batch", json.dumps({"state": big, "temp": 3}))
    state = device_state("sensor-1")
    assert (state["state"]["reported"], state["temp"]["reported"]) == (big, "3")


def test_a_server_name_of_no_connector_leaves_the_choice_to_the_token(
    mqtt_server, mqtt_device, token, business, settings
):
    # A default connector is for activation and passwords; a token names its own connector.
    settings.DEVICE_DEFAULT_CONNECTOR = make_connector(business=business, name="Default").pk
    device = mqtt_device()
    assert device.connect(mqtt_server.tls, host="localhost", ca=mqtt_server.ca, password=token) == 0
    device.publish("$resource/state", b"by token")


def test_a_device_connects_while_the_process_holds_more_than_1024_files(mqtt_server, mqtt_device, token):
    # The test devices' network loop must not use select(), which fails on such sockets: the
    # whole suite in one process can hold that many.
    held = [open(os.devnull) for _ in range(1100)]
    try:
        device = mqtt_device()
        assert device.connect(mqtt_server.plain, password=token) == 0
        assert device.client.socket().fileno() >= 1024
        assert device.publish("$resource/temp", b"1").is_published()
    finally:
        for file in held:
            file.close()
