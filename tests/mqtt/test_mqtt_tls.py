"""TLS on the MQTT listener (shared/docs/mqtt.md): the server name chooses the connector, and a
connector's CA verifies device certificates in the handshake."""

import ssl

import pytest

from devices.models import Device as DeviceRow
from tests.conftest import device_host
from tests.factories import make_connector, make_resource
from tests.mqtt.conftest import PUBACK, PUBLISH, events_of, wait_for
from tests.pki.certs import make_ca, make_leaf

pytestmark = pytest.mark.django_db(transaction=True)


def tls_context(mqtt_server, *, certificate=None, directory=None, check_hostname=True, tls12=False):
    """What a device's TLS stack does: trust the server's CA, maybe present a certificate."""
    context = ssl.create_default_context(cafile=mqtt_server.ca)
    context.check_hostname = check_hostname
    if certificate is not None:
        context.load_cert_chain(*certificate.write(directory, "device"))
    if tls12:
        # TLS 1.2: a refused client certificate fails the handshake itself (with TLS 1.3 the
        # client finishes first and hears the refusal on its first read).
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- the server name chooses the connector -------------------------------------------------------


def test_the_connector_id_under_the_device_domain_chooses_the_connector(
    mqtt_server, raw_client, mqtt_server_context, business, connector
):
    other = make_connector(business=business, name="Other")
    client = raw_client(mqtt_server.tls, context=mqtt_server_context, server_name=device_host(other))
    assert client.connect() == 0
    client.publish("$provision/by-name", b"")
    assert client.read_packet()[0] == PUBACK
    kind, _, body = client.read_packet()  # the token, on $provision/by-name
    assert kind == PUBLISH and body.startswith(b"\x00\x12$provision/by-name")
    assert DeviceRow.objects.get(identity="by-name").connector_id == other.pk


def test_an_extra_hostname_chooses_its_connector(mqtt_server, raw_client, owner_api, connector):
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/", {"hostnames": ["mqtt.sensors.example.com"]}, format="json"
    )
    assert response.status_code == 200, response.content
    # The server certificate is the platform's (*.devices.localhost): a device using its own
    # name for the server trusts the certificate by its CA only.
    context = tls_context(mqtt_server, check_hostname=False)
    client = raw_client(mqtt_server.tls, context=context, server_name="mqtt.sensors.example.com")
    assert client.connect() == 0
    client.publish("$provision/by-hostname", b"")
    assert wait_for(lambda: DeviceRow.objects.filter(identity="by-hostname", connector=connector).exists())


def test_an_unknown_connector_under_the_device_domain_is_closed_without_connack(
    mqtt_server, raw_client, mqtt_server_context, connector
):
    client = raw_client(
        mqtt_server.tls, context=mqtt_server_context, server_name="zzzzzzzzzzzzzzzzz.devices.localhost"
    )
    assert client.connect() is None


# --- client certificates -------------------------------------------------------------------------


@pytest.fixture
def ca():
    return make_ca("Device CA")


@pytest.fixture
def pki_connector(business, owner_api, mqtt_server, ca):
    """A certificate connector whose CA (set through the management API) verifies its devices'
    certificates, with a number resource ``temp``."""
    connector = make_connector(business=business, name="Secure sensor", auth_type="certificate")
    make_resource(connector=connector, alias="temp", format="number")
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/",
        {"pki": {"enabled": True, "ca_certificate": ca.pem}},
        format="json",
    )
    assert response.status_code == 200, response.content
    mqtt_server.refresh()
    return connector


def test_a_certificate_signed_by_the_connectors_ca_connects_provisions_and_writes(
    mqtt_server, mqtt_device, pki_connector, ca, tmp_path, owner_api
):
    certfile, keyfile = make_leaf("cert-1", issuer=ca).write(tmp_path, "cert-1")
    device = mqtt_device()
    code = device.connect(
        mqtt_server.tls,
        host=device_host(pki_connector),
        ca=mqtt_server.ca,
        certfile=certfile,
        keyfile=keyfile,
    )
    assert code == 0
    device.publish("$resource/temp", b"19.5")
    base = f"/api/v1/connectors/{pki_connector.pk}/devices/cert-1/"
    shown = owner_api.get(base).json()
    assert (shown["status"], shown["auth"]["type"]) == ("provisioned", "certificate")
    assert owner_api.get(base + "state/").json()["temp"]["reported"] == "19.5"
    types = [e["type"] for e in events_of(pki_connector)]
    assert types[:1] == ["provisioned"] and "connect" in types and "data_in" in types
    assert wait_for(lambda: events_of(pki_connector, "connect"))[-1]["payload"]["auth"] == "certificate"


def connect_with_untrusted_certificate(mqtt_server, raw_client, connector, directory, *, tls12: bool):
    """A device certificate from a CA the connector does not know: with TLS 1.2 the handshake
    fails; with TLS 1.3 the client hears the refusal on its first read (no CONNACK)."""
    stranger = make_leaf("cert-1", issuer=make_ca("Someone else's CA"))
    context = tls_context(mqtt_server, certificate=stranger, directory=directory, tls12=tls12)
    if tls12:
        with pytest.raises(ssl.SSLError):
            raw_client(mqtt_server.tls, context=context, server_name=device_host(connector))
    else:
        client = raw_client(mqtt_server.tls, context=context, server_name=device_host(connector))
        assert client.connect() is None


@pytest.mark.parametrize("tls12", [True, False], ids=["tls1.2", "tls1.3"])
def test_a_certificate_from_another_ca_fails_the_handshake(
    mqtt_server, raw_client, pki_connector, tmp_path, tls12
):
    connect_with_untrusted_certificate(mqtt_server, raw_client, pki_connector, tmp_path, tls12=tls12)
    assert not DeviceRow.objects.filter(identity="cert-1").exists()
    assert events_of(pki_connector, "connect") == []


@pytest.mark.parametrize("tls12", [True, False], ids=["tls1.2", "tls1.3"])
def test_a_certificate_from_another_ca_is_logged_as_certificate_untrusted(
    mqtt_server, raw_client, pki_connector, tmp_path, tls12
):
    connect_with_untrusted_certificate(mqtt_server, raw_client, pki_connector, tmp_path, tls12=tls12)
    failed = wait_for(lambda: events_of(pki_connector, "auth_failed"), timeout=3)
    assert [(e["payload"]["reason"], e["protocol"]) for e in failed] == [("certificate_untrusted", "mqtt")]


def test_a_good_certificate_under_another_connectors_name_fails_the_handshake(
    mqtt_server, raw_client, pki_connector, connector, ca, tmp_path
):
    certificate = make_leaf("cert-1", issuer=ca)
    context = tls_context(mqtt_server, certificate=certificate, directory=tmp_path, tls12=True)
    with pytest.raises(ssl.SSLError):
        raw_client(mqtt_server.tls, context=context, server_name=device_host(connector))
    assert not DeviceRow.objects.filter(identity="cert-1").exists()


def test_without_a_certificate_a_pki_connector_still_takes_activation_only_connections(
    mqtt_server, raw_client, mqtt_server_context, pki_connector
):
    client = raw_client(mqtt_server.tls, context=mqtt_server_context, server_name=device_host(pki_connector))
    assert client.connect() == 0
    client.publish("$resource/temp", b"1")
    assert client.closed_by_server()
