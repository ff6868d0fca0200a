"""``manage.py devices enable <connector> <identity> --auth csr --cred file.pem``: the Murano CLI's
``device enable``, printing the certificate the connector signed."""

import io
import json

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command

from devices.models import Device
from tests.pki.certs import make_csr, make_leaf, tampered_csr


def enable(*args: str) -> str:
    out = io.StringIO()
    call_command("devices", "enable", *args, stdout=out)
    return out.getvalue()


def test_enable_with_a_csr_prints_the_signed_certificate(pki_connector, ca, tmp_path):
    csr, key = make_csr("00000002")
    (tmp_path / "00000002.req.pem").write_text(csr)

    printed = json.loads(
        enable(pki_connector.pk, "00000002", "--auth", "csr", "--cred", str(tmp_path / "00000002.req.pem"))
    )

    issued = x509.load_pem_x509_certificate(printed["certificate"].encode())
    assert issued.subject.rfc4514_string() == "CN=00000002"
    assert issued.issuer == ca.certificate.subject
    assert issued.public_key() == key.public_key()
    device = Device.objects.get(connector=pki_connector, identity="00000002")
    assert (device.status, device.auth_type, device.certificate) == (
        "whitelisted",
        "certificate",
        printed["certificate"],
    )


def test_enable_with_a_certificate_pins_it(cert_connector, tmp_path):
    certificate = make_leaf("sensor-9")
    (tmp_path / "cert.pem").write_text(certificate.pem)

    printed = json.loads(
        enable(cert_connector.pk, "sensor-9", "--auth", "certificate", "--cred", str(tmp_path / "cert.pem"))
    )

    assert printed == {"identity": "sensor-9", "status": "whitelisted"}
    assert Device.objects.get(identity="sensor-9").certificate_fingerprint == certificate.fingerprint


def test_enable_with_a_token_file_provisions_the_device(connector, tmp_path):
    (tmp_path / "token").write_text("ab" * 20 + "\n")

    printed = json.loads(enable(connector.pk, "dev-7", "--auth", "token", "--cred", str(tmp_path / "token")))

    assert printed == {"identity": "dev-7", "status": "provisioned"}


@pytest.mark.parametrize(
    "content, message",
    [
        (tampered_csr("00000002"), "auth: key is a CSR whose signature does not verify with its key"),
        (
            make_csr("00000003")[0],
            "auth: key is a CSR for the CN '00000003', not for the identity '00000002'",
        ),
        ("garbage", "auth: key is not a PEM certificate signing request (CSR)"),
    ],
    ids=["bad-signature", "another-identity", "garbage"],
)
def test_enable_refuses_a_bad_csr_and_whitelists_nothing(pki_connector, tmp_path, content, message):
    (tmp_path / "req.pem").write_text(content)

    with pytest.raises(CommandError) as refused:
        enable(pki_connector.pk, "00000002", "--auth", "csr", "--cred", str(tmp_path / "req.pem"))

    assert str(refused.value) == message
    assert not Device.objects.filter(connector=pki_connector).exists()


def test_enable_with_a_csr_needs_the_connector_to_sign_csrs(cert_connector, tmp_path):
    (tmp_path / "req.pem").write_text(make_csr("00000002")[0])

    with pytest.raises(CommandError, match="CSR signing is not enabled on this connector"):
        enable(cert_connector.pk, "00000002", "--auth", "csr", "--cred", str(tmp_path / "req.pem"))


def test_enable_names_a_missing_file_and_a_missing_connector(cert_connector, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        enable(cert_connector.pk, "x", "--auth", "csr", "--cred", str(tmp_path / "nope.pem"))
    with pytest.raises(CommandError, match="needs --cred"):
        enable(cert_connector.pk, "x", "--auth", "csr")
    with pytest.raises(CommandError, match="No connector"):
        enable("nosuchconnector00", "x")
