"""The connector list and the Settings, Content and Logs tabs, as a product manager uses them."""

import pytest

from connectors.models import Connector
from tests.factories import make_connector, make_member
from tests.pki.certs import make_ca
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db

BASE_SETTINGS = {
    "name": "Thermostat",
    "identity_type": "opaque",
    "identity_casing": "mixed",
    "auth_type": "token",
    "activation_window_hours": "48",
    "provisioning_enabled": "on",
    "presenter_identity": "on",
    "transports": ["http", "mqtt"],
}


def test_the_list_shows_the_business_connectors_with_their_device_host(web, owner, connector, outsider):
    theirs = make_connector(business=outsider.businesses.get(), name="Their secret product")
    html = page_text(web(owner).get("/connectors/"))
    assert connector.name in html and f"{connector.pk}.devices.localhost" in html
    assert theirs.name not in html


def test_creating_a_connector_opens_its_devices_tab(web, owner, business):
    client = web(owner)
    response = client.post("/connectors/", {"name": "Smart plug", "description": "EU model"})
    connector = Connector.objects.get(name="Smart plug")
    assert connector.business == business and connector.description == "EU model"
    assert response.status_code == 302 and response["Location"] == f"/connectors/{connector.pk}/devices/"
    page = client.get(response["Location"])
    assert "Connector “Smart plug” created." in page_text(page)


def test_a_connector_needs_a_name_and_keeps_what_was_typed(web, owner):
    response = web(owner).post("/connectors/", {"name": "", "description": "keep me"})
    assert response.status_code == 400
    html = page_text(response)
    assert 'id="id_name_error"' in html and "This field is required." in html
    assert "keep me" in html
    assert not Connector.objects.exists()


def test_members_of_several_businesses_choose_where_the_connector_goes(web, owner, business):
    other = make_member(business_name="Initech", role="developer", email=owner.email).business
    owner.refresh_from_db()  # the factory set the password again
    client = web(owner)
    html = page_text(client.get("/connectors/"))
    assert "Choose a business" in html and "Initech" in html
    missing = client.post("/connectors/", {"name": "Where?"})
    assert missing.status_code == 400 and "This field is required." in page_text(missing)
    assert client.post("/connectors/", {"name": "Here", "business": str(other.pk)}).status_code == 302
    assert Connector.objects.get(name="Here").business == other


def test_settings_show_the_current_values(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/settings/"))
    assert 'value="Thermostat"' in html
    assert 'id="id_devmode" checked' in html  # the fixture's connector is in developer mode
    # Its one developer-mode warning is the header's, on every tab; Settings does not repeat it.
    assert html.count("Developer mode is on") == 1 and "Security:" not in html
    for legend in [
        "Protocol",
        "Identity format",
        "Authentication",
        "Provisioning",
        "Public key infrastructure",
    ]:
        assert f"<legend>{legend}</legend>" in html


def test_settings_are_saved_through_the_service(web, owner, connector):
    body = {**BASE_SETTINGS, "identity_prefix": "th-", "identity_type": "base16", "identity_length": "8",
            "identity_casing": "lower", "auth_type": "password", "activation_window_hours": "12",
            "ip_whitelisting_enabled": "on", "ip_whitelist": "10.0.0.0/8\n192.0.2.7",
            "hostnames": "things.example.com"}  # fmt: skip
    client = web(owner)
    response = client.post(f"/connectors/{connector.pk}/settings/", body)
    assert response.status_code == 302
    connector.refresh_from_db()
    assert not connector.devmode  # unchecked box
    assert (connector.identity_prefix, connector.identity_type, connector.identity_length) == (
        "th-",
        "base16",
        8,
    )
    assert connector.auth_type == "password" and connector.activation_window_hours == 12
    assert connector.ip_whitelisting_enabled and connector.ip_whitelist == ["10.0.0.0/8", "192.0.2.7/32"]
    assert list(connector.hostname_set.values_list("hostname", flat=True)) == ["things.example.com"]
    assert "Settings saved." in page_text(client.get(response["Location"]))


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (
            {"ip_whitelist": "10.0.0.0/8\nnot-an-ip"},
            "ip_whitelist",
            "&#x27;not-an-ip&#x27; is not an IP address",
        ),
        ({"identity_prefix": "bad prefix!"}, "identity_prefix", "contains characters that are not allowed"),
        ({"activation_window_hours": "0"}, "activation_window_hours", "greater than or equal to 1"),
        ({"identity_type": "nonsense"}, "identity_type", "Select a valid choice"),
        ({"hostnames": "bad_host!"}, "hostnames", "is not a valid host name"),
        ({"pki_ca_certificate": "garbage"}, "pki_ca_certificate", "is not a PEM certificate"),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_bad_settings_are_explained_next_to_their_field(web, owner, connector, changes, field, message):
    body = {**BASE_SETTINGS, "devmode": "on", **changes}
    response = web(owner).post(f"/connectors/{connector.pk}/settings/", body)
    assert response.status_code == 400
    html = page_text(response)
    error_start = html.index(f'id="id_{field}_error"')
    assert message in html[error_start : error_start + 400]
    assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in html or (
        f'aria-describedby="id_{field}_error"' in html
    )
    # What was typed is still there, and nothing was saved.
    typed = next(iter(changes.values())).split("\n")[-1]
    assert typed.replace("!", "") in html
    connector.refresh_from_db()
    assert connector.devmode and connector.identity_prefix == "" and connector.ip_whitelist == []


def test_a_ca_certificate_is_checked_and_the_private_key_is_never_shown(web, owner, connector):
    client = web(owner)
    not_ca = client.post(
        f"/connectors/{connector.pk}/settings/",
        {**BASE_SETTINGS, "pki_enabled": "on", "pki_ca_certificate": make_ca("Test CA", is_ca=False).pem},
    )
    assert not_ca.status_code == 400 and "is not a CA certificate" in page_text(not_ca)

    ca = make_ca("Test CA")
    certificate, key_pem = ca.pem, ca.key_pem
    secret = key_pem.splitlines()[1]  # a line of the key material
    saved = client.post(
        f"/connectors/{connector.pk}/settings/",
        {
            **BASE_SETTINGS,
            "pki_enabled": "on",
            "pki_ca_certificate": certificate,
            "pki_ca_private_key": key_pem,
        },
    )
    assert saved.status_code == 302
    connector.refresh_from_db()
    assert connector.pki_enabled and connector.pki_ca_certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert connector.pki_ca_private_key_encrypted and secret not in connector.pki_ca_private_key_encrypted
    html = page_text(client.get(f"/connectors/{connector.pk}/settings/"))
    assert secret not in html and "A CA private key is stored." in html

    # Saving other settings keeps the key; the box removes it.
    url, pem = f"/connectors/{connector.pk}/settings/", connector.pki_ca_certificate
    client.post(url, {**BASE_SETTINGS, "pki_enabled": "on", "pki_ca_certificate": pem})
    connector.refresh_from_db()
    assert connector.pki_ca_private_key_encrypted
    client.post(url, {**BASE_SETTINGS, "pki_ca_private_key_clear": "on", "pki_ca_certificate": pem})
    connector.refresh_from_db()
    assert connector.pki_ca_private_key_encrypted == ""


def test_unchanged_settings_are_not_sent_again(web, owner, connector):
    """An old value that a newer rule would refuse does not block saving other settings."""
    from connectors.models import Connector as Model

    Model.objects.filter(pk=connector.pk).update(ip_whitelist=["legacy entry"])
    response = web(owner).post(
        f"/connectors/{connector.pk}/settings/",
        {**BASE_SETTINGS, "name": "Renamed", "devmode": "on", "ip_whitelist": "legacy entry"},
    )
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.name == "Renamed" and connector.ip_whitelist == ["legacy entry"]


def test_the_header_offers_the_app_link_and_every_tab(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/logs/"))
    assert (
        # A working URL: the scheme and port the platform was reached on (the test client's).
        f'<code id="app-link" aria-labelledby="app-link-label">http://{connector.pk}.devices.localhost</code>'
        in html
    )
    assert 'data-copy="#app-link"' in html
    for tab in ["Devices", "Resources", "Content", "Logs", "Settings"]:
        assert f">{tab}</a>" in html
    assert f'href="/connectors/{connector.pk}/logs/" aria-current="page"' in html


def test_the_logs_tab_streams_from_the_connector_websocket(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/logs/?identity=dev-7"))
    assert f'data-ws-path="/ws/connectors/{connector.pk}/logs/"' in html
    assert 'value="dev-7"' in html  # the identity filter starts filled in
    assert '<option value="provision_denied">provision_denied</option>' in html
    assert "js/logs.js" in html


def test_the_content_tab_has_its_place_among_the_tabs(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/content/"))
    assert ">Content</h2>" in html
    assert f'href="/connectors/{connector.pk}/content/" aria-current="page"' in html


def test_a_connector_opens_on_its_devices_tab(web, owner, connector):
    response = web(owner).get(f"/connectors/{connector.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/connectors/{connector.pk}/devices/"
