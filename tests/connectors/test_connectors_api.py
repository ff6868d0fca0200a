"""Management API: ``/api/v1/connectors/`` (shared/docs/management-api.md, "Connectors")."""

import pytest
from django.conf import settings

from accounts.models import User
from connectors.models import Connector
from tests.factories import PASSWORD, make_connector, make_device, make_member
from tests.pki.certs import make_ca

LIST = "/api/v1/connectors/"

DEFAULT_IDENTITY_FORMAT = {"prefix": "", "type": "opaque", "length": None, "casing": "mixed"}
DEFAULT_PROVISIONING = {
    "enabled": True,
    "auth_type": "token",
    "presenter_identity": True,
    "generate_identity": False,
    "activation_window_hours": 48,
    "ip_whitelisting": {"enabled": False, "allowed": []},
}


def detail(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


# --- create and read -------------------------------------------------------------------------


def test_a_name_is_enough_to_create_a_connector_with_documented_defaults(api, owner, business):
    response = api(owner).post(LIST, {"name": "Thermostat T1"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 17 and body["id"].isalnum() and body["id"] == body["id"].lower()
    assert body["name"] == "Thermostat T1"
    assert body["description"] == ""
    assert body["device_host"] == f"{body['id']}.{settings.DEVICE_API_DOMAIN}"
    assert body["hostnames"] == []
    assert body["protocol"] == {"devmode": False, "transports": ["http", "mqtt"]}
    assert body["identity_format"] == DEFAULT_IDENTITY_FORMAT
    assert body["provisioning"] == DEFAULT_PROVISIONING
    assert body["pki"] == {"enabled": False, "ca_certificate": "", "sign_csr": False}
    assert body["business"] == business.pk
    assert Connector.objects.get(pk=body["id"]).business == business


def test_create_accepts_settings_in_the_same_shape_as_it_reads_them(api, owner):
    response = api(owner).post(
        LIST,
        {
            "name": "Meter",
            "description": "Water meter, rev B",
            "protocol": {"devmode": True},
            "identity_format": {"prefix": "wm-", "type": "base16", "length": 8, "casing": "lower"},
            "provisioning": {"auth_type": "password", "activation_window_hours": 2},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["description"] == "Water meter, rev B"
    assert body["protocol"] == {"devmode": True, "transports": ["http", "mqtt"]}
    assert body["identity_format"] == {"prefix": "wm-", "type": "base16", "length": 8, "casing": "lower"}
    assert body["provisioning"] == {
        **DEFAULT_PROVISIONING,
        "auth_type": "password",
        "activation_window_hours": 2,
    }


def test_created_connector_is_listed_and_readable(api, owner):
    client = api(owner)
    created = client.post(LIST, {"name": "Lamp"}, format="json").json()

    listed = client.get(LIST)
    read = client.get(f"{LIST}{created['id']}/")

    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [created["id"]]
    assert read.status_code == 200
    assert read.json() == created


def test_create_without_a_name_is_refused_with_a_message_for_name(api, owner):
    for payload in ({}, {"name": ""}, {"name": "x" * 201}):
        response = api(owner).post(LIST, payload, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["name"]
    assert not Connector.objects.exists()


def test_list_shows_only_the_connectors_of_the_users_business(api, owner, outsider, connector):
    theirs = make_connector(business=outsider.businesses.get(), name="Globex gadget")

    assert [c["id"] for c in api(owner).get(LIST).json()] == [connector.pk]
    assert [c["id"] for c in api(outsider).get(LIST).json()] == [theirs.pk]


def test_a_member_of_two_businesses_sees_the_connectors_of_both(api, owner, connector, outsider):
    theirs = make_connector(business=outsider.businesses.get(), name="Globex gadget")
    make_member(business_name="Globex", role="viewer", email=owner.email)

    ids = {c["id"] for c in api(owner).get(LIST).json()}

    assert ids == {connector.pk, theirs.pk}


# --- which business owns a new connector -----------------------------------------------------


def test_create_names_the_business_explicitly(api, owner, business):
    response = api(owner).post(LIST, {"name": "Lamp", "business": business.pk}, format="json")

    assert response.status_code == 201
    assert response.json()["business"] == business.pk


def test_member_of_several_businesses_must_say_which_one_owns_the_connector(api, owner, business):
    other = make_member(business_name="Initech", role="admin", email=owner.email).business
    client = api(owner)

    ambiguous = client.post(LIST, {"name": "Lamp"}, format="json")
    named = client.post(LIST, {"name": "Lamp", "business": other.pk}, format="json")

    assert ambiguous.status_code == 400
    assert "several businesses" in ambiguous.json()["business"][0]
    assert named.status_code == 201
    assert Connector.objects.get().business == other


def test_viewer_elsewhere_still_has_to_name_the_business(api, owner, business):
    # A viewer role in a second business makes the choice ambiguous too: no silent pick.
    make_member(business_name="Initech", role="viewer", email=owner.email)

    response = api(owner).post(LIST, {"name": "Lamp"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["business"]
    assert not Connector.objects.exists()


def test_someone_elses_business_looks_the_same_as_a_missing_one(api, owner, outsider):
    globex = outsider.businesses.get()
    client = api(owner)

    foreign = client.post(LIST, {"name": "Lamp", "business": globex.pk}, format="json")
    missing = client.post(LIST, {"name": "Lamp", "business": 987654}, format="json")

    assert foreign.status_code == missing.status_code == 400
    assert foreign.json() == missing.json() == {"business": ["No such business."]}
    assert not Connector.objects.exists()


@pytest.mark.parametrize("bad", ["Acme", "", None, 1.5, True, [1], {"id": 1}, 10**30, -1, 0])
def test_a_malformed_business_is_refused_with_a_message_for_business(api, owner, bad):
    response = api(owner).post(LIST, {"name": "Lamp", "business": bad}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["business"]
    assert not Connector.objects.exists()


def test_viewer_cannot_create_a_connector(api, viewer, business):
    implicit = api(viewer).post(LIST, {"name": "Lamp"}, format="json")
    explicit = api(viewer).post(LIST, {"name": "Lamp", "business": business.pk}, format="json")

    assert implicit.status_code == explicit.status_code == 403
    assert implicit.json() == {"detail": "Your role in this business is read-only."}
    assert not Connector.objects.exists()


def test_developer_can_create_a_connector(api, developer, business):
    response = api(developer).post(LIST, {"name": "Lamp"}, format="json")

    assert response.status_code == 201
    assert response.json()["business"] == business.pk


def test_superuser_must_name_the_business_and_may_name_any(api, business):
    root = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client = api(root)

    unnamed = client.post(LIST, {"name": "Lamp"}, format="json")
    named = client.post(LIST, {"name": "Lamp", "business": business.pk}, format="json")

    assert unnamed.status_code == 400
    assert list(unnamed.json()) == ["business"]
    assert named.status_code == 201
    assert named.json()["business"] == business.pk
    assert root.memberships.count() == 0


def test_superuser_sees_and_manages_every_connector(api, connector, outsider):
    theirs = make_connector(business=outsider.businesses.get(), name="Globex gadget")
    client = api(User.objects.create_superuser(email="root@example.com", password=PASSWORD))

    assert {c["id"] for c in client.get(LIST).json()} == {connector.pk, theirs.pk}
    assert client.patch(detail(theirs), {"name": "Seen by root"}, format="json").status_code == 200
    assert client.delete(detail(theirs)).status_code == 204


# --- change ----------------------------------------------------------------------------------


def test_patch_of_one_nested_key_leaves_the_other_keys_as_they_were(api, owner, connector):
    client = api(owner)
    client.patch(
        detail(connector),
        {"provisioning": {"activation_window_hours": 12, "ip_whitelisting": {"allowed": ["10.0.0.0/8"]}}},
        format="json",
    )

    response = client.patch(detail(connector), {"provisioning": {"presenter_identity": False}}, format="json")

    assert response.status_code == 200
    assert response.json()["provisioning"] == {
        **DEFAULT_PROVISIONING,
        "presenter_identity": False,
        "activation_window_hours": 12,
        "ip_whitelisting": {"enabled": False, "allowed": ["10.0.0.0/8"]},
    }
    assert response.json()["protocol"] == {"devmode": True, "transports": ["http", "mqtt"]}
    read = client.get(detail(connector)).json()
    assert {**read, "warnings": []} == response.json()


def test_patch_of_ip_whitelist_keeps_the_enabled_flag_and_normalises_networks(api, owner, connector):
    client = api(owner)
    client.patch(
        detail(connector),
        {"provisioning": {"ip_whitelisting": {"enabled": True, "allowed": ["198.51.100.0/24"]}}},
        format="json",
    )

    response = client.patch(
        detail(connector),
        {"provisioning": {"ip_whitelisting": {"allowed": ["10.1.2.3/8", "2001:db8::1", " 192.0.2.7 "]}}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["provisioning"]["ip_whitelisting"] == {
        "enabled": True,
        "allowed": ["10.0.0.0/8", "2001:db8::1/128", "192.0.2.7/32"],
    }


def test_patch_of_identity_format_type_keeps_prefix_and_casing(api, owner, connector):
    client = api(owner)
    client.patch(detail(connector), {"identity_format": {"prefix": "th-", "casing": "upper"}}, format="json")

    response = client.patch(
        detail(connector), {"identity_format": {"type": "base10", "length": 6}}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["identity_format"] == {
        "prefix": "th-",
        "type": "base10",
        "length": 6,
        "casing": "upper",
    }


def test_fixed_length_identity_types_drop_the_length(api, owner, connector):
    client = api(owner)
    client.patch(detail(connector), {"identity_format": {"length": 12}}, format="json")

    response = client.patch(detail(connector), {"identity_format": {"type": "mac:colon"}}, format="json")

    assert response.json()["identity_format"]["length"] is None


def test_patch_of_top_level_fields(api, owner, connector):
    response = api(owner).patch(
        detail(connector), {"name": "Thermostat T2", "description": "second revision"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["description"]) == ("Thermostat T2", "second revision")


@pytest.mark.parametrize(
    "payload, errors",
    [
        ({"name": ""}, {"name": ...}),
        ({"protocol": {"devmode": "maybe"}}, {"protocol": {"devmode": ...}}),
        ({"protocol": "on"}, {"protocol": ...}),
        ({"protocol": {"transports": []}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": ["ftp"]}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": "http"}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": ["http", "http"]}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": [1]}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": None}}, {"protocol": {"transports": ...}}),
        ({"protocol": {"transports": [["http"]]}}, {"protocol": {"transports": ...}}),
        ({"identity_format": {"type": "base64"}}, {"identity_format": {"type": ...}}),
        ({"identity_format": {"casing": "title"}}, {"identity_format": {"casing": ...}}),
        ({"identity_format": {"length": 0}}, {"identity_format": {"length": ...}}),
        ({"identity_format": {"length": 129}}, {"identity_format": {"length": ...}}),
        ({"identity_format": {"prefix": "a b"}}, {"identity_format": {"prefix": ...}}),
        ({"identity_format": {"prefix": "x" * 65}}, {"identity_format": {"prefix": ...}}),
        ({"provisioning": {"auth_type": "magic"}}, {"provisioning": {"auth_type": ...}}),
        (
            {"provisioning": {"activation_window_hours": 0}},
            {"provisioning": {"activation_window_hours": ...}},
        ),
        (
            {"provisioning": {"activation_window_hours": "soon"}},
            {"provisioning": {"activation_window_hours": ...}},
        ),
        ({"provisioning": None}, {"provisioning": ...}),
        (
            {"provisioning": {"ip_whitelisting": {"allowed": ["10.0.0.300"]}}},
            {"provisioning": {"ip_whitelisting": {"allowed": ...}}},
        ),
        (
            {"provisioning": {"ip_whitelisting": {"allowed": "10.0.0.0/8"}}},
            {"provisioning": {"ip_whitelisting": {"allowed": ...}}},
        ),
        ({"pki": {"ca_certificate": "not a certificate"}}, {"pki": {"ca_certificate": ...}}),
        ({"pki": {"enabled": []}}, {"pki": {"enabled": ...}}),
        ({"hostnames": ["not a host name"]}, {"hostnames": ...}),
        ({"hostnames": "meter.example.com"}, {"hostnames": ...}),
    ],
)
def test_invalid_values_answer_400_with_a_message_under_the_field(api, owner, connector, payload, errors):
    before = api(owner).get(detail(connector)).json()

    response = api(owner).patch(detail(connector), payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    _assert_error_shape(response.json(), errors)
    assert api(owner).get(detail(connector)).json() == before


def _assert_error_shape(body, expected):
    """``expected`` mirrors the error body's keys; ``...`` stands for a non-empty message."""
    if expected is ...:
        assert body, body
        return
    assert isinstance(body, dict) and set(body) == set(expected), body
    for key, sub in expected.items():
        _assert_error_shape(body[key], sub)


def test_every_invalid_field_of_a_patch_gets_its_own_message(api, owner, connector):
    response = api(owner).patch(
        detail(connector),
        {
            "name": "",
            "identity_format": {"type": "nope", "casing": "nope"},
            "provisioning": {"auth_type": "nope"},
        },
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"name", "identity_format", "provisioning"}
    assert set(body["identity_format"]) == {"type", "casing"}
    assert set(body["provisioning"]) == {"auth_type"}


def test_hostnames_are_normalised_and_cannot_be_shared_between_connectors(api, owner, business, connector):
    client = api(owner)
    other = make_connector(business=business, name="Other")

    mine = client.patch(
        detail(connector), {"hostnames": ["Meter.Example.COM.", "b.example.com"]}, format="json"
    )
    taken = client.patch(detail(other), {"hostnames": ["meter.example.com"]}, format="json")

    assert mine.status_code == 200
    assert mine.json()["hostnames"] == ["b.example.com", "meter.example.com"]
    assert taken.status_code == 400
    assert taken.json()["hostnames"] == ["'meter.example.com' is not available"]
    assert client.get(detail(other)).json()["hostnames"] == []


def test_hostnames_can_be_removed(api, owner, connector):
    client = api(owner)
    client.patch(detail(connector), {"hostnames": ["meter.example.com"]}, format="json")

    response = client.patch(detail(connector), {"hostnames": []}, format="json")

    assert response.json()["hostnames"] == []


def test_a_ca_certificate_is_accepted_and_its_private_key_is_never_shown(api, owner, connector):
    ca = make_ca("Test CA")
    certificate, key = ca.pem, ca.key_pem

    response = api(owner).patch(
        detail(connector),
        {"pki": {"enabled": True, "ca_certificate": certificate, "ca_private_key": key, "sign_csr": True}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["pki"] == {"enabled": True, "ca_certificate": certificate, "sign_csr": True}
    assert "PRIVATE KEY" not in response.content.decode()
    assert "PRIVATE KEY" not in api(owner).get(detail(connector)).content.decode()
    stored = Connector.objects.get(pk=connector.pk).pki_ca_private_key_encrypted
    assert stored and "PRIVATE KEY" not in stored


def test_a_certificate_that_is_not_a_ca_is_refused(api, owner, connector):
    certificate = make_ca("leaf", is_ca=False).pem

    response = api(owner).patch(detail(connector), {"pki": {"ca_certificate": certificate}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"pki": {"ca_certificate": ["is not a CA certificate"]}}


def test_a_connector_keeps_its_business(api, owner, business, connector, outsider):
    client = api(owner)

    same = client.patch(detail(connector), {"business": business.pk, "name": "Renamed"}, format="json")
    moved = client.patch(detail(connector), {"business": outsider.businesses.get().pk}, format="json")

    assert same.status_code == 200
    assert same.json()["name"] == "Renamed"
    assert moved.status_code == 409
    assert moved.json() == {"business": ["A connector cannot change business."]}
    assert Connector.objects.get(pk=connector.pk).business == business


def test_a_read_connector_can_be_sent_back_unchanged(api, owner, connector):
    # Scripts do GET, edit, PATCH the whole object back: read-only fields must not get in the way.
    client = api(owner)
    body = client.get(detail(connector)).json()
    body["name"] = "Edited"

    response = client.patch(detail(connector), body, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Edited"
    assert response.json()["id"] == connector.pk


def test_put_is_not_a_way_to_change_a_connector(api, owner, connector):
    response = api(owner).put(detail(connector), {"name": "x"}, format="json")

    assert response.status_code == 405
    assert "detail" in response.json()


# --- delete ----------------------------------------------------------------------------------


def test_admin_deletes_a_connector_with_its_devices(api, owner, connector):
    make_device(connector=connector, identity="d1")
    client = api(owner)

    response = client.delete(detail(connector))

    assert response.status_code == 204
    assert client.get(detail(connector)).status_code == 404
    assert client.get(LIST).json() == []
    assert not connector.devices.exists()


def test_deleted_connectors_host_stops_answering_devices(api, owner, connector, device_client):
    token = "ab" * 20
    api(owner).post(f"{detail(connector)}devices/", {"identity": "d1", "auth": {"key": token}}, format="json")
    assert device_client.get("/onep:v1/stack/alias?x", headers={"X-Exosite-CIK": token}).status_code == 204

    api(owner).delete(detail(connector))

    response = device_client.get("/onep:v1/stack/alias?x", headers={"X-Exosite-CIK": token})
    assert response.status_code == 404


# --- access control --------------------------------------------------------------------------

ROLES = ["owner", "developer", "viewer", "outsider"]


@pytest.fixture
def as_role(request, api):
    def make(role):
        if role == "anonymous":
            return api()
        return api(request.getfixturevalue(role))

    return make


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_read_a_connector(as_role, connector, role, expected):
    response = as_role(role).get(detail(connector))

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["id"] == connector.pk
    else:
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_change_a_connector(as_role, connector, role, expected):
    response = as_role(role).patch(detail(connector), {"name": "Changed"}, format="json")

    assert response.status_code == expected
    assert (Connector.objects.get(pk=connector.pk).name == "Changed") == (expected == 200)
    if expected != 200:
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 204), ("developer", 403), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_only_admins_delete_connectors(as_role, connector, role, expected):
    response = as_role(role).delete(detail(connector))

    assert response.status_code == expected
    assert Connector.objects.filter(pk=connector.pk).exists() == (expected != 204)
    if expected != 204:
        assert set(response.json()) == {"detail"}


def test_outsider_gets_the_same_404_as_for_a_connector_that_does_not_exist(api, outsider, connector):
    client = api(outsider)

    for method in ("get", "patch", "delete"):
        existing = getattr(client, method)(detail(connector), {}, format="json")
        missing = getattr(client, method)("/api/v1/connectors/zzzzzzzzzzzzzzzzz/", {}, format="json")
        assert existing.status_code == missing.status_code == 404
        assert existing.json() == missing.json()


def test_anonymous_requests_are_asked_to_authenticate(api, connector):
    for response in (api().get(LIST), api().post(LIST, {"name": "x"}, format="json")):
        assert response.status_code == 401
        assert response.json() == {"detail": "Authentication credentials were not provided."}
        assert response.has_header("WWW-Authenticate")


# --- errors are JSON -------------------------------------------------------------------------


def test_malformed_json_is_a_json_400(api, owner):
    response = api(owner).post(LIST, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "JSON parse error" in response.json()["detail"]


def test_unsupported_content_type_is_a_json_415(api, owner):
    response = api(owner).post(LIST, "name=x", content_type="text/plain")

    assert response.status_code == 415
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "path", ["/api/v1/nowhere/", "/api/v1/connectors/x/y/z/", "/api:1/service/x/device3/"]
)
def test_unknown_api_paths_answer_json_404_not_an_html_page(api, owner, path):
    response = api(owner).get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/connectors/%00/",
        "/api/v1/connectors/{c}%00/",
        "/api/v1/connectors/{c}/resources/%00/",
        "/api/v1/connectors/{c}/resources/a%00b/",
        "/api/v1/connectors/{c}/devices/%00/",
        "/api/v1/connectors/{c}/devices/%00/state/",
        "/api:1/service/{c}/device2/identity/%00",
        "/api:1/service/%00/device2/identity/x/state",
    ],
)
def test_a_nul_in_a_path_names_nothing(api, owner, connector, path):
    # PostgreSQL refuses NUL even in a lookup; it must still be a plain 404.
    response = api(owner).get(path.format(c=connector.pk))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        123,
        None,
        {"name": ["list"]},
        {"name": {"x": 1}},
        {"name": "ok", "identity_format": []},
        {"name": "ok", "provisioning": {"ip_whitelisting": None}},
        {"name": "ok", "provisioning": {"ip_whitelisting": {"allowed": [None, 1, {}]}}},
        {"name": "ok", "hostnames": [None]},
        {"name": "ok", "pki": {"ca_certificate": None}},
        {
            "name": "ok",
            "pki": {"ca_certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
        },
        {"name": "\x00"},
    ],
)
def test_garbage_in_a_create_is_a_400_not_a_500(api, owner, payload):
    response = api(owner).post(LIST, payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)
