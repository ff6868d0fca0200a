"""CONNECT over MQTT, row by row of shared/docs/mqtt.md: what the device gets (its CONNACK, or the
connection closed) and what Logs says about every refusal."""

import httpx
import pytest

from devices.models import DeviceState
from tests.conftest import device_host
from tests.devices.conftest import activate
from tests.factories import make_connector, make_resource
from tests.mqtt.conftest import events_of, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# paho (v2) hands MQTT 3.1.1's CONNACK codes to on_connect as MQTT 5 reason codes.
PAHO_BAD_CREDENTIALS = 134  # CONNACK 4
PAHO_NOT_AUTHORIZED = 135  # CONNACK 5
PASSWORD = "a-password-of-at-least-20-bytes"
UNKNOWN_TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def token(device_client, connector):
    make_resource(connector=connector, alias="temp", format="number")
    response = activate(device_client, "sensor-1")
    assert response.status_code == 200
    return response.text


def sni(connector) -> str:
    return device_host(connector)


def reasons(events: list[dict]) -> list[str]:
    return [e["payload"]["reason"] for e in events]


def http_client(connector) -> httpx.Client:
    from murano.wsgi import application

    transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.9")
    return httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}")


# --- token ------------------------------------------------------------------------------------


def test_a_token_in_the_password_with_an_empty_username_connects(mqtt_server, mqtt_device, token):
    assert mqtt_device().connect(mqtt_server.plain, username="", password=token) == 0


def test_the_connack_codes_of_a_refused_token_are_4_over_raw_mqtt(mqtt_server, raw_client, token, connector):
    client = raw_client(mqtt_server.plain)
    assert client.connect(username="", password=UNKNOWN_TOKEN, client_id="") == 4
    assert client.closed_by_server()


def test_an_unknown_token_is_refused_with_4_and_logged_as_auth_failed(
    mqtt_server, mqtt_device, token, connector, mqtt_events
):
    code = mqtt_device().connect(
        mqtt_server.tls, host=sni(connector), ca=mqtt_server.ca, password=UNKNOWN_TOKEN
    )
    assert code == PAHO_BAD_CREDENTIALS
    failed = wait_for(lambda: mqtt_events("auth_failed"))
    assert reasons(failed) == ["unknown_token"]
    assert failed[0]["ip"] == "127.0.0.1"
    assert mqtt_events("connect") == []


def test_a_malformed_token_is_refused_with_4(
    mqtt_server, mqtt_device, token, connector, mqtt_events, settings
):
    settings.DEVICE_DEFAULT_CONNECTOR = connector.pk
    assert mqtt_device().connect(mqtt_server.plain, password="not a token") == PAHO_BAD_CREDENTIALS
    assert reasons(wait_for(lambda: mqtt_events("auth_failed"))) == ["malformed_token"]


def test_another_connectors_token_is_unknown_under_this_connectors_name(
    mqtt_server, mqtt_device, token, business, connector
):
    other = make_connector(business=business, name="Other")
    code = mqtt_device().connect(mqtt_server.tls, host=sni(other), ca=mqtt_server.ca, password=token)
    assert code == PAHO_BAD_CREDENTIALS
    assert reasons(wait_for(lambda: events_of(other, "auth_failed"))) == ["unknown_token"]


# --- password ---------------------------------------------------------------------------------


@pytest.fixture
def password_connector(business):
    connector = make_connector(business=business, name="Passwords", auth_type="password", devmode=True)
    make_resource(connector=connector, alias="temp", format="number")
    with http_client(connector) as client:
        assert activate(client, "pw-1", PASSWORD).status_code == 204
    return connector


def test_identity_and_password_connect_and_write(mqtt_server, mqtt_device, password_connector, owner_api):
    device = mqtt_device()
    code = device.connect(
        mqtt_server.tls, host=sni(password_connector), ca=mqtt_server.ca, username="pw-1", password=PASSWORD
    )
    assert code == 0
    device.publish("$resource/temp", b"3")
    state = owner_api.get(f"/api/v1/connectors/{password_connector.pk}/devices/pw-1/state/").json()
    assert state["temp"]["reported"] == "3"
    connect = wait_for(lambda: events_of(password_connector, "connect"))
    assert connect[-1]["payload"]["auth"] == "password"


def test_a_wrong_password_is_refused_with_4_and_logged(mqtt_server, mqtt_device, password_connector):
    code = mqtt_device().connect(
        mqtt_server.tls, host=sni(password_connector), ca=mqtt_server.ca, username="pw-1", password="x" * 24
    )
    assert code == PAHO_BAD_CREDENTIALS
    failed = wait_for(lambda: events_of(password_connector, "auth_failed"))
    assert reasons(failed) == ["bad_password"]
    assert failed[0]["identity"] == "pw-1"


def test_a_password_without_a_server_name_has_no_connector_and_is_refused_with_4(
    mqtt_server, raw_client, password_connector
):
    client = raw_client(mqtt_server.plain)
    assert client.connect(username="pw-1", password=PASSWORD) == 4


# --- locked, transports, insecure transport -----------------------------------------------------


def test_a_locked_device_is_refused_with_5_and_logged_as_locked_denied(
    mqtt_server, mqtt_device, token, owner_api, connector, mqtt_events
):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/sensor-1/", {"locked": True}, format="json"
    )
    assert response.status_code == 200, response.content
    assert mqtt_device().connect(mqtt_server.plain, password=token) == PAHO_NOT_AUTHORIZED
    denied = wait_for(lambda: mqtt_events("locked_denied"))
    assert [(e["identity"], e["protocol"]) for e in denied] == [("sensor-1", "mqtt")]
    assert mqtt_events("connect") == []


def test_a_connector_that_allows_only_http_refuses_mqtt_with_5(
    mqtt_server, mqtt_device, token, owner_api, connector, mqtt_events
):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/", {"protocol": {"transports": ["http"]}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert mqtt_device().connect(mqtt_server.plain, password=token) == PAHO_NOT_AUTHORIZED
    failed = wait_for(lambda: mqtt_events("auth_failed"))
    assert reasons(failed) == ["transport_not_allowed"]
    assert failed[0]["identity"] == "sensor-1"


def test_plain_tcp_without_developer_mode_is_refused_with_5_and_tls_connects(
    mqtt_server, mqtt_device, token, owner_api, connector, mqtt_events
):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/", {"protocol": {"devmode": False}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert mqtt_device().connect(mqtt_server.plain, password=token) == PAHO_NOT_AUTHORIZED
    assert reasons(wait_for(lambda: mqtt_events("auth_failed"))) == ["insecure_transport"]
    secure = mqtt_device()
    assert secure.connect(mqtt_server.tls, host=sni(connector), ca=mqtt_server.ca, password=token) == 0
    secure.publish("$resource/temp", b"5")
    assert mqtt_events("data_in")[-1]["payload"][0]["values"] == {"temp": "5"}


# --- empty credentials: activation only -------------------------------------------------------


def test_empty_credentials_connect_but_may_not_write(
    mqtt_server, raw_client, token, connector, settings, mqtt_events
):
    settings.DEVICE_DEFAULT_CONNECTOR = connector.pk
    client = raw_client(mqtt_server.plain)
    assert client.connect() == 0
    client.publish("$resource/temp", b"99")
    assert client.closed_by_server()
    assert mqtt_events("data_in") == []
    assert not DeviceState.objects.filter(alias="temp").exists()


def test_provisioning_an_identity_already_provisioned_is_denied_and_closes_the_connection(
    mqtt_server, raw_client, token, connector, mqtt_server_context
):
    client = raw_client(mqtt_server.tls, context=mqtt_server_context, server_name=sni(connector))
    assert client.connect() == 0
    client.publish("$provision/sensor-1", b"")
    assert client.closed_by_server()
    denied = wait_for(lambda: events_of(connector, "provision_denied"))
    assert [(e["identity"], e["payload"]["reason"], e["protocol"]) for e in denied] == [
        ("sensor-1", "already_provisioned", "mqtt")
    ]


# --- protocol rules -----------------------------------------------------------------------------


def test_an_empty_client_id_without_a_clean_session_is_refused_with_2(mqtt_server, raw_client, token):
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=token, client_id="", clean_session=False) == 2
    assert client.closed_by_server()


def test_an_empty_client_id_with_a_clean_session_connects(mqtt_server, raw_client, token):
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=token, client_id="", clean_session=True) == 0


def test_mqtt_3_1_is_refused_with_1(mqtt_server, raw_client, token):
    client = raw_client(mqtt_server.plain)
    assert client.connect(password=token, proto_name="MQIsdp", proto_level=3) == 1
    assert client.closed_by_server()


def test_a_connection_without_connect_is_closed_after_the_connect_timeout(mqtt_server, raw_client, settings):
    settings.MQTT_CONNECT_TIMEOUT = 0.5
    client = raw_client(mqtt_server.plain)
    assert client.closed_by_server(timeout=3)


def test_a_first_packet_other_than_connect_closes_the_connection(mqtt_server, raw_client, token):
    client = raw_client(mqtt_server.plain)
    client.send(b"\xc0\x00")  # PINGREQ
    assert client.closed_by_server()
