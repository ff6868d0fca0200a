"""TLS client certificates in the web UI: the Settings tab's client CA (upload, generate,
verification), the device page's pinned certificate (pin, replace, clear) and the "+ New
device(s)" dialog's certificate, for each role."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from devices.models import Device
from devices.services import device_revoke
from tests.factories import make_device
from tests.pki import conftest as pki_fixtures
from tests.pki.certs import make_ca, make_leaf
from tests.pki.conftest import write
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

# The PKI tests' fixtures: a client CA, a certificate connector (``pki_connector``: with that CA,
# verifying and signing CSRs), and device clients behind a trusted proxy (``device_with``).
ca = pki_fixtures.ca
cert_connector = pki_fixtures.cert_connector
pki_connector = pki_fixtures.pki_connector
trusted_proxy = pki_fixtures.trusted_proxy
device_with = pki_fixtures.device_with

# The Settings form's required fields, as the page sends them back.
SETTINGS = {
    "name": "Secure sensor",
    "identity_type": "opaque",
    "identity_casing": "mixed",
    "auth_type": "certificate",
    "activation_window_hours": "48",
    "provisioning_enabled": "on",
    "presenter_identity": "on",
    "transports": ["http", "mqtt"],
}


def settings_url(connector) -> str:
    return f"/connectors/{connector.pk}/settings/"


def generate_url(connector) -> str:
    return f"/connectors/{connector.pk}/settings/generate-ca/"


def device_url(connector, identity: str, action: str = "") -> str:
    return f"/connectors/{connector.pk}/devices/{identity}/{action}"


def pem_file(text: str, name: str = "certificate.pem") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="application/x-pem-file")


def error_of(html: str, field: str) -> str:
    """The error list the page shows next to ``field`` (empty when there is none)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def a_line_of(pem: str) -> str:
    """A line that tells this PEM (or text) apart: its first line of base64."""
    lines = pem.strip().splitlines()
    return lines[1] if len(lines) > 1 else lines[0]


def fingerprint_shown(html: str) -> str | None:
    match = re.search(r'<dd class="mono fingerprint">([0-9a-f]{64})</dd>', html)
    return match.group(1) if match else None


# --- Settings: what the page shows ----------------------------------------------------------------


def test_settings_say_when_no_client_ca_is_configured(web, owner, cert_connector):
    html = page_text(web(owner).get(settings_url(cert_connector)))
    assert "No client CA is configured." in html
    assert '<button type="submit" class="button" form="generate-ca-form">Generate a CA</button>' in html
    assert f'action="{generate_url(cert_connector)}" id="generate-ca-form">' in html
    assert 'enctype="multipart/form-data"' in html
    for field, label in [
        ("pki_ca_certificate_file", "…or upload the CA certificate file"),
        ("pki_ca_private_key_file", "…or upload the CA private key file"),
    ]:
        assert f'<label for="id_{field}">{label}</label>' in html
        assert f'type="file" name="{field}"' in html


def test_settings_show_the_client_ca_and_never_its_private_key(web, owner, pki_connector, ca):
    html = page_text(web(owner).get(settings_url(pki_connector)))
    assert "A client CA is configured and device certificates are verified against it." in html
    assert "It signs CSRs submitted at whitelisting." in html
    assert "A CA private key is stored." in html
    summary = html[html.index('aria-label="Client CA certificate"') :]
    assert '<dt>Subject</dt><dd class="mono">CN=Test device CA</dd>' in summary
    assert '<dt>Issuer</dt><dd class="mono">CN=Test device CA</dd>' in summary
    assert ca.certificate.not_valid_before_utc.strftime("%Y-%m-%d %H:%M") in summary
    assert ca.certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M") in summary
    assert fingerprint_shown(summary) == ca.fingerprint
    assert "Replace with a generated CA…" in html and 'id="generate-ca-form"' not in html
    for line in ca.key_pem.splitlines()[1:-1]:
        assert line not in html


# --- Settings: uploading a CA -------------------------------------------------------------------


def test_a_ca_certificate_file_is_uploaded_and_shown(web, owner, cert_connector):
    uploaded = make_ca("Acme devices CA")
    client = web(owner)
    response = client.post(
        settings_url(cert_connector),
        {**SETTINGS, "pki_enabled": "on", "pki_ca_certificate_file": pem_file(uploaded.pem)},
    )
    assert response.status_code == 302
    cert_connector.refresh_from_db()
    assert cert_connector.pki_enabled and cert_connector.pki_ca_certificate == uploaded.pem
    html = page_text(client.get(response["Location"]))
    assert "Settings saved." in html and "CN=Acme devices CA" in html
    assert fingerprint_shown(html) == uploaded.fingerprint


def test_a_ca_and_its_key_uploaded_as_files_sign_csrs(web, owner, cert_connector):
    uploaded = make_ca()
    response = web(owner).post(
        settings_url(cert_connector),
        {
            **SETTINGS,
            "pki_enabled": "on",
            "pki_sign_csr": "on",
            "pki_ca_certificate_file": pem_file(uploaded.pem),
            "pki_ca_private_key_file": pem_file(uploaded.key_pem, "ca.key"),
        },
    )
    assert response.status_code == 302
    cert_connector.refresh_from_db()
    assert cert_connector.pki_sign_csr and cert_connector.pki_ca_private_key_encrypted


@pytest.mark.parametrize(
    "pem, message",
    [
        (lambda: "garbage", "is not a PEM certificate"),
        (lambda: make_leaf("sensor-1").pem, "is not a CA certificate"),
        (lambda: make_ca(key_cert_sign=False).pem, "may not sign certificates"),
        (lambda: make_ca().key_pem, "holds a private key; give the certificate only"),
    ],
    ids=["garbage", "leaf", "ca-without-cert-sign", "private-key"],
)
def test_a_bad_ca_certificate_is_explained_next_to_the_field(web, owner, cert_connector, pem, message):
    typed = pem()
    response = web(owner).post(settings_url(cert_connector), {**SETTINGS, "pki_ca_certificate": typed})
    assert response.status_code == 400
    html = page_text(response)
    assert message in error_of(html, "pki_ca_certificate")
    assert 'aria-describedby="id_pki_ca_certificate_helptext id_pki_ca_certificate_error"' in html
    if "PRIVATE KEY" not in typed:
        assert a_line_of(typed) in html  # what was typed is still in the box
    cert_connector.refresh_from_db()
    assert cert_connector.pki_ca_certificate == ""


def test_a_bad_ca_file_is_explained_next_to_the_file_input(web, owner, pki_connector, ca):
    client = web(owner)
    for content, message in [
        (make_leaf("sensor-1").pem, "is not a CA certificate"),
        ("\x00\xff\x30\x82", "is not a PEM certificate"),
        ("A" * 70_000, "is larger than 64 KB"),
    ]:
        response = client.post(
            settings_url(pki_connector),
            {**SETTINGS, "pki_enabled": "on", "pki_sign_csr": "on", "pki_ca_certificate": ca.pem,
             "pki_ca_certificate_file": pem_file(content)},
        )  # fmt: skip
        assert response.status_code == 400
        html = page_text(response)
        assert message in error_of(html, "pki_ca_certificate_file")
        described = "id_pki_ca_certificate_file_helptext id_pki_ca_certificate_file_error"
        assert f'aria-describedby="{described}"' in html
        assert error_of(html, "pki_ca_certificate") == ""  # the box still holds the current, good CA
    pki_connector.refresh_from_db()
    assert pki_connector.pki_ca_certificate == ca.pem


def test_a_private_key_typed_is_never_shown_back(web, owner, cert_connector):
    uploaded, other = make_ca(), make_ca()
    secret_lines = other.key_pem.splitlines()[1:-1]
    client = web(owner)
    mismatch = client.post(
        settings_url(cert_connector),
        {**SETTINGS, "pki_ca_certificate": uploaded.pem, "pki_ca_private_key": other.key_pem},
    )
    assert mismatch.status_code == 400
    html = page_text(mismatch)
    assert "does not belong to the CA certificate" in error_of(html, "pki_ca_private_key")
    assert "The private key you gave was not saved and is not shown again: give it again." in html
    assert not any(line in html for line in secret_lines)
    assert a_line_of(uploaded.pem) in html  # the certificate typed is kept

    # A mistake elsewhere on the page: the key is not shown back either.
    elsewhere = client.post(
        settings_url(cert_connector),
        {**SETTINGS, "ip_whitelist": "not-an-ip", "pki_ca_private_key": other.key_pem},
    )
    assert elsewhere.status_code == 400
    assert not any(line in page_text(elsewhere) for line in secret_lines)
    cert_connector.refresh_from_db()
    assert cert_connector.pki_ca_private_key_encrypted == ""


# --- Settings: verification on and off ---------------------------------------------------------


def test_verification_is_turned_on_and_off(web, owner, cert_connector, ca):
    client = web(owner)
    without_ca = client.post(settings_url(cert_connector), {**SETTINGS, "pki_enabled": "on"})
    assert without_ca.status_code == 400
    assert "is required to enable PKI (upload or generate one)" in page_text(without_ca)
    cert_connector.refresh_from_db()
    assert not cert_connector.pki_enabled

    on = client.post(
        settings_url(cert_connector), {**SETTINGS, "pki_enabled": "on", "pki_ca_certificate": ca.pem}
    )
    assert on.status_code == 302
    cert_connector.refresh_from_db()
    assert cert_connector.pki_enabled
    html = page_text(client.get(settings_url(cert_connector)))
    assert 'aria-describedby="id_pki_enabled_helptext" id="id_pki_enabled" checked' in html

    off = client.post(settings_url(cert_connector), {**SETTINGS, "pki_ca_certificate": ca.pem})
    assert off.status_code == 302
    cert_connector.refresh_from_db()
    assert not cert_connector.pki_enabled and cert_connector.pki_ca_certificate == ca.pem
    assert "verification is <strong>off</strong>" in page_text(client.get(settings_url(cert_connector)))


# --- Settings: generating a CA -----------------------------------------------------------------


def test_generating_a_ca_for_a_connector_without_one(web, developer, cert_connector):
    client = web(developer)
    response = client.post(generate_url(cert_connector))
    assert response.status_code == 302 and response["Location"] == settings_url(cert_connector)
    cert_connector.refresh_from_db()
    assert cert_connector.pki_ca_certificate and cert_connector.pki_ca_private_key_encrypted
    assert not cert_connector.pki_enabled  # turning verification on stays a separate choice
    html = page_text(client.get(response["Location"]))
    assert (
        "A new CA was generated; its private key is stored encrypted. Turn on verification to use it." in html
    )
    assert f"CN=Secure sensor device CA ({cert_connector.pk})" in html
    assert "A CA private key is stored." in html


def test_replacing_a_ca_with_a_generated_one_is_confirmed_first(web, owner, pki_connector, ca):
    client = web(owner)
    confirm = client.get(generate_url(pki_connector))
    assert confirm.status_code == 200
    html = page_text(confirm)
    assert "Replace the client CA of Secure sensor?" in html
    assert "device certificates signed by the current CA are refused" in html
    assert fingerprint_shown(html) == ca.fingerprint
    assert '<input type="hidden" name="replace" value="1">' in html

    # A post that does not confirm (a page that showed no CA, say) changes nothing.
    unconfirmed = client.post(generate_url(pki_connector))
    assert unconfirmed.status_code == 409
    assert "This connector has a CA now. Replacing it needs your confirmation." in page_text(unconfirmed)
    pki_connector.refresh_from_db()
    assert pki_connector.pki_ca_certificate == ca.pem

    replaced = client.post(generate_url(pki_connector), {"replace": "1"})
    assert replaced.status_code == 302
    pki_connector.refresh_from_db()
    assert pki_connector.pki_ca_certificate != ca.pem
    assert pki_connector.pki_enabled and pki_connector.pki_sign_csr  # left as they were
    settings_html = page_text(client.get(settings_url(pki_connector)))
    assert "A new CA was generated" in settings_html and "Turn on verification" not in settings_html
    assert fingerprint_shown(settings_html) not in (None, ca.fingerprint)


# --- Settings: who may do what -----------------------------------------------------------------


def test_viewers_see_the_ca_read_only_and_are_refused_if_they_post(web, viewer, pki_connector, ca):
    client = web(viewer)
    html = page_text(client.get(settings_url(pki_connector)))
    assert fingerprint_shown(html) == ca.fingerprint
    assert "Replace with a generated CA" not in html and "Generate a CA" not in html
    assert re.search(r'<input type="file" name="pki_ca_certificate_file"[^>]* disabled', html)
    assert re.search(r'<input type="checkbox" name="pki_enabled"[^>]* disabled', html)

    other = make_ca()
    assert client.get(generate_url(pki_connector)).status_code == 403
    assert client.post(generate_url(pki_connector), {"replace": "1"}).status_code == 403
    upload = client.post(
        settings_url(pki_connector), {**SETTINGS, "pki_ca_certificate_file": pem_file(other.pem)}
    )
    assert upload.status_code == 403
    pki_connector.refresh_from_db()
    assert pki_connector.pki_ca_certificate == ca.pem and pki_connector.pki_enabled


def test_outsiders_do_not_find_the_pki_pages(web, outsider, pki_connector, ca):
    client = web(outsider)
    for response in [
        client.get(settings_url(pki_connector)),
        client.get(generate_url(pki_connector)),
        client.post(generate_url(pki_connector), {"replace": "1"}),
        client.post(settings_url(pki_connector), {**SETTINGS, "pki_enabled": ""}),
    ]:
        assert response.status_code == 404
    pki_connector.refresh_from_db()
    assert pki_connector.pki_ca_certificate == ca.pem and pki_connector.pki_enabled


def test_generating_a_ca_needs_the_forms_csrf_token(web, owner, cert_connector):
    response = web(owner, enforce_csrf=True).post(generate_url(cert_connector))
    assert response.status_code == 403
    cert_connector.refresh_from_db()
    assert cert_connector.pki_ca_certificate == ""


# --- the device page ---------------------------------------------------------------------------


def test_the_device_page_shows_the_pinned_certificate(web, owner, cert_connector):
    certificate = make_leaf("sensor-1")
    make_device(connector=cert_connector, identity="sensor-1", auth_type="certificate", key=certificate.pem)
    html = page_text(web(owner).get(device_url(cert_connector, "sensor-1")))
    assert "<dt>Auth type</dt><dd>certificate</dd>" in html
    assert "Pinned from the start: the device provisions with this certificate only" in html
    summary = html[html.index('aria-label="Pinned certificate"') :]
    assert '<dt>Subject CN</dt><dd class="mono">sensor-1</dd>' in summary
    assert fingerprint_shown(summary) == certificate.fingerprint
    assert certificate.certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M") in summary
    assert "Replace the certificate" in html and "Clear the pinned certificate" in html
    assert '<label for="id_certificate_file">…or upload the certificate file</label>' in html


def test_a_device_without_a_certificate_can_have_one_pinned(web, owner, cert_connector, ca):
    make_device(connector=cert_connector, identity="sensor-1")
    client = web(owner)
    html = page_text(client.get(device_url(cert_connector, "sensor-1")))
    assert "No certificate is pinned." in html and "Pin this certificate" in html
    certificate = make_leaf("sensor-1")
    response = client.post(
        device_url(cert_connector, "sensor-1", "certificate/"), {"certificate": certificate.pem}
    )
    assert response.status_code == 302
    device = Device.objects.get(identity="sensor-1")
    assert (device.status, device.auth_type) == ("whitelisted", "certificate")
    assert device.certificate_fingerprint == certificate.fingerprint
    assert "Certificate of “sensor-1” pinned." in page_text(client.get(response["Location"]))


def test_replacing_a_provisioned_devices_certificate_by_file(web, owner, cert_connector, device_with):
    old, new = make_leaf("sensor-1"), make_leaf("sensor-1")
    assert write(device_with(cert_connector, old)).status_code == 204  # provisions, pins `old`
    client = web(owner)
    html = page_text(client.get(device_url(cert_connector, "sensor-1")))
    assert "Pinned: the device authenticates with this certificate and no other." in html
    assert "Clear the pinned certificate" not in html  # its credential: revoke it instead

    response = client.post(
        device_url(cert_connector, "sensor-1", "certificate/"), {"certificate_file": pem_file(new.pem)}
    )
    assert response.status_code == 302
    assert "Certificate of “sensor-1” replaced." in page_text(client.get(response["Location"]))
    assert write(device_with(cert_connector, old)).status_code == 401
    assert write(device_with(cert_connector, new)).status_code == 204
    assert Device.objects.get(identity="sensor-1").status == "provisioned"


@pytest.mark.parametrize(
    "pem, message",
    [
        (
            lambda: make_leaf("sensor-2").pem,
            "The certificate has the CN &#x27;sensor-2&#x27;, not the identity",
        ),
        (lambda: "garbage", "The certificate is not a PEM certificate"),
        (lambda: make_leaf("sensor-1").key_pem, "The certificate holds a private key"),
        (lambda: make_leaf("sensor-1", starts=-9, ends=-1).pem, "The certificate has expired"),
        (lambda: make_leaf("sensor-1").pem, "The certificate is not verified by the connector&#x27;s CA"),
    ],
    ids=["cn-mismatch", "garbage", "private-key", "expired", "other-ca"],
)
def test_a_bad_device_certificate_is_explained_next_to_the_field(web, owner, pki_connector, pem, message):
    pinned = make_leaf("sensor-1", issuer=make_ca())  # another CA's, pinned before PKI mattered
    Device.objects.create(connector=pki_connector, identity="sensor-1", auth_type="certificate",
                          certificate=pinned.pem, certificate_fingerprint=pinned.fingerprint)  # fmt: skip
    typed = pem()
    response = web(owner).post(device_url(pki_connector, "sensor-1", "certificate/"), {"certificate": typed})
    assert response.status_code == 400
    html = page_text(response)
    assert message in error_of(html, "certificate")
    assert 'aria-describedby="id_certificate_helptext id_certificate_error"' in html
    if "PRIVATE KEY" not in typed:
        assert a_line_of(typed) in html  # still in the box
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == pinned.fingerprint


def test_a_bad_device_certificate_file_is_explained_next_to_the_file_input(web, owner, cert_connector):
    make_device(connector=cert_connector, identity="sensor-1")
    response = web(owner).post(
        device_url(cert_connector, "sensor-1", "certificate/"),
        {"certificate_file": pem_file(make_leaf("sensor-9").pem)},
    )
    assert response.status_code == 400
    html = page_text(response)
    assert "The certificate has the CN &#x27;sensor-9&#x27;" in error_of(html, "certificate_file")
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == ""


def test_the_certificate_form_needs_a_certificate(web, owner, cert_connector):
    make_device(connector=cert_connector, identity="sensor-1")
    response = web(owner).post(device_url(cert_connector, "sensor-1", "certificate/"), {"certificate": "  "})
    assert response.status_code == 400
    assert "Paste the device&#x27;s certificate or choose its file." in error_of(
        page_text(response), "certificate"
    )


def test_clearing_a_whitelisted_devices_certificate(web, owner, cert_connector, device_with):
    pinned, other = make_leaf("sensor-1"), make_leaf("sensor-1")
    make_device(connector=cert_connector, identity="sensor-1", auth_type="certificate", key=pinned.pem)
    assert write(device_with(cert_connector, other)).status_code == 401  # only the pinned one
    client = web(owner)
    response = client.post(device_url(cert_connector, "sensor-1", "certificate/clear/"))
    assert response.status_code == 302
    assert "Pinned certificate of “sensor-1” cleared." in page_text(client.get(response["Location"]))
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == ""
    assert write(device_with(cert_connector, other)).status_code == 204  # any valid one now


def test_a_provisioned_certificate_cannot_be_cleared(web, owner, cert_connector, device_with):
    certificate = make_leaf("sensor-1")
    assert write(device_with(cert_connector, certificate)).status_code == 204
    response = web(owner).post(device_url(cert_connector, "sensor-1", "certificate/clear/"))
    assert response.status_code == 400
    assert "The device is provisioned with this certificate: revoke its credentials instead" in page_text(
        response
    )
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


def test_a_revoked_device_is_whitelisted_again_for_the_certificate_pinned(
    web, owner, cert_connector, device_with
):
    old, new = make_leaf("sensor-1"), make_leaf("sensor-1")
    assert write(device_with(cert_connector, old)).status_code == 204
    device_revoke(device=Device.objects.get(identity="sensor-1"))
    client = web(owner)
    html = page_text(client.get(device_url(cert_connector, "sensor-1")))
    assert "Revoked: this certificate is refused." in html
    assert "Clear the pinned certificate" not in html  # would let the revoked one back in
    assert client.post(device_url(cert_connector, "sensor-1", "certificate/clear/")).status_code == 400

    response = client.post(device_url(cert_connector, "sensor-1", "certificate/"), {"certificate": new.pem})
    assert response.status_code == 302
    device = Device.objects.get(identity="sensor-1")
    assert device.status == "whitelisted" and device.activation_deadline is not None
    assert write(device_with(cert_connector, make_leaf("sensor-1"))).status_code == 401  # not the pinned one
    assert write(device_with(cert_connector, new)).status_code == 204
    assert Device.objects.get(identity="sensor-1").status == "provisioned"


def test_a_token_device_is_revoked_before_a_certificate_is_pinned(web, owner, connector):
    make_device(connector=connector, identity="dev-1", key="0123456789abcdef0123456789abcdef01234567")
    client = web(owner)
    html = page_text(client.get(device_url(connector, "dev-1")))
    assert "<dt>Auth type</dt><dd>token</dd>" in html
    assert (
        "The device is provisioned with a token: revoke its credentials first, then pin a certificate here."
        in html
    )
    assert 'name="certificate"' not in html
    refused = client.post(
        device_url(connector, "dev-1", "certificate/"), {"certificate": make_leaf("dev-1").pem}
    )
    assert refused.status_code == 400
    assert "The device is provisioned with a token: revoke its credentials first" in error_of(
        page_text(refused), "certificate"
    )
    assert Device.objects.get(identity="dev-1").certificate_fingerprint == ""


def test_csr_signing_connectors_say_how_devices_get_a_certificate(web, owner, pki_connector, connector):
    make_device(connector=pki_connector, identity="sensor-1")
    html = page_text(web(owner).get(device_url(pki_connector, "sensor-1")))
    assert '<code>{"auth": {"type": "csr", "key": "&lt;CSR PEM&gt;"}}</code>' in html
    assert "issues its certificate with the connector's CA and pins it" in html
    make_device(connector=connector, identity="dev-1")  # a connector that signs nothing
    assert 'id="csr-signing"' not in page_text(web(owner).get(device_url(connector, "dev-1")))


def _pinned_sensor(connector):
    certificate = make_leaf("sensor-1")
    make_device(connector=connector, identity="sensor-1", auth_type="certificate", key=certificate.pem)
    return certificate


def _certificate_post_statuses(client, connector) -> tuple[int, int]:
    """What replacing and clearing the pinned certificate answer."""
    new = make_leaf("sensor-1").pem
    replaced = client.post(device_url(connector, "sensor-1", "certificate/"), {"certificate": new})
    cleared = client.post(device_url(connector, "sensor-1", "certificate/clear/"))
    return replaced.status_code, cleared.status_code


def test_viewers_see_the_certificate_but_cannot_change_it(web, viewer, cert_connector):
    certificate = _pinned_sensor(cert_connector)
    client = web(viewer)
    html = page_text(client.get(device_url(cert_connector, "sensor-1")))
    assert fingerprint_shown(html) == certificate.fingerprint
    assert "Replace the certificate" not in html and "Clear the pinned certificate" not in html
    assert _certificate_post_statuses(client, cert_connector) == (403, 403)
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


def test_outsiders_do_not_find_a_devices_certificate(web, outsider, cert_connector):
    certificate = _pinned_sensor(cert_connector)
    client = web(outsider)
    assert client.get(device_url(cert_connector, "sensor-1")).status_code == 404
    assert _certificate_post_statuses(client, cert_connector) == (404, 404)
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


def test_certificate_forms_need_their_csrf_token(web, owner, cert_connector):
    certificate = _pinned_sensor(cert_connector)
    client = web(owner, enforce_csrf=True)
    assert _certificate_post_statuses(client, cert_connector) == (403, 403)
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == certificate.fingerprint


# --- "+ New device(s)" → add one ---------------------------------------------------------------


def test_the_dialog_offers_a_certificate(web, owner, cert_connector):
    html = page_text(web(owner).get(f"/connectors/{cert_connector.pk}/devices/"))
    dialog = html[html.index('<dialog id="new-devices"') :]
    assert 'enctype="multipart/form-data"' in dialog
    assert '<label for="id_certificate">TLS client certificate (optional, PEM)</label>' in dialog
    assert '<label for="id_certificate_file">…or upload the certificate file</label>' in dialog


def test_whitelisting_with_a_certificate_pins_it_from_the_start(web, owner, cert_connector, device_with):
    certificate = make_leaf("sensor-1")
    response = web(owner).post(
        f"/connectors/{cert_connector.pk}/devices/",
        {"identity": "sensor-1", "certificate_file": pem_file(certificate.pem)},
    )
    assert response.status_code == 302 and response["Location"] == device_url(cert_connector, "sensor-1")
    device = Device.objects.get(identity="sensor-1")
    assert (device.status, device.auth_type) == ("whitelisted", "certificate")
    assert device.certificate_fingerprint == certificate.fingerprint
    assert write(device_with(cert_connector, make_leaf("sensor-1"))).status_code == 401
    assert write(device_with(cert_connector, certificate)).status_code == 204


def test_the_dialog_refuses_a_certificate_for_another_identity(web, owner, cert_connector):
    certificate = make_leaf("sensor-2")
    response = web(owner).post(
        f"/connectors/{cert_connector.pk}/devices/",
        {"identity": "sensor-1", "tags": "site=paris", "certificate": certificate.pem},
    )
    assert response.status_code == 400
    html = page_text(response)
    assert '<dialog id="new-devices" aria-labelledby="new-devices-title" open data-open-on-load>' in html
    assert (
        "The certificate has the CN &#x27;sensor-2&#x27;, not the identity &#x27;sensor-1&#x27;"
        in error_of(html, "certificate")
    )
    assert 'value="sensor-1"' in html and "site=paris" in html and a_line_of(certificate.pem) in html
    assert not Device.objects.filter(connector=cert_connector).exists()


def test_the_dialog_takes_a_token_or_a_certificate_not_both(web, owner, connector):
    response = web(owner).post(
        f"/connectors/{connector.pk}/devices/",
        {"identity": "dev-1", "key": "0123456789abcdef0123456789abcdef01234567",
         "certificate": make_leaf("dev-1").pem},
    )  # fmt: skip
    assert response.status_code == 400
    assert "Give a known token or a certificate, not both." in error_of(page_text(response), "certificate")
    assert not Device.objects.filter(identity="dev-1").exists()


def test_the_dialog_checks_certificates_against_the_connectors_ca(web, owner, pki_connector, ca):
    client = web(owner)
    stranger = client.post(
        f"/connectors/{pki_connector.pk}/devices/",
        {"identity": "sensor-1", "certificate": make_leaf("sensor-1").pem},
    )
    assert stranger.status_code == 400
    assert "The certificate is not verified by the connector&#x27;s CA" in error_of(
        page_text(stranger), "certificate"
    )
    signed = make_leaf("sensor-1", issuer=ca)
    response = client.post(
        f"/connectors/{pki_connector.pk}/devices/", {"identity": "sensor-1", "certificate": signed.pem}
    )
    assert response.status_code == 302
    assert Device.objects.get(identity="sensor-1").certificate_fingerprint == signed.fingerprint
