"""What the MQTT listener does with clients that misbehave (raw bytes, where paho cannot): the
connection at fault is closed and Logs says why; every other device goes on."""

import time

import pytest
from amqtt.mqtt.subscribe import SubscribePacket

from tests.factories import make_resource
from tests.mqtt.conftest import PINGRESP, PUBACK, SUBACK, activate_tokens, remaining_length, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tokens(device_client, connector):
    """Two provisioned devices, ``sensor-1`` and ``sensor-2``: their tokens."""
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="state", format="string")
    return activate_tokens(device_client, "sensor-1", "sensor-2")


@pytest.fixture
def bystander(mqtt_server, mqtt_device, tokens):
    """``sensor-2``, connected with paho the whole time: it must not notice anything."""
    device = mqtt_device("bystander")
    assert device.connect(mqtt_server.plain, password=tokens["sensor-2"]) == 0
    return device


@pytest.fixture
def sensor(mqtt_server, raw_client, tokens):
    """``sensor-1`` over a raw connection, connected."""
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=tokens["sensor-1"], client_id="sensor-1") == 0
    return client


def still_writes(device, device_state, value: str) -> bool:
    device.publish("$resource/temp", value.encode())
    return device_state("sensor-2")["temp"]["reported"] == value


def disconnect_reasons(mqtt_events, identity: str = "sensor-1") -> list[str]:
    return [e["payload"]["reason"] for e in mqtt_events("disconnect") if e["identity"] == identity]


# --- malformed and oversized packets ---------------------------------------------------------------


def test_a_publish_whose_topic_runs_past_its_packet_closes_only_that_connection(
    sensor, bystander, device_state, mqtt_events
):
    # Remaining length 5, but the topic says it is 32 bytes long.
    sensor.send(b"\x32\x05\x00\x20abc")
    assert sensor.closed_by_server()
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["malformed_packet"]
    assert still_writes(bystander, device_state, "1")


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x00\x00", id="reserved-packet-type"),
        pytest.param(b"\xf0\x03abc", id="auth-packet-of-mqtt5"),
        pytest.param(b"\x30\xff\xff\xff\xff\x01", id="remaining-length-of-five-bytes"),
    ],
)
def test_garbage_after_connect_closes_only_that_connection(sensor, bystander, device_state, garbage):
    sensor.send(garbage)
    assert sensor.closed_by_server()
    assert still_writes(bystander, device_state, "2")


def test_a_remaining_length_of_five_bytes_is_logged_as_a_malformed_packet(sensor, mqtt_events):
    sensor.send(b"\x30\xff\xff\xff\xff\x01")
    assert sensor.closed_by_server()
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["malformed_packet"]


def test_a_packet_larger_than_the_limit_closes_the_connection_before_it_is_read(
    settings, sensor, bystander, device_state, mqtt_events
):
    settings.DEVICE_API_MAX_BODY = 100_000
    topic = b"\x00\x0e$resource/temp"
    # The header announces 200 KB; only its start is ever sent.
    sensor.send(b"\x30" + remaining_length(200_000) + topic + b"1" * 1000)
    assert sensor.closed_by_server()
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["packet_too_large"]
    assert "temp" not in device_state("sensor-1")
    assert still_writes(bystander, device_state, "3")


def test_a_value_over_64_kb_is_rejected_and_the_connection_stays_open(
    settings, sensor, device_state, mqtt_events
):
    settings.DEVICE_API_MAX_BODY = 100_000
    sensor.publish("$resource/state", b"x" * 70_000, packet_id=5)
    assert sensor.read_packet() == (PUBACK, 0, b"\x00\x05")
    rejected = wait_for(lambda: mqtt_events("write_rejected"))
    assert [e["identity"] for e in rejected] == ["sensor-1"]
    assert "state" not in device_state("sensor-1")
    sensor.publish("$resource/state", b"small", packet_id=6)
    assert sensor.read_packet() == (PUBACK, 0, b"\x00\x06")
    assert device_state("sensor-1")["state"]["reported"] == "small"
    assert disconnect_reasons(mqtt_events) == []


# --- topics, QoS, subscriptions ---------------------------------------------------------------------


def test_publishing_a_foreign_topic_closes_the_connection_and_says_why(
    sensor, bystander, device_state, mqtt_events
):
    sensor.publish("other/topic", b"hello")
    assert sensor.closed_by_server()
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["topic_not_allowed"]
    assert still_writes(bystander, device_state, "4")


def test_a_qos_2_publish_closes_the_connection(sensor, device_state, mqtt_events):
    sensor.publish("$resource/temp", b"7", qos=2)
    assert sensor.closed_by_server()
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["qos_not_supported"]
    assert "temp" not in device_state("sensor-1")


def test_subscriptions_to_the_devices_resources_are_granted_and_others_fail(sensor):
    topics = [("$resource/#", 1), ("$resource/led", 1), ("other/#", 1)]
    sensor.send(bytes(SubscribePacket.build(topics, 7).to_bytes()))
    assert sensor.read_packet() == (SUBACK, 0, b"\x00\x07" + bytes([1, 1, 0x80]))


def test_paho_sees_the_same_suback_codes(mqtt_server, mqtt_device, tokens):
    import threading

    device = mqtt_device()
    granted, done = [], threading.Event()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        granted.extend(code.value for code in reason_codes)
        done.set()

    device.client.on_subscribe = on_subscribe
    assert device.connect(mqtt_server.plain, password=tokens["sensor-1"]) == 0
    device.client.subscribe([("$resource/#", 1), ("$resource/led", 1), ("other/#", 1)])
    assert done.wait(5)
    assert granted == [1, 1, 0x80]


# --- keeping alive ------------------------------------------------------------------------------


def test_pingreq_gets_pingresp(sensor):
    sensor.send(b"\xc0\x00")
    assert sensor.read_packet() == (PINGRESP, 0, b"")


def test_a_silent_client_is_closed_after_one_and_a_half_keepalives(
    mqtt_server, raw_client, tokens, mqtt_events
):
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=tokens["sensor-1"], keepalive=1) == 0
    started = time.monotonic()
    assert client.closed_by_server(timeout=5)
    assert 1.2 <= time.monotonic() - started < 4
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["keepalive_timeout"]


def test_pings_keep_a_client_connected_past_its_keepalive(mqtt_server, raw_client, tokens):
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=tokens["sensor-1"], keepalive=1) == 0
    for _ in range(4):
        time.sleep(0.6)
        client.send(b"\xc0\x00")
        assert client.read_packet() == (PINGRESP, 0, b"")


# --- the device changes while connected ------------------------------------------------------------


def test_a_device_deleted_while_connected_is_closed_on_its_next_publish(
    sensor, owner_api, connector, bystander, device_state
):
    response = owner_api.delete(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/")
    assert response.status_code == 204, response.content
    sensor.publish("$resource/temp", b"8")
    assert sensor.closed_by_server()
    assert owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/").status_code == 404
    assert still_writes(bystander, device_state, "5")


def test_a_device_locked_while_connected_is_closed_on_its_next_publish(
    sensor, owner_api, connector, device_state, mqtt_events
):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/sensor-1/", {"locked": True}, format="json"
    )
    assert response.status_code == 200, response.content
    sensor.publish("$resource/temp", b"9")
    assert sensor.closed_by_server()
    assert "temp" not in device_state("sensor-1")
    assert [e["identity"] for e in wait_for(lambda: mqtt_events("locked_denied"))] == ["sensor-1"]
    assert wait_for(lambda: disconnect_reasons(mqtt_events)) == ["locked"]


def test_a_second_connection_of_the_device_replaces_the_first(
    mqtt_server, sensor, mqtt_device, tokens, device_state, mqtt_events
):
    second = mqtt_device("sensor-1-again")
    assert second.connect(mqtt_server.plain, password=tokens["sensor-1"]) == 0
    assert sensor.closed_by_server()
    second.publish("$resource/temp", b"10")
    assert device_state("sensor-1")["temp"]["reported"] == "10"
    assert second.disconnected.is_set() is False
