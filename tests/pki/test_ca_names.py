"""Certificate subjects hold at most 64 bytes per CN (UTF-8): a connector's generated CA works
for any connector name, a CN given explicitly is checked, and a CSR for an identity too long
for a CN is refused clearly (never a 500)."""

import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.models import Connector
from devices.models import Device
from tests.factories import make_connector

CN_MAX_BYTES = 64


def generate_ca(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/pki/generate-ca/"


def subject_cn(pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    [attribute] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attribute.value


@pytest.mark.parametrize(
    "name",
    [
        "温度計" * 66,  # 198 characters, 594 bytes
        "é" * 200,
        "😀" * 50,
        "Ä" * 17 + "x",  # fits without the id's part of the CN, not with it
        "a" * 200,
        "Thermostat\nT1\tEU",
    ],
    ids=["cjk", "latin-1", "emoji", "just-too-long", "ascii", "control-characters"],
)
def test_generate_ca_works_for_any_connector_name(api, owner, business, name):
    connector = make_connector(business=business, name=name)

    response = api(owner).post(generate_ca(connector), {}, format="json")

    assert response.status_code == 201, response.content
    cn = subject_cn(response.json()["ca_certificate"])
    assert len(cn.encode()) <= CN_MAX_BYTES
    assert cn.endswith(f"device CA ({connector.pk})")
    head = cn.removesuffix(f" device CA ({connector.pk})").removesuffix("…")
    assert head and " ".join(name.split()).startswith(head)


def test_a_short_name_is_kept_whole(api, owner, business):
    connector = make_connector(business=business, name="Thermostat T1")

    response = api(owner).post(generate_ca(connector), {}, format="json")

    assert subject_cn(response.json()["ca_certificate"]) == f"Thermostat T1 device CA ({connector.pk})"


def test_the_settings_tab_generates_a_ca_for_a_long_multi_byte_name(web, owner, business):
    connector = make_connector(business=business, name="温度計センサー" * 20)

    response = web(owner).post(f"/connectors/{connector.pk}/settings/generate-ca/")

    assert response.status_code == 302
    stored = Connector.objects.get(pk=connector.pk)
    assert subject_cn(stored.pki_ca_certificate).endswith(f"({connector.pk})")
    assert stored.pki_ca_private_key_encrypted


def test_an_explicit_common_name_of_up_to_64_bytes_is_used_as_given(api, owner, connector):
    name = "温" * 21  # 63 bytes

    response = api(owner).post(generate_ca(connector), {"common_name": name}, format="json")

    assert response.status_code == 201
    assert subject_cn(response.json()["ca_certificate"]) == name


def test_an_explicit_common_name_longer_than_64_bytes_is_a_400(api, owner, connector):
    response = api(owner).post(generate_ca(connector), {"common_name": "温" * 22}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "common_name": ["takes 66 bytes in UTF-8; a certificate's CN holds at most 64"]
    }
    assert Connector.objects.get(pk=connector.pk).pki_ca_certificate == ""


def test_a_common_name_that_is_not_text_is_a_400(api, owner, connector):
    response = api(owner).post(
        generate_ca(connector), b'{"common_name": "CA \\ud800"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert "common_name" in response.json()
    assert Connector.objects.get(pk=connector.pk).pki_ca_certificate == ""


# --- CSR signing: the issued certificate's CN is the identity -------------------------------------


def csr_for(cn: str) -> str:
    """A CSR whose CN is longer than X.509 allows (as a device's own tooling might make one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_csr_for_an_identity_longer_than_a_cn_may_be_is_refused_clearly(api, owner, pki_connector):
    identity = "sensor-" + "0" * 93  # 100 characters: a valid identity, too long for a CN

    response = api(owner).post(
        f"/api/v1/connectors/{pki_connector.pk}/devices/",
        {"identity": identity, "auth": {"type": "csr", "key": csr_for(identity)}},
        format="json",
    )

    assert response.status_code == 400
    [message] = response.json()["auth"]
    assert "longer than the 64 bytes a certificate's CN may hold" in message
    assert not Device.objects.filter(identity=identity).exists()


def test_a_csr_for_an_identity_of_64_characters_is_signed(api, owner, pki_connector):
    identity = "s" * 64

    response = api(owner).post(
        f"/api/v1/connectors/{pki_connector.pk}/devices/",
        {"identity": identity, "auth": {"type": "csr", "key": csr_for(identity)}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert subject_cn(response.json()["certificate"]) == identity
