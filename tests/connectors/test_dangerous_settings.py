"""Settings that would hurt a fleet: IP whitelisting with no address (every new device refused)
is refused; a new identity format that existing devices do not fit is saved with a warning
counting them (management API, Device2, web Settings tab)."""

import pytest

from connectors.identity import IdentityCasing, IdentityFormat, IdentityType
from connectors.models import Connector
from connectors.services import connector_settings_change, connector_update
from devices.models import Device
from tests.factories import make_device, make_resource
from tests.web.conftest import page_text

SETTINGS = {
    "name": "Thermostat", "identity_type": "opaque", "identity_casing": "mixed", "auth_type": "token",
    "activation_window_hours": "48", "provisioning_enabled": "on", "presenter_identity": "on",
    "devmode": "on", "transports": ["http", "mqtt"],
}  # fmt: skip
EMPTY_WHITELIST = "must name at least one address or network while IP whitelisting is on"


def detail(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


def whitelisting(**fields) -> dict:
    return {"provisioning": {"ip_whitelisting": fields}}


# --- IP whitelisting with nothing on the list --------------------------------------------------


def test_turning_on_ip_whitelisting_with_an_empty_list_is_refused(api, owner, connector):
    response = api(owner).patch(detail(connector), whitelisting(enabled=True), format="json")

    assert response.status_code == 400
    errors = response.json()["provisioning"]["ip_whitelisting"]["allowed"]
    assert len(errors) == 1 and EMPTY_WHITELIST in errors[0]
    connector.refresh_from_db()
    assert not connector.ip_whitelisting_enabled


def test_emptying_the_list_while_whitelisting_is_on_is_refused(api, owner, connector):
    client = api(owner)
    on = client.patch(detail(connector), whitelisting(enabled=True, allowed=["10.0.0.0/8"]), format="json")
    assert on.status_code == 200

    response = client.patch(detail(connector), whitelisting(allowed=[]), format="json")

    assert response.status_code == 400
    assert EMPTY_WHITELIST in response.json()["provisioning"]["ip_whitelisting"]["allowed"][0]
    connector.refresh_from_db()
    assert connector.ip_whitelisting_enabled and connector.ip_whitelist == ["10.0.0.0/8"]


def test_a_connector_cannot_be_created_with_whitelisting_on_and_no_address(api, owner):
    response = api(owner).post(
        "/api/v1/connectors/", {"name": "Locked out", **whitelisting(enabled=True)}, format="json"
    )

    assert response.status_code == 400
    assert EMPTY_WHITELIST in response.json()["provisioning"]["ip_whitelisting"]["allowed"][0]
    assert not Connector.objects.filter(name="Locked out").exists()


def test_whitelisting_on_with_addresses_or_off_without_any_is_fine(api, owner, connector):
    client = api(owner)

    on = client.patch(detail(connector), whitelisting(enabled=True, allowed=["192.0.2.0/24"]), format="json")
    off = client.patch(detail(connector), whitelisting(enabled=False, allowed=[]), format="json")

    assert on.status_code == 200 and off.status_code == 200
    assert off.json()["provisioning"]["ip_whitelisting"] == {"enabled": False, "allowed": []}


def test_device2_refuses_whitelisting_with_an_empty_list_too(api, owner, connector):
    response = api(owner).patch(
        f"/api:1/service/{connector.pk}/device2", whitelisting(enabled=True), format="json"
    )

    assert response.status_code == 400
    assert EMPTY_WHITELIST in response.json()["provisioning"]["ip_whitelisting"]["allowed"][0]


def test_the_settings_tab_explains_an_empty_whitelist_next_to_the_list(web, owner, connector):
    response = web(owner).post(
        f"/connectors/{connector.pk}/settings/",
        {**SETTINGS, "ip_whitelisting_enabled": "on", "ip_whitelist": ""},
    )

    assert response.status_code == 400
    html = page_text(response)
    error = html[html.index('id="id_ip_whitelist_error"') :][:400]
    assert EMPTY_WHITELIST in error
    connector.refresh_from_db()
    assert not connector.ip_whitelisting_enabled


# --- a new identity format that existing devices do not fit ------------------------------------


@pytest.fixture
def fleet(connector):
    """Three whitelisted devices of which two are not base 16."""
    for identity in ("00aa", "sensor-1", "sensor-2"):
        make_device(connector=connector, identity=identity)
    return connector


def test_a_new_identity_format_is_saved_with_a_warning_counting_the_devices_that_do_not_fit(
    api, owner, fleet
):
    response = api(owner).patch(detail(fleet), {"identity_format": {"type": "base16"}}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["identity_format"]["type"] == "base16"
    [warning] = body["warnings"]
    assert warning["code"] == "identity_format_mismatch"
    assert warning["field"] == "identity_format"
    assert warning["count"] == 2
    assert "2 devices have identities that do not fit the new identity format" in warning["message"]
    assert Device.objects.filter(connector=fleet).count() == 3


def test_a_patch_without_consequences_has_no_warnings(api, owner, fleet):
    client = api(owner)

    renamed = client.patch(detail(fleet), {"name": "Renamed"}, format="json")
    fitting = client.patch(detail(fleet), {"identity_format": {"casing": "lower"}}, format="json")

    assert renamed.status_code == fitting.status_code == 200
    assert renamed.json()["warnings"] == [] and fitting.json()["warnings"] == []
    assert "warnings" not in client.get(detail(fleet)).json()


def test_the_settings_tab_shows_the_warning_after_saving(web, owner, fleet):
    client = web(owner)

    response = client.post(
        f"/connectors/{fleet.pk}/settings/", {**SETTINGS, "identity_type": "base10", "identity_length": "4"}
    )

    assert response.status_code == 302
    html = page_text(client.get(response["Location"]))
    assert "Settings saved." in html
    assert "3 devices have identities that do not fit the new identity format" in html
    assert "message-warning" in html


def test_provisioned_devices_keep_working_under_a_format_they_do_not_fit(
    api, owner, connector, device_client
):
    make_resource(connector=connector, alias="temp", format="number")
    token = device_client.post("/provision/activate", content="id=sensor-1").text

    change = api(owner).patch(detail(connector), {"identity_format": {"type": "uuid:v4"}}, format="json")
    write = device_client.post("/onep:v1/stack/alias", content="temp=20", headers={"X-Exosite-CIK": token})

    assert change.json()["warnings"][0]["count"] == 1
    assert write.status_code == 204


IDENTITIES = [
    "00aa", "00AA", "sensor-1", "Sensor-1", "1234", "12345678", "00:11:22:aa:bb:cc", "00-11-22-AA-BB-CC",
    "001122aabbcc", "123e4567-e89b-42d3-a456-426614174000", "123E4567-E89B-42D3-A456-426614174000",
    "th-00aa", "th-00AA", "th-1234", "+123", "-abc", "@dev", "x.y~z:@+-", "TH-1234",
]  # fmt: skip
FORMATS = [
    IdentityFormat(prefix=prefix, type=kind, length=length, casing=casing)
    for prefix in ("", "th-")
    for kind in IdentityType.values
    for casing in IdentityCasing.values
    for length in ((None,) if kind.startswith(("mac", "uuid")) else (None, 4))
]


def test_the_database_counts_the_same_unfit_devices_as_the_identity_check(connector):
    """The warning's count is the database's (one query, nothing read out); it must agree with
    the rule devices are checked by."""
    for identity in IDENTITIES:
        make_device(connector=connector, identity=identity)
    counts = []
    for fmt in FORMATS:
        # Back to a format every identity fits, so that each step is a change to ``fmt``.
        connector_update(
            connector=connector,
            changes={"identity_prefix": "", "identity_type": "opaque", "identity_length": None,
                     "identity_casing": "mixed"},
        )  # fmt: skip
        change = connector_settings_change(
            connector=connector,
            changes={"identity_prefix": fmt.prefix, "identity_type": fmt.type, "identity_length": fmt.length,
                     "identity_casing": fmt.casing},
        )  # fmt: skip
        counted = sum(w.count for w in change.warnings)
        expected = sum(1 for identity in IDENTITIES if fmt.check(identity))
        counts.append((fmt, counted, expected))
    assert [(fmt, counted) for fmt, counted, _ in counts] == [(fmt, expected) for fmt, _, expected in counts]
