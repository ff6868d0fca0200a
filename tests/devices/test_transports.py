"""A connector's ``protocol.transports`` (shared/docs/mqtt.md): which transports its devices may
use. People set it through the management API and the Settings tab; every device request over
a transport not listed is refused with ``403`` and an event in Logs, whatever its credentials."""

import base64

import pytest

from connectors.models import Connector
from devices import services
from devices.auth import DeviceCredentials, device_authenticate
from devices.errors import DeviceError, ProvisionDenied
from devices.events import events_recent
from devices.models import Device, ValuePoint
from tests.factories import make_connector, make_device, make_resource
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

PASSWORD = "a-password-of-at-least-20-bytes"
NOT_HTTP = "http is not allowed for this connector's devices"
# The Settings form as a browser sends it for the fixture's connector (developer mode on).
SETTINGS = {
    "name": "Thermostat", "devmode": "on", "identity_type": "opaque", "identity_casing": "mixed",
    "auth_type": "token", "activation_window_hours": "48", "provisioning_enabled": "on",
    "presenter_identity": "on",
}  # fmt: skip


def detail(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


@pytest.fixture
def allow(owner_api, connector):
    """``allow(*transports)``: the connector's transports, set through the management API."""

    def set_transports(*transports: str) -> None:
        response = owner_api.patch(
            detail(connector), {"protocol": {"transports": list(transports)}}, format="json"
        )
        assert response.status_code == 200, response.content

    return set_transports


@pytest.fixture
def temp(connector):
    return make_resource(connector=connector, alias="temp", format="number")


def basic(identity: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()}


def reasons(events, type: str) -> list[tuple[str, str]]:
    """The reasons and protocols of the fixture connector's recent events of ``type``."""
    return [(e["payload"]["reason"], e["protocol"]) for e in events(type)]


def reasons_of(connector, type: str) -> list[tuple[str, str]]:
    """``reasons`` for another connector."""
    return [(e["payload"]["reason"], e["protocol"]) for e in events_recent(connector.pk) if e["type"] == type]


# --- the setting, through the management API ---------------------------------------------------


def test_a_connector_lets_its_devices_use_every_transport_by_default(owner_api, connector):
    body = owner_api.get(detail(connector)).json()

    assert body["protocol"] == {"devmode": True, "transports": ["http", "mqtt"]}


def test_a_patch_of_the_transports_is_stored_and_read_back(owner_api, connector):
    before = Connector.objects.get(pk=connector.pk).updated_at

    response = owner_api.patch(detail(connector), {"protocol": {"transports": ["mqtt"]}}, format="json")

    assert response.status_code == 200
    assert response.json()["protocol"] == {"devmode": True, "transports": ["mqtt"]}
    assert owner_api.get(detail(connector)).json()["protocol"]["transports"] == ["mqtt"]
    # A changed setting moves the stamp device API processes compare their cached copies to.
    assert Connector.objects.get(pk=connector.pk).updated_at > before


def test_transports_are_stored_in_one_order_whatever_order_they_come_in(owner_api, connector):
    response = owner_api.patch(
        detail(connector), {"protocol": {"transports": ["mqtt", "http"]}}, format="json"
    )

    assert response.json()["protocol"]["transports"] == ["http", "mqtt"]


def test_a_connector_can_be_created_for_mqtt_devices_only(owner_api):
    response = owner_api.post(
        "/api/v1/connectors/", {"name": "Meter", "protocol": {"transports": ["mqtt"]}}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["protocol"]["transports"] == ["mqtt"]


@pytest.mark.parametrize(
    "transports, message",
    [
        ([], "This list may not be empty."),
        (["ftp"], '"ftp" is not a valid choice.'),
        ("http", 'Expected a list of items but got type "str".'),
        (["http", "http"], "each transport may be listed once"),
        ([1], '"1" is not a valid choice.'),
    ],
)
def test_bad_transports_are_refused_naming_the_field(owner_api, connector, transports, message):
    response = owner_api.patch(detail(connector), {"protocol": {"transports": transports}}, format="json")

    assert response.status_code == 400
    errors = response.json()["protocol"]["transports"]
    assert message in str(errors)
    assert owner_api.get(detail(connector)).json()["protocol"]["transports"] == ["http", "mqtt"]


def test_the_device2_gateway_settings_show_and_change_the_transports(owner_api, connector):
    url = f"/api:1/service/{connector.pk}/device2"

    assert owner_api.get(url).json()["protocol"]["transports"] == ["http", "mqtt"]
    response = owner_api.patch(url, {"protocol": {"transports": ["http"]}}, format="json")

    assert response.status_code == 200 and response.json()["protocol"]["transports"] == ["http"]
    refused = owner_api.patch(url, {"protocol": {"transports": ["http", "http"]}}, format="json")
    assert refused.status_code == 400 and "transports" in refused.json()["protocol"]


# --- the rule, over the HTTP device API --------------------------------------------------------


def test_a_token_device_of_an_mqtt_only_connector_is_refused_over_http(
    device_client, token_device, temp, allow, events
):
    allow("mqtt")

    response = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=token_device.headers)

    assert (response.status_code, response.text) == (403, NOT_HTTP)
    assert reasons(events, "auth_failed") == [("transport_not_allowed", "http")]
    assert [e["identity"] for e in events("auth_failed")] == [token_device.identity]
    assert not ValuePoint.objects.exists()


def test_activation_over_http_is_denied_on_an_mqtt_only_connector(device_client, allow, events):
    allow("mqtt")

    response = device_client.post("/provision/activate", content="id=sensor-2")

    assert (response.status_code, response.text) == (403, NOT_HTTP)
    assert reasons(events, "provision_denied") == [("transport_not_allowed", "http")]
    assert not Device.objects.filter(identity="sensor-2").exists()


def test_a_password_device_of_an_mqtt_only_connector_is_refused_over_http(
    device_client, connector, temp, allow, events
):
    make_device(connector=connector, identity="meter:1", auth_type="password", key=PASSWORD)
    allow("mqtt")

    headers = basic("meter:1", PASSWORD)
    response = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=headers)

    assert (response.status_code, response.text) == (403, NOT_HTTP)
    assert reasons(events, "auth_failed") == [("transport_not_allowed", "http")]
    assert not ValuePoint.objects.exists()


def test_http_devices_still_talk_when_only_http_is_allowed(
    device_client, token_device, temp, allow, events, device_state
):
    allow("http")

    response = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=token_device.headers)
    activation = device_client.post("/provision/activate", content="id=sensor-3")

    assert response.status_code == 204
    assert device_state(token_device.identity)["temp"]["reported"] == "21"
    assert activation.status_code == 200
    assert not events("auth_failed") and not events("provision_denied")


def test_plain_http_is_refused_as_insecure_before_the_transport_is_judged(business, wsgi_client_from):
    secure_only = make_connector(business=business, name="Secure", transports=["mqtt"])
    make_device(connector=secure_only, identity="meter:2", auth_type="password", key=PASSWORD)
    client = wsgi_client_from(secure_only)  # plain HTTP, developer mode off

    response = client.post("/onep:v1/stack/alias", content="temp=21", headers=basic("meter:2", PASSWORD))

    assert response.status_code == 403 and response.text == services.INSECURE_TRANSPORT_MESSAGE
    assert reasons_of(secure_only, "auth_failed") == [("insecure_transport", "http")]


# --- the rule, for any transport (what the MQTT server calls) ---------------------------------


def test_a_device_authenticating_over_mqtt_is_refused_when_only_http_is_allowed(
    connector, token_device, allow, events
):
    allow("http")
    credentials = DeviceCredentials(
        connector_id=connector.pk, ip="203.0.113.9", token=token_device.token, protocol="mqtt"
    )

    with pytest.raises(DeviceError) as refused:
        device_authenticate(credentials)

    assert (refused.value.status, refused.value.reason) == (403, "transport_not_allowed")
    assert refused.value.message == "mqtt is not allowed for this connector's devices"
    assert reasons(events, "auth_failed") == [("transport_not_allowed", "mqtt")]


def test_a_wrong_token_over_mqtt_is_logged_as_mqtt(connector, events):
    credentials = DeviceCredentials(
        connector_id=connector.pk, ip="203.0.113.9", token="0" * 40, protocol="mqtt"
    )

    with pytest.raises(DeviceError) as refused:
        device_authenticate(credentials)

    assert refused.value.status == 401
    assert [e["protocol"] for e in events("auth_failed")] == ["mqtt"]


def test_a_locked_device_over_mqtt_is_logged_as_mqtt(connector, token_device, owner_api, events):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{token_device.identity}/", {"locked": True}, format="json"
    )
    credentials = DeviceCredentials(
        connector_id=connector.pk, ip="203.0.113.9", token=token_device.token, protocol="mqtt"
    )

    with pytest.raises(DeviceError) as refused:
        device_authenticate(credentials)

    assert (refused.value.status, refused.value.message) == (403, "device is locked")
    assert [e["protocol"] for e in events("locked_denied")] == ["mqtt"]


def test_activation_over_mqtt_is_denied_when_only_http_is_allowed(connector, allow, events):
    allow("http")

    with pytest.raises(ProvisionDenied) as denied:
        services.device_activate(
            connector=Connector.objects.get(pk=connector.pk), identity="sensor-4", password=None,
            ip="203.0.113.9", protocol="mqtt",
        )  # fmt: skip

    assert (denied.value.status, denied.value.reason) == (403, "transport_not_allowed")
    assert reasons(events, "provision_denied") == [("transport_not_allowed", "mqtt")]
    assert not Device.objects.filter(identity="sensor-4").exists()


def test_certificate_provisioning_over_mqtt_is_denied_when_only_http_is_allowed(business):
    connector = make_connector(business=business, name="Certs", auth_type="certificate", transports=["http"])

    with pytest.raises(ProvisionDenied) as denied:
        services.device_certificate_provision(
            connector=connector, identity="cam-1", certificate="", fingerprint="ab" * 32,
            ip="203.0.113.9", protocol="mqtt",
        )  # fmt: skip

    assert (denied.value.status, denied.value.reason) == (403, "transport_not_allowed")
    assert reasons_of(connector, "provision_denied") == [("transport_not_allowed", "mqtt")]
    assert not Device.objects.filter(connector=connector).exists()


# --- the Settings tab ----------------------------------------------------------------------------


def test_the_settings_tab_shows_the_transports_as_ticked_boxes(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/settings/"))

    assert "<legend>Transports</legend>" in html
    assert 'value="http" id="id_transports_0" checked' in html
    assert 'value="mqtt" id="id_transports_1" checked' in html


def test_unticking_every_transport_is_refused_next_to_the_field(web, owner, connector):
    response = web(owner).post(f"/connectors/{connector.pk}/settings/", SETTINGS)

    assert response.status_code == 400
    html = page_text(response)
    error_start = html.index('id="id_transports_error"')
    assert "Tick at least one transport." in html[error_start : error_start + 200]
    assert Connector.objects.get(pk=connector.pk).transports == ["http", "mqtt"]


def test_ticking_only_mqtt_saves_it(web, owner, connector, owner_api):
    response = web(owner).post(f"/connectors/{connector.pk}/settings/", {**SETTINGS, "transports": ["mqtt"]})

    assert response.status_code == 302
    assert owner_api.get(detail(connector)).json()["protocol"]["transports"] == ["mqtt"]
