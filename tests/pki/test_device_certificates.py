"""Certificate devices through the device API (WSGI and ASGI adapters), as nginx forwards their
TLS client certificate: first-request provisioning, pinning, CA verification, whitelisting with a
certificate, revocation and lock, and every malformed certificate answered clearly."""

import io
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from cryptography.x509 import UniformResourceIdentifier
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.utils import timezone

from connectors.services import connector_settings_change, connector_update
from devices.imports import device_import
from devices.models import Device
from tests.conftest import device_host
from tests.devices.conftest import activate
from tests.factories import make_device
from tests.pki.certs import make_ca, make_leaf
from tests.pki.conftest import events_of, reasons, write


def state(device: Device) -> dict:
    return {s.alias: s.reported for s in device.states.all()}


# --- first request provisions, then the certificate is pinned -----------------------------------


def test_a_certificate_provisions_its_cn_on_the_first_write(device_with, cert_connector):
    certificate = make_leaf("sensor-1")

    response = write(device_with(cert_connector, certificate))

    assert response.status_code == 204
    device = Device.objects.get(connector=cert_connector, identity="sensor-1")
    assert (device.status, device.auth_type) == ("provisioned", "certificate")
    assert device.certificate_fingerprint == certificate.fingerprint
    assert state(device) == {"temp": "21.5"}
    provisioned, data_in = events_of(cert_connector)
    assert (provisioned["type"], data_in["type"]) == ("provisioned", "data_in")
    assert provisioned["identity"] == data_in["identity"] == "sensor-1"
    assert provisioned["connection_id"] == data_in["connection_id"]
    assert provisioned["payload"] == {"auth_type": "certificate", "fingerprint": certificate.fingerprint}
    assert provisioned["ip"] == "127.0.0.1"


def test_later_requests_with_the_same_certificate_read_and_write_without_provisioning_again(
    device_with, cert_connector
):
    client = device_with(cert_connector, make_leaf("sensor-1"))
    assert write(client, "temp=1").status_code == 204

    assert write(client, "temp=2").status_code == 204
    read = client.get("/onep:v1/stack/alias?temp")

    assert (read.status_code, read.text) == (200, "temp=2")
    assert [e["type"] for e in events_of(cert_connector)] == ["provisioned", "data_in", "data_in", "read"]


def test_another_certificate_with_the_same_cn_is_refused_once_one_is_pinned(device_with, cert_connector):
    assert write(device_with(cert_connector, make_leaf("sensor-1")), "temp=1").status_code == 204

    response = write(device_with(cert_connector, make_leaf("sensor-1")), "temp=666")

    assert (response.status_code, response.text) == (401, "unauthorized")
    assert state(Device.objects.get(identity="sensor-1")) == {"temp": "1"}
    assert reasons(cert_connector, "auth_failed") == ["certificate_mismatch"]


def test_the_management_api_shows_a_provisioned_certificate_device(device_with, cert_connector, api, owner):
    write(device_with(cert_connector, make_leaf("sensor-1")))

    device = api(owner).get(f"/api/v1/connectors/{cert_connector.pk}/devices/sensor-1/").json()

    assert device["status"] == "provisioned" and device["auth"]["type"] == "certificate"


# --- the certificate itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "certificate, reason",
    [
        (make_leaf("sensor-1", starts=-30, ends=-1), "certificate_expired"),
        (make_leaf("sensor-1", starts=1, ends=30), "certificate_not_yet_valid"),
        (make_leaf("sensor-1", usage=[ExtendedKeyUsageOID.SERVER_AUTH]), "not_for_client_auth"),
        (make_leaf(None), "identity_format"),
        (make_leaf("sensor 1"), "identity_format"),
        (make_leaf("sensor\x001"), "identity_format"),
    ],
    ids=["expired", "not-yet-valid", "server-only-usage", "no-cn", "cn-with-a-space", "cn-with-a-nul"],
)
def test_a_certificate_that_cannot_name_a_device_is_refused_and_creates_nothing(
    device_with, cert_connector, certificate, reason
):
    response = write(device_with(cert_connector, certificate))

    assert (response.status_code, response.text) == (401, "unauthorized")
    assert not Device.objects.filter(connector=cert_connector).exists()
    assert reasons(cert_connector, "auth_failed") == [reason]


def test_a_cn_outside_the_connectors_identity_format_is_refused(device_with, cert_connector):
    connector_update(connector=cert_connector, changes={"identity_type": "base10", "identity_length": 8})

    refused = write(device_with(cert_connector, make_leaf("sensor-1")))
    accepted = write(device_with(cert_connector, make_leaf("00000002")))

    assert refused.status_code == 401
    assert accepted.status_code == 204
    assert list(Device.objects.values_list("identity", flat=True)) == ["00000002"]
    failed = events_of(cert_connector, "auth_failed")[0]
    assert failed["payload"]["reason"] == "identity_format"
    assert "not of type base10" in failed["payload"]["message"]


def test_a_provisioned_certificate_device_keeps_working_under_a_format_it_does_not_fit(
    device_with, cert_connector
):
    """As token and password devices do: the format decides which identities may provision."""
    client = device_with(cert_connector, make_leaf("sensor-1"))
    assert write(client, "temp=1").status_code == 204

    change = connector_settings_change(connector=cert_connector, changes={"identity_type": "base10"})
    response = write(client, "temp=2")
    newcomer = write(device_with(cert_connector, make_leaf("sensor-2")))

    assert [warning.count for warning in change.warnings] == [1]
    assert response.status_code == 204
    assert newcomer.status_code == 401
    assert state(Device.objects.get(identity="sensor-1")) == {"temp": "2"}


@pytest.mark.parametrize(
    "header, reason",
    [
        ("garbage", "malformed_certificate"),
        (
            quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", safe=""),
            "malformed_certificate",
        ),
        ("%FF%FE", "malformed_certificate"),
        ("A" * 1024 * 1024, "certificate_too_large"),
    ],
    ids=["garbage", "broken-pem", "not-text", "one-megabyte"],
)
def test_a_malformed_certificate_header_is_a_clear_400_and_changes_nothing(
    device_with, cert_connector, header, reason
):
    response = write(device_with(cert_connector, header))

    assert response.status_code == 400
    assert response.text.startswith("client certificate ")
    assert not Device.objects.filter(connector=cert_connector).exists()
    assert reasons(cert_connector, "auth_failed") == [reason]


def test_the_header_from_an_untrusted_peer_is_ignored(device_with, cert_connector):
    response = write(device_with(cert_connector, make_leaf("sensor-1"), peer="203.0.113.7"))

    assert response.status_code == 401
    assert not Device.objects.filter(connector=cert_connector).exists()
    assert reasons(cert_connector, "auth_failed") == ["no_credentials"]


def test_without_trusted_proxies_the_header_is_ignored_from_anyone(device_with, cert_connector, settings):
    settings.TRUSTED_PROXIES = []

    response = write(device_with(cert_connector, make_leaf("sensor-1")))

    assert response.status_code == 401
    assert reasons(cert_connector, "auth_failed") == ["no_credentials"]


def test_a_certificate_over_plain_http_is_refused_unless_the_connector_is_in_developer_mode(
    device_with, cert_connector
):
    certificate = make_leaf("sensor-1")

    refused = write(device_with(cert_connector, certificate, proto=None))
    connector_update(connector=cert_connector, changes={"devmode": True})
    accepted = write(device_with(cert_connector, certificate, proto=None))

    assert (refused.status_code, accepted.status_code) == (403, 204)
    assert reasons(cert_connector, "provision_denied") == ["insecure_transport"]
    assert Device.objects.get(identity="sensor-1").status == "devmode"


@pytest.mark.django_db(transaction=True)
def test_the_asgi_adapter_honours_the_header_from_a_trusted_proxy_only(
    trusted_proxy, cert_connector, monkeypatch
):
    import asyncio

    from django.db import connections

    from murano.asgi import application

    # Handler threads must not keep their connections, or the test database cannot be dropped.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)

    certificate = make_leaf("sensor-1")
    headers = {"X-SSL-Client-Cert": certificate.header, "X-Forwarded-Proto": "https"}

    async def send(peer: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=(peer, 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{device_host(cert_connector)}"
        ) as c:
            return await c.post("/onep:v1/stack/alias", content="temp=3", headers=headers)

    untrusted = asyncio.run(send("203.0.113.7"))
    trusted = asyncio.run(send("127.0.0.1"))

    assert (untrusted.status_code, trusted.status_code) == (401, 204)
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


# --- with the connector's CA --------------------------------------------------------------------


def test_with_pki_a_certificate_signed_by_the_ca_provisions(device_with, pki_connector, ca):
    response = write(device_with(pki_connector, make_leaf("sensor-1", issuer=ca)))

    assert response.status_code == 204
    assert Device.objects.get(identity="sensor-1").status == "provisioned"


@pytest.mark.parametrize(
    "make_certificate",
    [
        lambda ca: make_leaf("sensor-1"),
        lambda ca: make_leaf("sensor-1", issuer=make_ca("Another CA")),
        lambda ca: make_leaf("sensor-1", issuer=ca, starts=-30, ends=-1),
    ],
    ids=["self-signed", "another-ca", "expired"],
)
def test_with_pki_a_certificate_the_ca_did_not_sign_or_expired_is_refused(
    device_with, pki_connector, ca, make_certificate
):
    response = write(device_with(pki_connector, make_certificate(ca)))

    assert (response.status_code, response.text) == (401, "unauthorized")
    assert not Device.objects.filter(connector=pki_connector).exists()
    assert reasons(pki_connector, "auth_failed")[0] in ("untrusted_certificate", "certificate_expired")


def test_with_pki_an_intermediate_ca_must_come_with_the_certificate(device_with, pki_connector, ca):
    intermediate = make_ca("Factory line 3", issuer=ca)
    leaf = make_leaf("sensor-1", issuer=intermediate)

    alone = write(device_with(pki_connector, leaf))
    chained = write(device_with(pki_connector, quote(leaf.pem + intermediate.pem, safe="")))

    assert (alone.status_code, chained.status_code) == (401, 204)


def test_with_pki_a_certificate_issued_by_a_leaf_of_the_ca_is_refused(device_with, pki_connector, ca):
    not_a_ca = make_leaf("gadget", issuer=ca)  # a device certificate, used to sign another
    forged = make_leaf("sensor-1", issuer=not_a_ca)

    response = write(device_with(pki_connector, quote(forged.pem + not_a_ca.pem, safe="")))

    assert response.status_code == 401
    assert reasons(pki_connector, "auth_failed") == ["untrusted_certificate"]


def test_the_ca_is_checked_on_every_request_not_only_the_first(device_with, cert_connector, ca):
    client = device_with(cert_connector, make_leaf("sensor-1"))
    assert write(client).status_code == 204  # pinned without a CA

    connector_update(connector=cert_connector, changes={"pki_enabled": True, "pki_ca_certificate": ca.pem})

    assert write(client).status_code == 401
    assert reasons(cert_connector, "auth_failed") == ["untrusted_certificate"]


# --- whitelisted devices ------------------------------------------------------------------------


def test_without_presenter_identity_only_whitelisted_identities_provision(device_with, cert_connector):
    connector_update(connector=cert_connector, changes={"presenter_identity": False})
    make_device(connector=cert_connector, identity="listed")

    unknown = write(device_with(cert_connector, make_leaf("unlisted")))
    listed = write(device_with(cert_connector, make_leaf("listed")))

    assert (unknown.status_code, listed.status_code) == (404, 204)
    assert reasons(cert_connector, "provision_denied") == ["not_whitelisted"]
    assert not Device.objects.filter(identity="unlisted").exists()


def test_a_device_whitelisted_with_its_certificate_accepts_only_that_one(device_with, cert_connector, ca):
    mine = make_leaf("sensor-1")
    make_device(connector=cert_connector, identity="sensor-1", auth_type="certificate", key=mine.pem)

    other = write(device_with(cert_connector, make_leaf("sensor-1")))
    right = write(device_with(cert_connector, mine))

    assert (other.status_code, right.status_code) == (401, 204)
    assert reasons(cert_connector, "auth_failed") == ["certificate_mismatch"]
    assert [e["type"] for e in events_of(cert_connector, "provisioned", "data_in")] == [
        "provisioned",
        "data_in",
    ]


def test_a_certificate_from_the_bulk_csv_is_pinned_from_the_start(device_with, cert_connector):
    mine = make_leaf("00000001")
    csv = "ID,TLS Client Certificate,Tags\n" + f'00000001,"{mine.pem}",\n'
    result = device_import(connector=cert_connector, file=io.BytesIO(csv.encode()))
    assert result.created == 1

    other = write(device_with(cert_connector, make_leaf("00000001")))
    right = write(device_with(cert_connector, mine))

    assert (other.status_code, right.status_code) == (401, 204)
    assert Device.objects.get(identity="00000001").status == "provisioned"


def test_a_whitelisted_certificate_device_cannot_be_activated_with_a_token_instead(
    device_client, connector, trusted_proxy
):
    mine = make_leaf("sensor-1")
    make_device(connector=connector, identity="sensor-1", auth_type="certificate", key=mine.pem)

    response = activate(device_client, "sensor-1")

    assert response.status_code == 415
    assert Device.objects.get(identity="sensor-1").status == "whitelisted"


def test_a_whitelisted_device_whose_window_passed_does_not_provision(device_with, cert_connector):
    make_device(connector=cert_connector, identity="late")
    Device.objects.filter(identity="late").update(activation_deadline=timezone.now() - timedelta(hours=1))

    response = write(device_with(cert_connector, make_leaf("late")))

    assert response.status_code == 409
    assert reasons(cert_connector, "provision_denied") == ["expired"]


def test_switching_the_connector_to_certificates_leaves_token_devices_with_their_tokens(
    device_client, device_with, connector
):
    token = activate(device_client, "old-timer").text
    connector_update(connector=connector, changes={"auth_type": "certificate"})

    with_token = device_client.post(
        "/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": token}
    )
    with_certificate = write(device_with(connector, make_leaf("old-timer")))

    assert (with_token.status_code, with_certificate.status_code) == (204, 401)
    assert reasons(connector, "auth_failed") == ["auth_type_mismatch"]
    assert Device.objects.get(identity="old-timer").auth_type == "token"


def test_a_token_connector_does_not_provision_new_identities_by_certificate(device_with, connector):
    response = write(device_with(connector, make_leaf("newcomer")))

    assert response.status_code == 415
    assert reasons(connector, "provision_denied") == ["auth_type_mismatch"]
    assert not Device.objects.filter(identity="newcomer").exists()


# --- revocation and lock ------------------------------------------------------------------------


def test_a_revoked_device_is_refused_its_certificate_and_may_come_back_with_a_new_one(
    device_with, cert_connector, api, owner
):
    old, new = make_leaf("sensor-1"), make_leaf("sensor-1")
    assert write(device_with(cert_connector, old)).status_code == 204
    revoked = api(owner).patch(
        f"/api/v1/connectors/{cert_connector.pk}/devices/sensor-1/", {"auth": {"expire": 0}}, format="json"
    )
    assert revoked.json()["status"] == "reprovision"

    with_old = write(device_with(cert_connector, old))
    with_new = write(device_with(cert_connector, new))

    assert (with_old.status_code, with_new.status_code) == (401, 204)
    assert reasons(cert_connector, "auth_failed") == ["certificate_revoked"]
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == new.fingerprint


def test_a_locked_device_is_refused_even_with_its_certificate(device_with, cert_connector, api, owner):
    client = device_with(cert_connector, make_leaf("sensor-1"))
    assert write(client).status_code == 204
    api(owner).patch(
        f"/api/v1/connectors/{cert_connector.pk}/devices/sensor-1/", {"locked": True}, format="json"
    )

    response = write(client, "temp=99")

    assert response.status_code == 403
    assert [e["type"] for e in events_of(cert_connector)][-1] == "locked_denied"
    assert state(Device.objects.get(identity="sensor-1")) == {"temp": "21.5"}


def test_a_locked_whitelisted_device_does_not_provision(device_with, cert_connector):
    make_device(connector=cert_connector, identity="sensor-1", locked=True)

    response = write(device_with(cert_connector, make_leaf("sensor-1")))

    assert response.status_code == 403
    assert reasons(cert_connector, "provision_denied") == ["locked"]
    assert Device.objects.get(identity="sensor-1").status == "locked"


# --- issued certificates --------------------------------------------------------------------------


def test_an_issued_certificate_names_the_device_in_its_san(pki_connector, api, owner):
    from cryptography import x509

    from tests.pki.certs import make_csr

    csr, _ = make_csr("sensor-1")
    response = api(owner).post(
        f"/api/v1/connectors/{pki_connector.pk}/devices/",
        {"identity": "sensor-1", "auth": {"type": "csr", "key": csr}},
        format="json",
    )
    issued = x509.load_pem_x509_certificate(response.json()["certificate"].encode())

    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.DNSName("sensor-1") in names
    assert UniformResourceIdentifier(f"urn:murano:device:{pki_connector.pk}:sensor-1") in names
