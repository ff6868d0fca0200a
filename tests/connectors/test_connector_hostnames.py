"""Connectors' extra host names: nobody may claim the platform's own names or another tenant's,
and one name has one spelling (management API, web Settings tab, device routing)."""

import pytest
from django.test import override_settings

from connectors.models import ConnectorHostname
from devices.models import Device
from tests.factories import make_connector
from tests.web.conftest import page_text

NOT_AVAILABLE = "is not available"


def detail(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


def claim(client, connector, *names):
    return client.patch(detail(connector), {"hostnames": list(names)}, format="json")


@pytest.mark.parametrize(
    "name",
    [
        "127.0.0.1", "127.0.0.1:8000", "10.0.0.7", "[::1]", "[::1]:8000", "::1", "2001:db8::1",
        "[2001:db8::1]:443", "::ffff:127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "１２７.０.０.１",
        "localhost", "LocalHost.", "localhost:8000", "anything.localhost", "ｌｏｃａｌｈｏｓｔ",
        "devices.localhost", "Devices.Localhost.", "my-gateway.devices.localhost",
    ],
)  # fmt: skip
def test_ip_addresses_localhost_and_the_device_domain_are_not_available(api, owner, connector, name):
    response = claim(api(owner), connector, name)

    assert response.status_code == 400
    assert response.json() == {"hostnames": [f"{name!r} {NOT_AVAILABLE}"]}
    assert not ConnectorHostname.objects.exists()


def test_another_connectors_canonical_name_is_not_available(api, owner, outsider, connector):
    theirs = make_connector(business=outsider.businesses.get(), name="Theirs")

    response = claim(api(owner), connector, theirs.device_host.upper())

    assert response.status_code == 400
    assert response.json() == {"hostnames": [f"{theirs.device_host.upper()!r} {NOT_AVAILABLE}"]}


@override_settings(
    ALLOWED_HOSTS=["iot.example.com", ".web.example.net", "*", "10.1.1.1"],
    MURANO_URL="https://console.example.org:8443/",
    DEVICE_API_DOMAIN="things.example.io",
)
@pytest.mark.parametrize(
    "name",
    [
        "iot.example.com", "a.iot.example.com", "web.example.net", "x.y.web.example.net",
        "console.example.org", "eu.console.example.org", "things.example.io", "abc.things.example.io",
    ],
)  # fmt: skip
def test_the_platforms_web_and_device_domains_and_their_sub_domains_are_not_available(
    api, owner, connector, name
):
    response = claim(api(owner), connector, name)

    assert response.status_code == 400
    assert response.json() == {"hostnames": [f"{name!r} {NOT_AVAILABLE}"]}


@override_settings(ALLOWED_HOSTS=["iot.example.com", "*"], DEVICE_API_DOMAIN="things.example.io")
def test_names_next_to_the_platforms_are_available(api, owner, connector):
    response = claim(
        api(owner), connector, "example.com", "xiot.example.com", "example.io", "devices.localhost.com"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["hostnames"] == [
        "devices.localhost.com",
        "example.com",
        "example.io",
        "xiot.example.com",
    ]


def test_a_name_of_another_tenant_gets_the_same_answer_as_a_reserved_one(api, owner, outsider, connector):
    theirs = make_connector(business=outsider.businesses.get(), name="Theirs")
    assert claim(api(outsider), theirs, "gw.globex.example").status_code == 200

    taken = claim(api(owner), connector, "gw.globex.example")
    reserved = claim(api(owner), connector, "localhost")

    assert taken.status_code == reserved.status_code == 400
    assert taken.json()["hostnames"][0].replace("gw.globex.example", "X") == (
        reserved.json()["hostnames"][0].replace("localhost", "X")
    )
    assert "connector" not in taken.json()["hostnames"][0]
    assert api(owner).get(detail(connector)).json()["hostnames"] == []


@pytest.mark.parametrize(
    "first, second",
    [
        ("Bücher.Example", "xn--bcher-kva.example."),
        ("xn--bcher-kva.example", "BÜCHER.example"),
        ("gw.example.com.", "GW.EXAMPLE.COM"),
        ("ｇｗ．example.com", "gw.example.com"),
    ],
)
def test_two_spellings_of_one_name_cannot_both_be_claimed(api, owner, outsider, connector, first, second):
    theirs = make_connector(business=outsider.businesses.get(), name="Theirs")

    mine = claim(api(owner), connector, first)
    other = claim(api(outsider), theirs, second)

    assert mine.status_code == 200
    assert other.status_code == 400
    assert other.json() == {"hostnames": [f"{second!r} {NOT_AVAILABLE}"]}
    assert ConnectorHostname.objects.get().connector_id == connector.pk


def test_internationalised_names_are_stored_and_shown_in_their_ascii_form(api, owner, connector):
    response = claim(api(owner), connector, "Bücher.Example", "xn--bcher-kva.example")

    assert response.status_code == 200
    assert response.json()["hostnames"] == ["xn--bcher-kva.example"]


@pytest.mark.parametrize(
    "name, message",
    [
        ("gw.example.com:8080", "is not a valid host name (give it without a port)"),
        ("bad_host!", "is not a valid host name"),
        ("a..b", "is not a valid host name"),
        ("[gw.example.com]", "is not a valid host name"),
        ("x" * 64 + ".example.com", "is not a valid host name"),
    ],
)
def test_malformed_names_are_refused_as_such(api, owner, connector, name, message):
    response = claim(api(owner), connector, name)

    assert response.status_code == 400
    assert response.json() == {"hostnames": [f"{name!r} {message}"]}


def test_a_connector_keeps_its_own_names_when_it_sends_them_again(api, owner, connector):
    client = api(owner)
    assert claim(client, connector, "gw.example.com").status_code == 200

    response = claim(client, connector, "GW.example.com.", "gw2.example.com")

    assert response.status_code == 200
    assert response.json()["hostnames"] == ["gw.example.com", "gw2.example.com"]


# --- the web Settings tab (the same service) ---------------------------------------------------

SETTINGS = {
    "name": "Thermostat", "identity_type": "opaque", "identity_casing": "mixed", "auth_type": "token",
    "activation_window_hours": "48", "provisioning_enabled": "on", "presenter_identity": "on",
    "devmode": "on", "transports": ["http", "mqtt"],
}  # fmt: skip


def test_the_settings_tab_refuses_a_reserved_name_next_to_the_field(web, owner, connector):
    response = web(owner).post(
        f"/connectors/{connector.pk}/settings/", {**SETTINGS, "hostnames": "127.0.0.1"}
    )

    assert response.status_code == 400
    html = page_text(response)
    error = html[html.index('id="id_hostnames_error"') :][:300]
    assert "is not available" in error
    assert not ConnectorHostname.objects.exists()


def test_the_settings_tab_says_not_available_for_another_tenants_name(web, owner, outsider, connector):
    theirs = make_connector(
        business=outsider.businesses.get(), name="Theirs", hostnames=["gw.globex.example"]
    )

    response = web(owner).post(
        f"/connectors/{connector.pk}/settings/", {**SETTINGS, "hostnames": "GW.globex.example."}
    )

    assert response.status_code == 400
    html = page_text(response)
    error = html[html.index('id="id_hostnames_error"') :][:300]
    assert "is not available" in error and "another connector" not in html
    assert list(theirs.hostname_set.values_list("hostname", flat=True)) == ["gw.globex.example"]


# --- routing -------------------------------------------------------------------------------------


def activate(device_client, host: str, identity: str):
    return device_client.post("/provision/activate", content=f"id={identity}", headers={"Host": host})


def test_a_claimed_loopback_address_cannot_divert_the_default_connectors_devices(
    api, owner, outsider, connector, device_client
):
    """With DEVICE_DEFAULT_CONNECTOR set, requests to an address reach the default connector; a
    tenant claiming that address must not receive them."""
    attacker = make_connector(business=outsider.businesses.get(), name="Attacker", devmode=True)
    refused = claim(api(outsider), attacker, "127.0.0.1")

    with override_settings(DEVICE_DEFAULT_CONNECTOR=connector.pk):
        response = activate(device_client, "127.0.0.1:8000", "victim-1")

    assert refused.status_code == 400
    assert response.status_code == 200
    assert Device.objects.get(identity="victim-1").connector_id == connector.pk


def test_a_reserved_name_claimed_before_the_rule_does_not_route(outsider, connector, device_client):
    """A row written before reserved names were refused is ignored by the device API."""
    attacker = make_connector(business=outsider.businesses.get(), name="Attacker", devmode=True)
    ConnectorHostname.objects.create(connector=attacker, hostname="127.0.0.1")

    with override_settings(DEVICE_DEFAULT_CONNECTOR=connector.pk):
        response = activate(device_client, "127.0.0.1", "victim-2")

    assert response.status_code == 200
    assert Device.objects.get(identity="victim-2").connector_id == connector.pk


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_a_fully_qualified_host_with_its_trailing_dot_routes_to_the_connector(
    api, owner, connector, device_client
):
    assert claim(api(owner), connector, "Thermo.Example.com").status_code == 200

    response = activate(device_client, "thermo.example.com.:80", "dot-1")

    assert response.status_code == 200
    assert Device.objects.get(identity="dot-1").connector_id == connector.pk


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_an_internationalised_name_routes_under_its_ascii_form(api, owner, connector, device_client):
    assert claim(api(owner), connector, "Bücher.example").status_code == 200

    response = activate(device_client, "XN--BCHER-KVA.example", "idn-1")

    assert response.status_code == 200
    assert Device.objects.get(identity="idn-1").connector_id == connector.pk


# --- the back office ------------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.create_superuser(email="staff@example.com", password="staff-password-1"))
    return client


def test_the_admin_stores_names_in_their_one_spelling_and_refuses_reserved_ones(staff, connector):
    url = "/admin/connectors/connectorhostname/add/"

    reserved = staff.post(url, {"hostname": "127.0.0.1", "connector": connector.pk})
    saved = staff.post(url, {"hostname": "Bücher.Example.", "connector": connector.pk})
    again = staff.post(url, {"hostname": "xn--bcher-kva.example", "connector": connector.pk})

    assert reserved.status_code == 200 and "is not available" in reserved.content.decode()
    assert saved.status_code == 302
    assert again.status_code == 200
    assert list(ConnectorHostname.objects.values_list("hostname", flat=True)) == ["xn--bcher-kva.example"]


def test_the_settings_tab_does_not_echo_a_huge_name_back_whole(web, owner, connector):
    response = web(owner).post(f"/connectors/{connector.pk}/settings/", {**SETTINGS, "hostnames": "x" * 5000})

    assert response.status_code == 400
    html = page_text(response)
    error = html[html.index('id="id_hostnames_error"') :]
    error = error[: error.index("</")]
    assert "is not a valid host name" in error and len(error) < 400
