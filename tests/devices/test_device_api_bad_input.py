"""Device API: malformed requests get a clear 4xx and change nothing; never a 500."""

import base64

import pytest
from django.test import override_settings

from devices.models import DeviceState, ValuePoint
from tests.devices.conftest import activate
from tests.factories import make_resource

ALIAS = "/onep:v1/stack/alias"
RECORD = "/onep:v1/stack/record"


@pytest.fixture
def device(token_device, connector):
    make_resource(connector=connector, alias="temp", format="integer")
    make_resource(connector=connector, alias="name", format="string")
    return token_device


def nothing_stored() -> bool:
    return not DeviceState.objects.exists() and not ValuePoint.objects.exists()


# --- write ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"temp=%ZZ", b"temp=%2", b"name=%", b"=5", b"temp", b"temp=1&temp=2", b"name=\xff\xfe",
        b"name=%C3%28", b"", b"&&&",
    ],
    ids=[
        "bad-percent", "short-percent", "lone-percent", "empty-alias", "missing-value", "alias-twice",
        "raw-invalid-utf8", "encoded-invalid-utf8", "empty", "only-separators",
    ],
)  # fmt: skip
def test_malformed_write_is_400_and_stores_nothing(device_client, device, body):
    response = device_client.post(ALIAS, content=body, headers=device.headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text
    assert nothing_stored()


def test_malformed_write_is_400_even_among_good_values(device_client, device):
    response = device_client.post(ALIAS, content="name=ok&temp=%G1", headers=device.headers)
    assert response.status_code == 400
    assert nothing_stored()


@override_settings(DEVICE_API_MAX_BODY=100_000)
def test_body_over_the_limit_is_413(device_client, device):
    response = device_client.post(ALIAS, content="name=" + "x" * 100_001, headers=device.headers)
    assert response.status_code == 413
    assert nothing_stored()


# --- tolerated: what real clients send whose meaning is plain ---------------------------------


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r\n\r\n"])
def test_write_ending_with_a_line_end_is_accepted_without_it(device_client, device, end):
    response = device_client.post(ALIAS, content=f"temp=21&name=abc{end}", headers=device.headers)
    assert response.status_code == 204
    assert dict(DeviceState.objects.values_list("alias", "reported")) == {"temp": "21", "name": "abc"}


def test_write_naming_an_alias_twice_with_the_same_value_is_accepted(device_client, device):
    response = device_client.post(ALIAS, content="temp=1&temp=1", headers=device.headers)
    assert response.status_code == 204
    assert dict(DeviceState.objects.values_list("alias", "reported")) == {"temp": "1"}


def test_record_ending_with_a_line_end_is_accepted(device_client, device):
    response = device_client.post(RECORD, content="alias=temp&1700000000=5\r\n", headers=device.headers)
    assert response.status_code == 204
    assert list(ValuePoint.objects.values_list("value", flat=True)) == ["5"]


def test_activation_ending_with_a_line_end_is_accepted(device_client, connector):
    response = device_client.post("/provision/activate", content="id=abc\r\n")
    assert response.status_code == 200
    assert list(connector.devices.values_list("identity", flat=True)) == ["abc"]


def test_write_of_an_undefined_alias_with_odd_characters_is_accepted(device_client, device):
    body = "odd%00alias=1&" + "a" * 500 + "=2&%E2%9C%93=3"
    assert device_client.post(ALIAS, content=body, headers=device.headers).status_code == 204
    assert nothing_stored()


# --- read -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "&", "%ZZ", "=x", "temp%"],
    ids=["none", "separator", "bad-percent", "empty-alias", "lone-percent"],
)
def test_malformed_read_is_400(device_client, device, query):
    response = device_client.get(f"{ALIAS}?{query}", headers=device.headers)
    assert response.status_code == 400
    assert response.text


def test_read_ignores_values_in_its_query(device_client, device):
    device_client.post(ALIAS, content="temp=5", headers=device.headers)
    response = device_client.get(f"{ALIAS}?temp=9", headers=device.headers)
    assert (response.status_code, response.text) == (200, "temp=5")


# --- record ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "1700000000=20", "alias=&1700000000=20", "alias", "alias=temp&yesterday=20", "alias=temp&-5=20",
        "alias=temp&1e9=20", "alias=temp&1700000000", "alias=temp", "", "alias=temp&99999999999999=1",
        "alias=temp&1700000000.=1", "alias=temp&%ZZ=1",
    ],
    ids=[
        "point-before-alias", "empty-alias", "alias-without-name", "word-timestamp", "negative-timestamp",
        "exponent-timestamp", "point-without-value", "no-points", "empty", "after-year-3000",
        "dangling-dot", "bad-percent",
    ],
)  # fmt: skip
def test_malformed_record_is_400_and_stores_nothing(device_client, device, body):
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 400
    assert response.text
    assert nothing_stored()


# --- activate -------------------------------------------------------------------------------


def test_malformed_activation_body_is_400(device_client, connector):
    response = device_client.post("/provision/activate", content=b"id=%ZZ")
    assert response.status_code == 400
    assert not connector.devices.exists()


def test_activation_naming_two_identities_is_400(device_client, connector):
    response = device_client.post("/provision/activate", content="id=abc&id=def")
    assert (response.status_code, response.text) == (400, "id: given more than once, with different values")
    assert not connector.devices.exists()


def test_activation_naming_its_identity_twice_alike_is_accepted(device_client, connector):
    assert device_client.post("/provision/activate", content="id=abc&id=abc").status_code == 200
    assert list(connector.devices.values_list("identity", flat=True)) == ["abc"]


def test_identity_with_a_nul_character_is_refused(device_client, connector):
    response = device_client.post("/provision/activate", content="id=abc%00def")
    assert response.status_code == 404
    assert not connector.devices.exists()


def test_activation_with_an_empty_password_is_415(device_client, connector):
    response = device_client.post("/provision/activate", content="id=abc&password=")
    assert response.status_code == 415
    assert not connector.devices.exists()


# --- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"a\x00b:" + b"p" * 20).decode(),
        "Basic " + base64.b64encode(b":" + b"p" * 20).decode(),
        "Basic " + base64.b64encode(b"x" * 500 + b":" * 300).decode(),
        "Basic",
        "Bearer abc",
        "",
    ],
    ids=[
        "not-base64", "no-colon", "not-utf8", "nul-in-identity", "empty-identity", "huge", "bare-scheme",
        "other-scheme", "empty",
    ],
)  # fmt: skip
def test_malformed_credentials_are_401(device_client, device, authorization, events):
    response = device_client.post(ALIAS, content="temp=1", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert nothing_stored()
    assert len(events("auth_failed")) == 1


@pytest.mark.parametrize("token", ["x" * 40, "0" * 41, "0" * 39, " ", "%00" * 40])
def test_malformed_tokens_are_401(device_client, device, token):
    response = device_client.post(ALIAS, content="temp=1", headers={"X-Exosite-CIK": token})
    assert response.status_code == 401
    assert nothing_stored()


def test_password_credentials_on_a_token_device_are_401(device_client, device):
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{device.identity}:{device.token}".encode()).decode()
    }
    assert device_client.post(ALIAS, content="temp=1", headers=headers).status_code == 401


# --- paths, methods, hosts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", ALIAS, "GET, POST"),
        ("DELETE", ALIAS, "GET, POST"),
        ("GET", "/provision/activate", "POST"),
        ("PUT", "/provision/activate", "POST"),
        ("GET", RECORD, "POST"),
        ("POST", "/timestamp", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(device_client, device, method, path, allow):
    response = device_client.request(method, path, headers=device.headers, content="temp=1")
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert nothing_stored()


def test_head_timestamp_has_no_body(device_client):
    response = device_client.head("/timestamp")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "path", ["/onep:v1/stack/other", "/onep:v2/stack/alias", "/provision/nothing", "/provision/"]
)
def test_unknown_device_path_is_404(device_client, device, path):
    assert device_client.post(path, content="temp=1", headers=device.headers).status_code == 404


@override_settings(DEVICE_DEFAULT_CONNECTOR="")
@pytest.mark.parametrize(
    "host", ["a\x00b.example", "x" * 400, "has space.example", "[::1]:80", "a.example, b.example"]
)
def test_odd_host_header_is_404(device_client, device, host):
    response = device_client.post(ALIAS, content="temp=1", headers={**device.headers, "Host": host})
    assert response.status_code == 404
    assert nothing_stored()


# --- nothing a client sends is a 500 ----------------------------------------------------------


ODD_BODIES = [
    b"", b"=", b"&", b"%", b"%%", b"=&=", b"a=b=c", b"\x00", b"\xff" * 10, b"id", b"id=", b"alias=temp&",
    b"alias=temp&1700000000=1&1700000000=x", b"temp=" + b"9" * 5000, b"temp=1e400", b"temp=0x10",
    b"temp=%EF%BF%BF", "temp=١٢".encode(), b"password=" + b"p" * 30, b"id=a&password=%00" * 2,
]  # fmt: skip


@pytest.mark.parametrize("path", [ALIAS, ALIAS + "?temp", RECORD, "/provision/activate"])
def test_odd_bodies_never_cause_a_server_error(device_client, device, path):
    for body in ODD_BODIES:
        response = device_client.post(path, content=body, headers=device.headers)
        assert response.status_code < 500, (body, response.text)


def test_odd_values_through_every_path_never_cause_a_server_error(
    device_client, device, connector, owner_api
):
    make_resource(connector=connector, alias="setting", format="string", settable=True)
    for value in ["%00", "%FF", "%C0%80", "%ED%A0%80", "x" * 70_000]:
        write = device_client.post(ALIAS, content=f"name={value}", headers=device.headers)
        record = device_client.post(RECORD, content=f"alias=name&1700000000={value}", headers=device.headers)
        assert (write.status_code, record.status_code) == (400, 400), value
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/state/",
        {"setting": "a\x00b"},
        format="json",
    )
    assert response.status_code == 400
    assert not DeviceState.objects.filter(alias="setting").exists()


def test_activation_of_an_odd_identity_never_causes_a_server_error(device_client, connector):
    for identity in ["%00", "%FF", "a" * 5000, "%E2%9C%93", "a%0Ab", "..", "a/b"]:
        response = activate(device_client, identity)
        assert response.status_code < 500, identity
