"""Device API: addressing, transport, ``/timestamp``, ``POST /provision/activate`` (every row
of the provisioning outcomes table) and the device statuses people see."""

import base64
import time
from datetime import datetime, timedelta

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone

from connectors.services import connector_update
from devices.events import events_recent
from devices.models import Device
from tests.conftest import device_host
from tests.devices.conftest import activate
from tests.factories import make_connector, make_device, make_resource

HOUR_US = 3600 * 1_000_000


def now_us() -> int:
    return time.time_ns() // 1000


def basic(identity: str, password: str) -> dict:
    raw = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def denial_reasons(events) -> list[str]:
    return [e["payload"]["reason"] for e in events("provision_denied")]


# --- addressing and transport ---------------------------------------------------------------


def test_timestamp_answers_unix_seconds_without_authentication(device_client):
    before = int(time.time())
    response = device_client.get("/timestamp")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.isdigit()
    assert before <= int(response.text) <= int(time.time())


def test_timestamp_needs_no_known_connector_host(device_client):
    response = device_client.get("/timestamp", headers={"Host": "somewhere.example"})
    assert response.status_code == 200
    assert response.text.isdigit()


def test_request_is_routed_by_the_connector_host_with_the_port_ignored(device_client, connector):
    response = device_client.post(
        "/provision/activate", content="id=abc", headers={"Host": f"{connector.pk}.devices.localhost:8443"}
    )
    assert response.status_code == 200
    assert Device.objects.filter(connector=connector, identity="abc").exists()


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_unknown_host_is_404(device_client):
    response = device_client.post(
        "/provision/activate", content="id=abc", headers={"Host": "nowhere.example"}
    )
    assert response.status_code == 404


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_unknown_connector_id_under_the_device_domain_is_404(device_client):
    response = device_client.post(
        "/provision/activate", content="id=abc", headers={"Host": "zzzzzzzzzzzzzzzzz.devices.localhost"}
    )
    assert response.status_code == 404


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
def test_extra_hostname_routes_to_its_connector(device_client, connector):
    connector_update(connector=connector, changes={"hostnames": ["thermo.example.com"]})
    response = device_client.post(
        "/provision/activate", content="id=abc", headers={"Host": "thermo.example.com"}
    )
    assert response.status_code == 200
    assert Device.objects.filter(connector=connector, identity="abc").exists()


def test_default_connector_answers_requests_no_host_matches(device_client, connector):
    with override_settings(DEVICE_DEFAULT_CONNECTOR=connector.pk):
        response = device_client.post(
            "/provision/activate", content="id=abc", headers={"Host": "127.0.0.1:8000"}
        )
    assert response.status_code == 200
    assert Device.objects.filter(connector=connector, identity="abc").exists()


def test_plain_http_is_refused_when_devmode_is_off(business, wsgi_client_from):
    connector = make_connector(business=business, name="Secure")
    make_device(connector=connector, identity="abc")
    client = wsgi_client_from(connector)
    response = activate(client, "abc")
    assert response.status_code == 403
    assert "HTTPS" in response.text
    assert Device.objects.get(connector=connector, identity="abc").lifecycle == "whitelisted"
    (denied,) = [e for e in events_recent(connector.pk) if e["type"] == "provision_denied"]
    assert denied["payload"]["reason"] == "insecure_transport"


def test_device_provisioned_over_https_is_provisioned_not_devmode(connector, wsgi_client_from, device_info):
    client = wsgi_client_from(connector, scheme="https")
    assert activate(client, "abc").status_code == 200
    info = device_info("abc")
    assert info["status"] == "provisioned"
    assert info["devmode"] is False


def test_device_that_uses_plain_http_is_flagged_devmode(connector, device_client, device_info):
    assert activate(device_client, "abc").status_code == 200
    info = device_info("abc")
    assert info["status"] == "devmode"
    assert info["devmode"] is True


def test_https_device_becomes_devmode_once_it_authenticates_over_plain_http(
    connector, wsgi_client_from, device_client, device_info
):
    token = activate(wsgi_client_from(connector, scheme="https"), "abc").text
    assert device_info("abc")["status"] == "provisioned"
    make_resource(connector=connector, alias="temp", format="integer")
    response = device_client.post("/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": token})
    assert response.status_code == 204
    assert device_info("abc")["status"] == "devmode"


@override_settings(TRUSTED_PROXIES=[])
def test_forwarded_proto_from_an_untrusted_peer_is_ignored(business, wsgi_client_from):
    connector = make_connector(business=business, name="Secure")
    client = wsgi_client_from(connector)
    response = client.post("/provision/activate", content="id=abc", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 403


def test_https_said_by_a_trusted_proxy_is_accepted_without_devmode(business, owner_api, wsgi_client_from):
    import ipaddress

    connector = make_connector(business=business, name="Secure")
    client = wsgi_client_from(connector, ip="10.0.0.2")
    with override_settings(TRUSTED_PROXIES=[ipaddress.ip_network("10.0.0.0/8")]):
        response = client.post(
            "/provision/activate",
            content="id=abc",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"},
        )
    assert response.status_code == 200
    info = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/abc/").json()
    assert info["status"] == "provisioned"
    assert info["last_ip"] == "198.51.100.20"


# --- activate: token and password -----------------------------------------------------------


def test_token_activation_returns_a_new_40_character_token(device_client, connector):
    response = activate(device_client, "abc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(response.text) == 40
    assert response.text != activate(device_client, "other").text


def test_activation_token_authenticates_the_device(device_client, connector):
    make_resource(connector=connector, alias="temp", format="integer")
    token = activate(device_client, "abc").text
    response = device_client.post("/onep:v1/stack/alias", content="temp=21", headers={"X-Exosite-CIK": token})
    assert response.status_code == 204


def test_token_is_stored_only_as_a_hash(device_client, connector):
    token = activate(device_client, "abc").text
    device = Device.objects.get(connector=connector, identity="abc")
    assert device.token_hash and token not in device.token_hash and token.lower() not in device.token_hash


@pytest.fixture
def password_connector(connector):
    return connector_update(connector=connector, changes={"auth_type": "password"})


def test_password_activation_answers_204_and_the_password_authenticates(device_client, password_connector):
    make_resource(connector=password_connector, alias="temp", format="integer")
    password = "p" * 20
    response = activate(device_client, "abc", password)
    assert response.status_code == 204
    assert response.content == b""
    write = device_client.post("/onep:v1/stack/alias", content="temp=5", headers=basic("abc", password))
    assert write.status_code == 204


def test_password_is_stored_only_as_a_hash(device_client, password_connector):
    password = "secret-password-of-20+bytes"
    assert activate(device_client, "abc", password).status_code == 204
    device = Device.objects.get(connector=password_connector, identity="abc")
    assert device.password_hash and password not in device.password_hash
    assert device.token_hash is None


def test_wrong_password_is_401(device_client, password_connector):
    make_resource(connector=password_connector, alias="temp", format="integer")
    activate(device_client, "abc", "p" * 20)
    response = device_client.post("/onep:v1/stack/alias", content="temp=5", headers=basic("abc", "q" * 20))
    assert response.status_code == 401


def test_password_shorter_than_20_bytes_is_415(device_client, password_connector, events):
    response = activate(device_client, "abc", "p" * 19)
    assert response.status_code == 415
    assert not Device.objects.filter(identity="abc").exists()
    assert denial_reasons(events) == ["password_too_short"]


def test_password_length_counts_bytes_not_characters(device_client, password_connector):
    # Ten two-byte characters: 20 bytes.
    encoded = "%C3%A9" * 10
    response = device_client.post("/provision/activate", content=f"id=abc&password={encoded}")
    assert response.status_code == 204
    assert device_client.get("/onep:v1/stack/alias?x", headers=basic("abc", "é" * 10)).status_code == 204


def test_password_activation_on_a_token_connector_is_415(device_client, connector, events):
    response = activate(device_client, "abc", "p" * 20)
    assert response.status_code == 415
    assert denial_reasons(events) == ["auth_type_mismatch"]


def test_token_activation_on_a_password_connector_is_415(device_client, password_connector, events):
    response = activate(device_client, "abc")
    assert response.status_code == 415
    assert denial_reasons(events) == ["auth_type_mismatch"]


def test_activation_on_a_certificate_connector_is_415(device_client, connector, events):
    connector_update(connector=connector, changes={"auth_type": "certificate"})
    response = activate(device_client, "abc")
    assert response.status_code == 415
    assert denial_reasons(events) == ["auth_type_mismatch"]


def test_password_device_with_colons_in_its_identity_authenticates(device_client, password_connector):
    connector_update(connector=password_connector, changes={"identity_type": "mac:colon"})
    make_resource(connector=password_connector, alias="temp", format="integer")
    identity, password = "00:11:22:33:44:55", "pass:word:with:colons"
    assert activate(device_client, identity, password).status_code == 204
    response = device_client.post("/onep:v1/stack/alias", content="temp=5", headers=basic(identity, password))
    assert response.status_code == 204
    wrong = device_client.post("/onep:v1/stack/alias", content="temp=5", headers=basic(identity, "x" * 20))
    assert wrong.status_code == 401


def test_changing_the_auth_type_keeps_provisioned_devices_on_theirs(device_client, connector):
    make_resource(connector=connector, alias="temp", format="integer")
    token = activate(device_client, "abc").text
    connector_update(connector=connector, changes={"auth_type": "password"})
    response = device_client.post("/onep:v1/stack/alias", content="temp=5", headers={"X-Exosite-CIK": token})
    assert response.status_code == 204


def test_missing_id_is_400_and_a_denial(device_client, connector, events):
    response = device_client.post("/provision/activate", content="")
    assert response.status_code == 400
    assert denial_reasons(events) == ["missing_identity"]


def test_generated_identity_is_returned_when_the_connector_generates_them(
    device_client, connector, device_info
):
    connector_update(
        connector=connector,
        changes={"generate_identity": True, "identity_type": "mac:none", "identity_casing": "lower"},
    )
    response = device_client.post("/provision/activate", content="")
    assert response.status_code == 200
    assert len(response.text) == 40
    identity = response.headers["X-Exosite-Identity"]
    assert len(identity) == 12 and identity == identity.lower()
    assert device_info(identity)["status"] == "devmode"


# --- provisioning outcomes ------------------------------------------------------------------


def test_whitelisted_device_inside_its_window_activates(device_client, connector, device_info, events):
    make_device(connector=connector, identity="abc")
    connector_update(connector=connector, changes={"presenter_identity": False})
    response = activate(device_client, "abc")
    assert response.status_code == 200
    assert len(response.text) == 40
    assert device_info("abc")["status"] == "devmode"
    provisioned = events("provisioned")
    assert [(e["identity"], e["payload"]["auth_type"]) for e in provisioned] == [("abc", "token")]


def test_presenter_identity_provisions_an_identity_never_whitelisted(device_client, connector, device_info):
    assert connector.presenter_identity is True
    response = activate(device_client, "newcomer")
    assert response.status_code == 200
    assert device_info("newcomer")["auth"] == {"type": "token"}


@pytest.mark.parametrize(
    ("changes", "identity"),
    [
        ({"identity_prefix": "th-"}, "abc"),
        ({"identity_prefix": "th-"}, "th-"),
        ({"identity_type": "base10"}, "12a4"),
        ({"identity_type": "base16", "identity_length": 8}, "abcdef0"),
        ({"identity_type": "mac:colon"}, "00-11-22-33-44-55"),
        ({"identity_type": "uuid:v4"}, "123e4567-e89b-12d3-a456-426614174000"),
        ({"identity_casing": "upper"}, "abcDEF"),
        ({"identity_casing": "lower"}, "abcDEF"),
        ({}, "has space"),
        ({}, "x" * 129),
    ],
)
def test_identity_not_in_the_connector_format_is_404(device_client, connector, events, changes, identity):
    connector_update(connector=connector, changes=changes)
    response = device_client.post("/provision/activate", content=f"id={identity.replace(' ', '+')}")
    assert response.status_code == 404
    assert not Device.objects.filter(connector=connector).exists()
    (denied,) = events("provision_denied")
    assert denied["payload"]["reason"] == "identity_format"
    assert denied["payload"]["message"]


@pytest.mark.parametrize(
    ("changes", "identity"),
    [
        ({"identity_prefix": "th-", "identity_type": "base10", "identity_length": 4}, "th-0042"),
        ({"identity_type": "mac:colon"}, "00:1a:22:33:44:55"),
        ({"identity_type": "uuid:v4", "identity_casing": "lower"}, "123e4567-e89b-42d3-a456-426614174000"),
        ({"identity_casing": "upper"}, "ABC-123"),
    ],
)
def test_identity_in_the_connector_format_activates(device_client, connector, changes, identity):
    connector_update(connector=connector, changes=changes)
    assert activate(device_client, identity).status_code == 200


def test_identity_not_whitelisted_with_presenter_identity_off_is_404(device_client, connector, events):
    connector_update(connector=connector, changes={"presenter_identity": False})
    response = activate(device_client, "stranger")
    assert response.status_code == 404
    assert not Device.objects.filter(connector=connector, identity="stranger").exists()
    assert denial_reasons(events) == ["not_whitelisted"]


def test_already_provisioned_device_is_409_and_keeps_its_token(device_client, connector, events):
    make_resource(connector=connector, alias="temp", format="integer")
    token = activate(device_client, "abc").text
    response = activate(device_client, "abc")
    assert response.status_code == 409
    assert denial_reasons(events) == ["already_provisioned"]
    write = device_client.post("/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": token})
    assert write.status_code == 204


def test_device_whitelisted_with_a_known_token_is_already_provisioned(device_client, connector, device_info):
    make_resource(connector=connector, alias="temp", format="integer")
    key = "0123456789abcdef0123456789abcdef01234567"
    make_device(connector=connector, identity="abc", auth_type="token", key=key)
    assert activate(device_client, "abc").status_code == 409
    write = device_client.post("/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": key})
    assert write.status_code == 204


def test_device_flagged_for_reprovision_activates_again_with_a_new_token(
    device_client, connector, owner_api, device_info
):
    make_resource(connector=connector, alias="temp", format="integer")
    old = activate(device_client, "abc").text
    revoke = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/abc/", {"auth": {"expire": 0}}, format="json"
    )
    assert revoke.status_code == 200
    assert device_info("abc")["status"] == "reprovision"
    assert (
        device_client.post(
            "/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": old}
        ).status_code
        == 401
    )
    response = activate(device_client, "abc")
    assert response.status_code == 200
    new = response.text
    assert new != old
    assert (
        device_client.post(
            "/onep:v1/stack/alias", content="temp=1", headers={"X-Exosite-CIK": new}
        ).status_code
        == 204
    )
    assert device_info("abc")["status"] == "devmode"
    assert device_info("abc")["reprovision"] is False


def test_expired_activation_window_is_409(device_client, connector, device_info, events):
    make_device(connector=connector, identity="abc", expire_us=now_us() - HOUR_US)
    assert device_info("abc")["status"] == "expired"
    response = activate(device_client, "abc")
    assert response.status_code == 409
    assert denial_reasons(events) == ["expired"]
    assert device_info("abc")["status"] == "expired"


def test_expired_device_may_activate_once_its_window_is_reset(
    device_client, connector, owner_api, device_info
):
    make_device(connector=connector, identity="abc", expire_us=now_us() - HOUR_US)
    reset = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/abc/",
        {"auth": {"expire": now_us() + HOUR_US}},
        format="json",
    )
    assert reset.status_code == 200
    assert device_info("abc")["status"] == "whitelisted"
    assert activate(device_client, "abc").status_code == 200


def test_locked_device_cannot_activate(device_client, connector, device_info, events):
    make_device(connector=connector, identity="abc", locked=True)
    response = activate(device_client, "abc")
    assert response.status_code == 403
    assert denial_reasons(events) == ["locked"]
    assert device_info("abc")["status"] == "locked"


def test_provisioning_disabled_on_the_connector_is_403(device_client, connector, events):
    make_device(connector=connector, identity="abc")
    connector_update(connector=connector, changes={"provisioning_enabled": False})
    response = activate(device_client, "abc")
    assert response.status_code == 403
    assert denial_reasons(events) == ["provisioning_disabled"]
    assert Device.objects.get(connector=connector, identity="abc").lifecycle == "whitelisted"


def test_first_provisioning_from_outside_the_ip_whitelist_is_403(device_client, connector, events):
    connector_update(
        connector=connector, changes={"ip_whitelisting_enabled": True, "ip_whitelist": ["198.51.100.0/24"]}
    )
    response = activate(device_client, "abc")  # the client is 203.0.113.7
    assert response.status_code == 403
    assert denial_reasons(events) == ["ip_not_allowed"]
    assert not Device.objects.filter(connector=connector, identity="abc").exists()


def test_provisioning_from_inside_the_ip_whitelist_activates_and_later_requests_may_come_from_anywhere(
    connector, wsgi_client_from, device_client
):
    connector_update(
        connector=connector,
        changes={"ip_whitelisting_enabled": True, "ip_whitelist": ["198.51.100.0/24", "2001:db8::/32"]},
    )
    make_resource(connector=connector, alias="temp", format="integer")
    factory = wsgi_client_from(connector, ip="198.51.100.9")
    token = activate(factory, "abc").text
    assert len(token) == 40
    assert activate(wsgi_client_from(connector, ip="2001:db8::5"), "def").status_code == 200
    # In the field, the device writes from another address.
    write = device_client.post("/onep:v1/stack/alias", content="temp=3", headers={"X-Exosite-CIK": token})
    assert write.status_code == 204


def test_ip_whitelist_disabled_lets_any_address_provision(connector, device_client):
    connector_update(
        connector=connector, changes={"ip_whitelisting_enabled": False, "ip_whitelist": ["10.0.0.0/8"]}
    )
    assert activate(device_client, "abc").status_code == 200


def test_denied_activation_changes_nothing_on_the_whitelisted_device(device_client, connector, device_info):
    make_device(connector=connector, identity="abc")
    connector_update(
        connector=connector, changes={"ip_whitelisting_enabled": True, "ip_whitelist": ["198.51.100.0/24"]}
    )
    assert activate(device_client, "abc").status_code == 403
    info = device_info("abc")
    assert info["status"] == "whitelisted"
    assert info["last_ip"] is None


def test_every_denial_emits_a_provision_denied_event_with_its_reason(device_client, connector, events):
    make_device(connector=connector, identity="locked", locked=True)
    make_device(connector=connector, identity="late", expire_us=now_us() - HOUR_US)
    activate(device_client, "done")
    attempts = [
        ("id=done", 409),
        ("id=locked", 403),
        ("id=late", 409),
        ("id=bad+id", 404),
        ("id=x&password=" + "p" * 20, 415),
    ]
    for body, status in attempts:
        assert device_client.post("/provision/activate", content=body).status_code == status
    denied = events("provision_denied")
    assert [e["payload"]["reason"] for e in denied] == [
        "already_provisioned", "locked", "expired", "identity_format", "auth_type_mismatch",
    ]  # fmt: skip
    assert [e["identity"] for e in denied] == ["done", "locked", "late", "bad id", "x"]
    for event in denied:
        assert event["ip"] == "203.0.113.7"
        assert event["protocol"] == "http"


# --- statuses -------------------------------------------------------------------------------


def test_whitelisted_device_has_no_credentials_and_a_48_hour_window(connector, device_info):
    make_device(connector=connector, identity="abc")
    info = device_info("abc")
    assert info["status"] == "whitelisted"
    assert info["auth"] == {"type": None}
    expected = now_us() + 48 * HOUR_US
    assert abs(info["activation_deadline"] - expected) < 60 * 1_000_000


def test_activation_window_follows_the_connector_setting(connector, device_info):
    connector_update(connector=connector, changes={"activation_window_hours": 2})
    make_device(connector=connector, identity="abc")
    expected = now_us() + 2 * HOUR_US
    assert abs(device_info("abc")["activation_deadline"] - expected) < 60 * 1_000_000


def test_whitelisted_device_expires_when_its_window_passes(device_client, connector, device_info):
    device = make_device(connector=connector, identity="abc")
    Device.objects.filter(pk=device.pk).update(activation_deadline=timezone.now() - timedelta(seconds=1))
    assert device_info("abc")["status"] == "expired"
    assert activate(device_client, "abc").status_code == 409


def test_provisioned_device_records_where_and_when_it_was_seen(device_client, connector, device_info):
    before = timezone.now()
    activate(device_client, "abc")
    info = device_info("abc")
    assert info["last_ip"] == "203.0.113.7"
    assert info["online"] is True
    assert info["provisioned_at"] is not None
    assert datetime.fromisoformat(info["last_seen"]) >= before - timedelta(seconds=1)


def test_locked_status_wins_over_every_other(device_client, connector, owner_api, device_info):
    activate(device_client, "abc")
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/abc/", {"locked": True}, format="json"
    )
    assert response.status_code == 200
    assert device_info("abc")["status"] == "locked"
    unlock = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/abc/", {"locked": False}, format="json"
    )
    assert unlock.status_code == 200
    assert device_info("abc")["status"] == "devmode"


def test_status_filter_lists_devices_by_status(device_client, connector, owner_api):
    make_device(connector=connector, identity="w")
    make_device(connector=connector, identity="e", expire_us=now_us() - HOUR_US)
    make_device(connector=connector, identity="l", locked=True)
    activate(device_client, "d")
    activate(device_client, "r")
    owner_api.patch(f"/api/v1/connectors/{connector.pk}/devices/r/", {"auth": {"expire": 0}}, format="json")
    url = f"/api/v1/connectors/{connector.pk}/devices/"
    found = {
        status: [d["identity"] for d in owner_api.get(url, {"status": status}).json()["results"]]
        for status in ("whitelisted", "expired", "locked", "devmode", "reprovision", "provisioned")
    }
    assert found == {
        "whitelisted": ["w"], "expired": ["e"], "locked": ["l"], "devmode": ["d"],
        "reprovision": ["r"], "provisioned": [],
    }  # fmt: skip


# --- racing activations ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("whitelisted", [True, False], ids=["whitelisted", "presented"])
def test_racing_activations_of_one_identity_issue_exactly_one_token(whitelisted):
    """Firmware retry loops and cloned devices activate the same identity at once: one wins,
    the others are told it is already provisioned, and the token the winner got works."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from murano.wsgi import application
    from tests.factories import make_member

    business = make_member(business_name="Racers", role="admin").business
    connector = make_connector(business=business, devmode=True)
    if whitelisted:
        make_device(connector=connector, identity="twin")
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        threads = 1  # one in-memory database per connection: no sharing between threads
    else:
        threads = 8

    def attempt(_):
        transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.9")
        with httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}") as client:
            try:
                return activate(client, "twin")
            finally:
                connection.close()

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(attempt, range(8)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    transport = httpx.WSGITransport(app=application)
    with httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}") as client:
        written = client.post(
            "/onep:v1/stack/alias", content="x=1", headers={"X-Exosite-CIK": winners[0].text}
        )
    assert written.status_code == 204
    assert Device.objects.get(connector=connector, identity="twin").lifecycle == "provisioned"
