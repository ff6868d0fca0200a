"""The management API's PKI: the connector's client CA (uploaded or generated, its private key
write-only and encrypted at rest), whitelisting with a certificate or a CSR, and bad input."""

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors import pki
from connectors.models import Connector
from core.crypto import decrypt_secret
from devices.imports import device_import
from devices.models import Device
from tests.pki.certs import make_ca, make_csr, make_leaf, tampered_csr, with_key
from tests.pki.conftest import write


def ca_with_key(key) -> str:
    """A CA certificate (PEM) with ``key``: for key types and sizes we refuse."""
    return make_ca("Odd CA", days=30, key=key).pem


def detail(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


def devices(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/devices/"


def generate_ca(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/pki/generate-ca/"


def unchanged(connector) -> bool:
    """The connector's PKI settings are as the fixture left them."""
    stored = Connector.objects.get(pk=connector.pk)
    return (stored.pki_enabled, stored.pki_ca_certificate, stored.pki_ca_private_key_encrypted) == (
        connector.pki_enabled,
        connector.pki_ca_certificate,
        connector.pki_ca_private_key_encrypted,
    )


# --- the client CA --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ca_certificate, message",
    [
        ("garbage", "is not a PEM certificate"),
        (make_leaf("leaf").pem, "is not a CA certificate"),
        (make_ca(days=-1).pem, "has expired"),
        (make_ca(key_cert_sign=False).pem, "is a CA certificate that may not sign certificates (keyUsage)"),
        (make_ca().pem + make_ca().pem, "holds more than one PEM block; give one certificate"),
        (make_ca().key_pem, "holds a private key; give the certificate only"),
        (ca_with_key(rsa.generate_private_key(65537, 1024)), "has a 1024-bit RSA key; use 2048 bits or more"),
        (
            ca_with_key(ec.generate_private_key(ec.SECP256K1())),
            "uses the curve secp256k1; use P-256, P-384 or P-521",
        ),
        (
            ca_with_key(dsa.generate_private_key(2048)),
            "has a key type that is not supported (use RSA, ECDSA or EdDSA)",
        ),
    ],
    ids=[
        "garbage",
        "leaf",
        "expired",
        "no-cert-sign",
        "two-certificates",
        "a-private-key",
        "rsa-1024",
        "secp256k1",
        "dsa",
    ],
)
def test_a_ca_certificate_upload_is_checked_and_a_bad_one_changes_nothing(
    api, owner, cert_connector, ca_certificate, message
):
    response = api(owner).patch(
        detail(cert_connector), {"pki": {"enabled": True, "ca_certificate": ca_certificate}}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"pki": {"ca_certificate": [message]}}
    assert unchanged(cert_connector)


def test_the_ca_private_key_is_write_only_and_encrypted_at_rest(api, owner, cert_connector, ca):
    response = api(owner).patch(
        detail(cert_connector),
        {"pki": {"enabled": True, "ca_certificate": ca.pem, "ca_private_key": ca.key_pem, "sign_csr": True}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["pki"] == {"enabled": True, "ca_certificate": ca.pem, "sign_csr": True}
    stored = Connector.objects.get(pk=cert_connector.pk).pki_ca_private_key_encrypted
    secret = ca.key_pem.splitlines()[1]
    assert secret not in stored and "PRIVATE KEY" not in stored
    assert secret in decrypt_secret(stored)
    assert secret not in api(owner).get(detail(cert_connector)).content.decode()


@pytest.mark.parametrize(
    "key, message",
    [
        ("garbage", "is not a PEM private key"),
        (make_ca().key_pem, "does not belong to the CA certificate"),
        (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase"),
            )
            .decode(),
            "is protected by a passphrase; upload it without one",
        ),
    ],
    ids=["garbage", "another-cas-key", "encrypted"],
)
def test_a_bad_ca_private_key_is_refused(api, owner, cert_connector, ca, key, message):
    response = api(owner).patch(
        detail(cert_connector), {"pki": {"ca_certificate": ca.pem, "ca_private_key": key}}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"pki": {"ca_private_key": [message]}}
    assert unchanged(cert_connector)


def test_pki_needs_a_ca_and_csr_signing_needs_its_key(api, owner, cert_connector, ca):
    client = api(owner)

    no_ca = client.patch(detail(cert_connector), {"pki": {"enabled": True}}, format="json")
    no_key = client.patch(
        detail(cert_connector),
        {"pki": {"enabled": True, "ca_certificate": ca.pem, "sign_csr": True}},
        format="json",
    )
    not_enabled = client.patch(
        detail(cert_connector),
        {"pki": {"ca_certificate": ca.pem, "ca_private_key": ca.key_pem, "sign_csr": True}},
        format="json",
    )

    assert no_ca.json() == {"pki": {"ca_certificate": ["is required to enable PKI (upload or generate one)"]}}
    assert no_key.json() == {"pki": {"ca_private_key": ["is required to sign CSRs"]}}
    assert not_enabled.json() == {"pki": {"sign_csr": ["needs PKI enabled"]}}
    assert unchanged(cert_connector)


def test_a_new_ca_certificate_without_its_key_drops_the_old_cas_key(api, owner, pki_connector):
    response = api(owner).patch(
        detail(pki_connector),
        {"pki": {"sign_csr": False, "ca_certificate": make_ca("Next CA").pem}},
        format="json",
    )

    assert response.status_code == 200
    assert Connector.objects.get(pk=pki_connector.pk).pki_ca_private_key_encrypted == ""


def test_other_settings_can_be_saved_while_the_ca_is_kept(api, owner, pki_connector, ca):
    response = api(owner).patch(
        detail(pki_connector), {"pki": {"enabled": True}, "name": "Renamed"}, format="json"
    )

    assert response.status_code == 200
    assert unchanged(pki_connector)


def test_generate_ca_makes_a_ca_for_the_connector_and_keeps_its_key(api, owner, cert_connector):
    response = api(owner).post(generate_ca(cert_connector), {}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body == {"enabled": False, "ca_certificate": body["ca_certificate"], "sign_csr": False}
    certificate = x509.load_pem_x509_certificate(body["ca_certificate"].encode())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert_connector.pk in certificate.subject.rfc4514_string()
    stored = Connector.objects.get(pk=cert_connector.pk)
    key = serialization.load_pem_private_key(
        decrypt_secret(stored.pki_ca_private_key_encrypted).encode(), None
    )
    assert key.public_key() == certificate.public_key()
    assert "PRIVATE" not in response.content.decode()


def test_generate_ca_then_enable_signing_issues_certificates_that_verify(api, owner, cert_connector):
    client = api(owner)
    pem = client.post(generate_ca(cert_connector), {"common_name": "Acme sensors CA"}, format="json").json()[
        "ca_certificate"
    ]
    enabled = client.patch(
        detail(cert_connector), {"pki": {"enabled": True, "sign_csr": True}}, format="json"
    )
    assert enabled.status_code == 200
    csr, key = make_csr("sensor-1")

    issued = client.post(
        devices(cert_connector), {"identity": "sensor-1", "auth": {"type": "csr", "key": csr}}, format="json"
    )

    assert issued.status_code == 201
    certificate = x509.load_pem_x509_certificate(issued.json()["certificate"].encode())
    pki.client_certificate_verify([certificate], ca_certificate=pem)  # raises if it does not verify
    assert certificate.issuer.rfc4514_string() == "CN=Acme sensors CA"


def test_generate_ca_keeps_an_existing_ca_unless_told_to_replace_it(api, owner, pki_connector, ca):
    client = api(owner)

    kept = client.post(generate_ca(pki_connector), {}, format="json")
    replaced = client.post(generate_ca(pki_connector), {"replace": True, "validity_days": 30}, format="json")

    assert kept.status_code == 409 and "replace" in kept.json()["detail"]
    assert replaced.status_code == 201 and replaced.json()["ca_certificate"] != ca.pem
    assert replaced.json()["enabled"] is True  # PKI stays on, now with the new CA


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"validity_days": 0}, {"validity_days": ["Ensure this value is greater than or equal to 1."]}),
        ({"common_name": "x" * 65}, {"common_name": ["Ensure this field has no more than 64 characters."]}),
        ({"replace": "perhaps"}, {"replace": ["Must be a valid boolean."]}),
    ],
)
def test_generate_ca_refuses_bad_input(api, owner, cert_connector, body, errors):
    response = api(owner).post(generate_ca(cert_connector), body, format="json")

    assert (response.status_code, response.json()) == (400, errors)
    assert Connector.objects.get(pk=cert_connector.pk).pki_ca_certificate == ""


def test_a_viewer_cannot_generate_a_ca(api, viewer, cert_connector):
    response = api(viewer).post(generate_ca(cert_connector), {}, format="json")

    assert response.status_code == 403
    assert Connector.objects.get(pk=cert_connector.pk).pki_ca_certificate == ""


# --- whitelisting with a certificate --------------------------------------------------------------


def test_whitelisting_with_a_certificate_pins_it(api, owner, cert_connector):
    certificate = make_leaf("sensor-1")

    response = api(owner).post(
        devices(cert_connector),
        {"identity": "sensor-1", "auth": {"type": "certificate", "key": certificate.pem}},
        format="json",
    )

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["auth"]) == ("whitelisted", {"type": "certificate"})
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


@pytest.mark.parametrize(
    "make_key, message",
    [
        (lambda ca: "garbage", "key is not a PEM certificate"),
        (lambda ca: make_leaf("sensor-2").pem, "key has the CN 'sensor-2', not the identity 'sensor-1'"),
        (lambda ca: make_leaf("sensor-1").key_pem, "key holds a private key; give the certificate only"),
        (lambda ca: make_leaf("sensor-1", starts=-9, ends=-1).pem, "key has expired"),
        (
            lambda ca: make_leaf("sensor-1", issuer=make_ca("Other")).pem,
            "key is not verified by the connector's CA",
        ),
    ],
    ids=["garbage", "another-cn", "private-key", "expired", "another-ca"],
)
def test_whitelisting_with_a_bad_certificate_is_refused(api, owner, pki_connector, ca, make_key, message):
    response = api(owner).post(
        devices(pki_connector),
        {"identity": "sensor-1", "auth": {"type": "certificate", "key": make_key(ca)}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["auth"][0].startswith(message)
    assert not Device.objects.filter(connector=pki_connector).exists()


# --- CSR signing ----------------------------------------------------------------------------------


def test_a_csr_is_signed_by_the_connectors_ca(api, owner, pki_connector, ca):
    csr, key = make_csr("sensor-1")

    response = api(owner).post(
        devices(pki_connector), {"identity": "sensor-1", "auth": {"type": "csr", "key": csr}}, format="json"
    )

    assert response.status_code == 201
    assert set(response.json()) == {"certificate"}
    certificate = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    assert certificate.subject.rfc4514_string() == "CN=sensor-1"
    assert certificate.issuer == ca.certificate.subject
    assert certificate.public_key() == key.public_key()
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 360 <= (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days <= 366
    pki.client_certificate_verify([certificate], ca_certificate=ca.pem)
    device = Device.objects.get(identity="sensor-1")
    assert (device.status, device.certificate) == ("whitelisted", response.json()["certificate"])


def test_the_issued_certificate_then_works_on_the_device_api(api, owner, pki_connector, device_with):
    csr, key = make_csr("sensor-1")
    issued = api(owner).post(
        devices(pki_connector), {"identity": "sensor-1", "auth": {"type": "csr", "key": csr}}, format="json"
    )
    certificate = with_key(issued.json()["certificate"], key)

    other = write(device_with(pki_connector, make_leaf("sensor-1")))
    response = write(device_with(pki_connector, certificate))

    assert (other.status_code, response.status_code) == (401, 204)
    assert Device.objects.get(identity="sensor-1").status == "provisioned"


@pytest.mark.parametrize(
    "key, message",
    [
        (tampered_csr("sensor-1"), "key is a CSR whose signature does not verify with its key"),
        (make_csr("sensor-2")[0], "key is a CSR for the CN 'sensor-2', not for the identity 'sensor-1'"),
        (make_csr(None)[0], "key is a CSR without a CN (it must be the identity)"),
        ("garbage", "key is not a PEM certificate signing request (CSR)"),
        (make_leaf("sensor-1").pem, "key is not a PEM certificate signing request (CSR)"),
        ("", "key must hold the CSR (PEM) to sign"),
    ],
    ids=["bad-signature", "another-identity", "no-cn", "garbage", "a-certificate", "empty"],
)
def test_a_bad_csr_is_refused_and_nothing_is_whitelisted(api, owner, pki_connector, key, message):
    response = api(owner).post(
        devices(pki_connector), {"identity": "sensor-1", "auth": {"type": "csr", "key": key}}, format="json"
    )

    assert (response.status_code, response.json()) == (400, {"auth": [message]})
    assert not Device.objects.filter(connector=pki_connector).exists()


def test_a_csr_needs_a_connector_that_signs_csrs(api, owner, cert_connector):
    response = api(owner).post(
        devices(cert_connector),
        {"identity": "sensor-1", "auth": {"type": "csr", "key": make_csr("sensor-1")[0]}},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {"auth": ["CSR signing is not enabled on this connector."]},
    )
    assert not Device.objects.filter(connector=cert_connector).exists()


def test_a_csr_for_an_identity_already_whitelisted_is_not_signed(api, owner, pki_connector):
    client = api(owner)
    client.post(devices(pki_connector), {"identity": "sensor-1"}, format="json")

    response = client.post(
        devices(pki_connector),
        {"identity": "sensor-1", "auth": {"type": "csr", "key": make_csr("sensor-1")[0]}},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        409,
        {"identity": ["this identity is already whitelisted"]},
    )
    assert Device.objects.get(identity="sensor-1").certificate == ""


def test_device2_whitelisting_with_a_csr_answers_the_certificate(api, owner, pki_connector, ca):
    csr, _ = make_csr("00000002")

    response = api(owner).put(
        f"/api:1/service/{pki_connector.pk}/device2/identity/00000002",
        {"auth": {"type": "csr", "key": csr}},
        format="json",
    )

    assert response.status_code == 200
    certificate = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    assert certificate.issuer == ca.certificate.subject
    plain = api(owner).put(f"/api:1/service/{pki_connector.pk}/device2/identity/00000003", {}, format="json")
    assert plain.status_code == 204


# --- pinning on an existing device ------------------------------------------------------------------


def test_a_patch_pins_replaces_and_clears_a_whitelisted_devices_certificate(api, owner, cert_connector):
    client = api(owner)
    client.post(devices(cert_connector), {"identity": "sensor-1"}, format="json")
    first, second = make_leaf("sensor-1"), make_leaf("sensor-1")
    url = devices(cert_connector) + "sensor-1/"

    pinned = client.patch(url, {"auth": {"type": "certificate", "key": first.pem}}, format="json")
    assert pinned.status_code == 200
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == first.fingerprint

    assert (
        client.patch(url, {"auth": {"type": "certificate", "key": second.pem}}, format="json").status_code
        == 200
    )
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == second.fingerprint

    assert client.patch(url, {"auth": {"type": "certificate", "key": ""}}, format="json").status_code == 200
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint in ("", None)


@pytest.mark.parametrize(
    "auth, message",
    [
        ({"type": "certificate", "key": "garbage"}, "key is not a PEM certificate"),
        ({"type": "token", "key": "0" * 40}, "an existing device's credentials change only"),
        ({"key": "whatever"}, "an existing device's credentials change only"),
        ({"type": "certificate"}, "an existing device's credentials change only"),
    ],
    ids=["garbage", "token", "key-alone", "type-alone"],
)
def test_a_patch_that_cannot_change_the_credentials_says_so_and_changes_nothing(
    api, owner, cert_connector, auth, message
):
    client = api(owner)
    certificate = make_leaf("sensor-1")
    whitelisting = {"identity": "sensor-1", "auth": {"type": "certificate", "key": certificate.pem}}
    assert client.post(devices(cert_connector), whitelisting, format="json").status_code == 201

    response = client.patch(
        devices(cert_connector) + "sensor-1/", {"auth": auth, "locked": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["auth"][0].startswith(message)
    device = Device.objects.get(identity="sensor-1")
    assert (device.certificate_fingerprint, device.locked) == (certificate.fingerprint, False)


# --- the bulk CSV's certificate column -------------------------------------------------------------


def test_the_csv_certificate_column_is_checked_like_one_whitelisting(pki_connector, ca):
    # CN = ID, valid now, verified by the connector's CA: the same rule as POST .../devices/.
    def cell(pem: str) -> str:
        return '"' + pem.replace('"', '""') + '"'

    good = make_leaf("sensor-1", issuer=ca)
    rows = [
        f"sensor-1,{cell(good.pem)}",
        f"sensor-2,{cell(make_leaf('sensor-9', issuer=ca).pem)}",
        f"sensor-3,{cell(make_leaf('sensor-3', issuer=make_ca('Other')).pem)}",
        f"sensor-4,{cell(make_leaf('sensor-4', issuer=ca, starts=-9, ends=-1).pem)}",
    ]
    csv_file = io.BytesIO(("ID,TLS Client Certificate\n" + "\n".join(rows) + "\n").encode())

    result = device_import(connector=pki_connector, file=csv_file)

    assert (result.created, result.error_count) == (1, 3)
    reasons = {error["identity"]: error["reason"] for error in result.errors}
    assert reasons["sensor-2"] == "TLS Client Certificate has the CN 'sensor-9', not the identity 'sensor-2'"
    assert reasons["sensor-3"].startswith("TLS Client Certificate is not verified by the connector's CA")
    assert reasons["sensor-4"].startswith("TLS Client Certificate has expired")
    pinned = Device.objects.get(connector=pki_connector)
    assert (pinned.identity, pinned.certificate_fingerprint) == ("sensor-1", good.fingerprint)
