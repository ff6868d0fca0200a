"""Device API: write, read, hybrid and record, value validation, undefined aliases, and what
``set`` and ``reported`` become (as the management API shows them)."""

import time

import pytest

from connectors.services import connector_update, resource_update
from connectors.values import MAX_VALUE_BYTES
from devices.models import DeviceState, ValuePoint
from tests.devices.conftest import activate
from tests.factories import make_connector, make_device, make_resource

ALIAS = "/onep:v1/stack/alias"
RECORD = "/onep:v1/stack/record"


@pytest.fixture
def resources(connector):
    make_resource(connector=connector, alias="temp", format="integer", unit="°C")
    make_resource(connector=connector, alias="humidity", format="float", allowed=["0-100"])
    make_resource(connector=connector, alias="name", format="string")
    make_resource(connector=connector, alias="on", format="boolean")
    make_resource(connector=connector, alias="mode", format="string", allowed=["heat", "cool", "off"])
    make_resource(connector=connector, alias="level", format="number", allowed=[1, 2.5, "10-20"])
    make_resource(connector=connector, alias="setpoint", format="number", settable=True)
    make_resource(connector=connector, alias="fan", format="string", settable=True, sync=False)
    make_resource(connector=connector, alias="gain", format="float", settable=True)
    connector.refresh_from_db()
    return connector


@pytest.fixture
def device(token_device, resources):
    return token_device


def write(client, device, body: str, query: str = ""):
    return client.post(ALIAS + (f"?{query}" if query else ""), content=body, headers=device.headers)


def read(client, device, query: str):
    return client.get(f"{ALIAS}?{query}", headers=device.headers)


def cloud_set(owner_api, connector, identity: str, values: dict):
    return owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{identity}/state/", values, format="json"
    )


# --- write ----------------------------------------------------------------------------------


def test_write_stores_reported_values(device_client, device, device_state):
    response = write(device_client, device, "temp=21&name=kitchen")
    assert response.status_code == 204
    assert response.content == b""
    state = device_state(device.identity)
    assert state["temp"]["reported"] == "21"
    assert state["name"]["reported"] == "kitchen"
    assert state["temp"]["set"] == "21"


def test_write_adds_each_value_to_history(device_client, device, history):
    write(device_client, device, "temp=20")
    write(device_client, device, "temp=21")
    assert [value for _, value in history(device.identity, "temp")] == ["21", "20"]


def test_all_aliases_of_one_write_share_one_server_timestamp(device_client, device, device_state, history):
    before = time.time_ns() // 1000
    write(device_client, device, "temp=21&name=kitchen&on=true")
    after = time.time_ns() // 1000
    state = device_state(device.identity)
    stamps = {state[a]["timestamp"] for a in ("temp", "name", "on")}
    assert len(stamps) == 1
    (stamp,) = stamps
    assert before <= stamp <= after
    assert {history(device.identity, a)[0][0] for a in ("temp", "name", "on")} == {stamp}


def test_later_write_replaces_the_reported_value(device_client, device, device_state):
    write(device_client, device, "temp=20")
    write(device_client, device, "temp=22")
    assert device_state(device.identity)["temp"]["reported"] == "22"


def test_write_decodes_percent_encoding_on_both_sides(device_client, device, device_state):
    response = write(device_client, device, "name=caf%C3%A9+%26+bar%3Dbaz")
    assert response.status_code == 204
    assert device_state(device.identity)["name"]["reported"] == "café & bar=baz"


def test_write_without_credentials_is_401(device_client, device, device_state):
    response = device_client.post(ALIAS, content="temp=21")
    assert response.status_code == 401
    assert "temp" not in device_state(device.identity)


@pytest.mark.parametrize(
    "token",
    ["0" * 40, "not-a-token", "0123456789abcdef0123456789abcdef0123456", ""],
    ids=["unknown", "malformed", "39-characters", "empty"],
)
def test_write_with_a_bad_token_is_401(device_client, device, device_state, token):
    response = device_client.post(ALIAS, content="temp=21", headers={"X-Exosite-CIK": token})
    assert response.status_code == 401
    assert "temp" not in device_state(device.identity)


def test_token_is_accepted_in_any_case(device_client, device, device_state):
    response = device_client.post(ALIAS, content="temp=21", headers={"X-Exosite-CIK": device.token.upper()})
    assert response.status_code == 204


def test_token_of_another_connectors_device_is_401(device_client, device, business, wsgi_client_from):
    other = make_connector(business=business, name="Other", devmode=True)
    make_resource(connector=other, alias="temp", format="integer")
    other_token = activate(wsgi_client_from(other), "sensor-1").text
    response = device_client.post(ALIAS, content="temp=21", headers={"X-Exosite-CIK": other_token})
    assert response.status_code == 401


def test_locked_device_cannot_write(device_client, device, connector, owner_api, device_state):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/", {"locked": True}, format="json"
    )
    response = write(device_client, device, "temp=21")
    assert response.status_code == 403
    assert "temp" not in device_state(device.identity)


def test_locked_device_cannot_read(device_client, device, connector, owner_api):
    write(device_client, device, "temp=21")
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/", {"locked": True}, format="json"
    )
    response = read(device_client, device, "temp")
    assert response.status_code == 403
    assert "temp=21" not in response.text


def test_unlocked_device_writes_again(device_client, device, connector, owner_api):
    url = f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/"
    owner_api.patch(url, {"locked": True}, format="json")
    owner_api.patch(url, {"locked": False}, format="json")
    assert write(device_client, device, "temp=21").status_code == 204


def test_revoked_device_credentials_are_401(device_client, device, connector, owner_api):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/",
        {"auth": {"expire": 0}},
        format="json",
    )
    assert write(device_client, device, "temp=21").status_code == 401


def test_deleted_device_credentials_are_401(device_client, device, connector, owner_api):
    owner_api.delete(f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/")
    assert write(device_client, device, "temp=21").status_code == 401


def test_plain_http_write_is_refused_once_devmode_is_turned_off(
    device_client, device, connector, device_state
):
    connector_update(connector=connector, changes={"devmode": False})
    response = write(device_client, device, "temp=21")
    assert response.status_code == 403
    assert "temp" not in device_state(device.identity)


def test_https_write_works_with_devmode_off(device, connector, wsgi_client_from):
    connector_update(connector=connector, changes={"devmode": False})
    client = wsgi_client_from(connector, scheme="https")
    assert write(client, device, "temp=21").status_code == 204


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "temp=abc", "temp=21.5", "temp=", "humidity=wet", "humidity=101", "humidity=-1", "on=yes",
        "mode=dry", "level=3", "level=21", "level=nan", "setpoint=inf", "setpoint=1e999",
        "setpoint=-1e999", "gain=1e999", "gain=-1E400", "gain=Infinity",
    ],
)  # fmt: skip
def test_value_that_does_not_fit_its_resource_is_400_naming_the_alias(
    device_client, device, device_state, body
):
    alias = body.split("=")[0]
    response = write(device_client, device, body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert alias in response.text
    assert alias not in device_state(device.identity)


@pytest.mark.parametrize(
    "body",
    [
        "temp=-5", "temp=%2B7", "humidity=0", "humidity=100", "humidity=55.5", "on=true", "on=FALSE",
        "on=1", "on=0", "mode=cool", "level=1", "level=2.5", "level=10", "level=15.25", "level=20",
        "setpoint=1e3", "setpoint=-0.5", "name=", "name=anything+goes",
    ],
)  # fmt: skip
def test_value_that_fits_its_resource_is_stored(device_client, device, device_state, body):
    alias = body.split("=")[0]
    assert write(device_client, device, body).status_code == 204
    assert alias in device_state(device.identity)


def test_a_number_too_large_to_be_finite_is_refused_as_such(device_client, device, device_state):
    response = write(device_client, device, "gain=1e999")
    assert response.status_code == 400
    assert response.text == "gain: '1e999' is not a finite float (too large)"
    assert "gain" not in device_state(device.identity)


def test_record_of_a_number_too_large_to_be_finite_is_400(device_client, device, history):
    response = device_client.post(RECORD, content="alias=gain&1700000000=1e999", headers=device.headers)
    assert response.status_code == 400
    assert history(device.identity, "gain") == []


@pytest.mark.parametrize("alias", ["gain", "setpoint", "fan"])
@pytest.mark.parametrize("route", ["api", "device2"])
def test_cloud_set_of_a_json_number_too_large_to_be_finite_is_400(
    owner_api, connector, device, device_state, alias, route
):
    # JSON's 1e999 parses as infinity: refused for every format, strings included.
    url = {
        "api": f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/state/",
        "device2": f"/api:1/service/{connector.pk}/device2/identity/{device.identity}/state",
    }[route]
    response = owner_api.patch(url, f'{{"{alias}": 1e999}}', content_type="application/json")
    assert response.status_code == 400
    assert "finite" in str(response.json()[alias])
    assert alias not in device_state(device.identity)


@pytest.mark.parametrize(
    "fields",
    [{"initial": "1e999"}, {"allowed": ["1e999"]}, {"allowed": ["0-1" + "0" * 400]}],
    ids=["initial", "allowed-value", "allowed-range"],
)
def test_resource_with_a_number_too_large_to_be_finite_is_400(owner_api, connector, fields):
    response = owner_api.post(
        f"/api/v1/connectors/{connector.pk}/resources/", {"alias": "big", "format": "float", **fields},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert list(response.json()) == list(fields)


def test_resource_initial_given_as_a_json_number_too_large_to_be_finite_is_400(owner_api, connector):
    response = owner_api.post(
        f"/api/v1/connectors/{connector.pk}/resources/",
        '{"alias": "big", "format": "string", "initial": 1e999}', content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert list(response.json()) == ["initial"]


def test_one_bad_value_rejects_the_whole_write(device_client, device, device_state, history):
    write(device_client, device, "name=before")
    response = write(device_client, device, "name=after&temp=hot&on=true")
    assert response.status_code == 400
    assert "temp" in response.text
    state = device_state(device.identity)
    assert state["name"]["reported"] == "before"
    assert "on" not in state
    assert [v for _, v in history(device.identity, "name")] == ["before"]


def test_string_of_64_kb_is_accepted(device_client, device, device_state):
    value = "x" * MAX_VALUE_BYTES
    assert write(device_client, device, f"name={value}").status_code == 204
    assert device_state(device.identity)["name"]["reported"] == value


def test_string_over_64_kb_is_400(device_client, device, device_state):
    response = write(device_client, device, "name=" + "x" * (MAX_VALUE_BYTES + 1))
    assert response.status_code == 400
    assert "name" in response.text
    assert "name" not in device_state(device.identity)


def test_string_size_counts_bytes_not_characters(device_client, device, device_state):
    # 32,769 two-byte characters: 65,538 bytes.
    response = write(device_client, device, "name=" + "%C3%A9" * (MAX_VALUE_BYTES // 2 + 1))
    assert response.status_code == 400
    assert "name" not in device_state(device.identity)


def test_value_with_a_nul_character_is_400(device_client, device, device_state):
    response = write(device_client, device, "name=a%00b")
    assert response.status_code == 400
    assert "name" in response.text
    assert "name" not in device_state(device.identity)


def test_changed_resource_rules_apply_at_once(device_client, device, connector):
    assert write(device_client, device, "mode=dry").status_code == 400
    resource_update(resource=connector.resources.get(alias="mode"), allowed=["heat", "cool", "off", "dry"])
    assert write(device_client, device, "mode=dry").status_code == 204


# --- undefined aliases ----------------------------------------------------------------------


def test_write_to_an_undefined_alias_is_accepted_but_not_stored(device_client, device, device_state, events):
    response = write(device_client, device, "nosuchthing=42")
    assert response.status_code == 204
    assert "nosuchthing" not in device_state(device.identity)
    assert not DeviceState.objects.filter(alias="nosuchthing").exists()
    assert not ValuePoint.objects.filter(alias="nosuchthing").exists()
    (data_in,) = events("data_in")
    assert data_in["payload"][0]["values"] == {"nosuchthing": "42"}


def test_read_of_an_undefined_alias_returns_nothing(device_client, device):
    write(device_client, device, "nosuchthing=42")
    response = read(device_client, device, "nosuchthing")
    assert response.status_code == 204
    assert response.content == b""


def test_undefined_alias_is_not_validated(device_client, device):
    assert write(device_client, device, "nosuchthing=" + "x" * (MAX_VALUE_BYTES + 10)).status_code == 204


def test_defined_and_undefined_aliases_in_one_write(device_client, device, device_state, events):
    assert write(device_client, device, "temp=21&extra=yes").status_code == 204
    state = device_state(device.identity)
    assert state["temp"]["reported"] == "21"
    assert "extra" not in state
    assert events("data_in")[0]["payload"][0]["values"] == {"temp": "21", "extra": "yes"}


def test_alias_defined_later_starts_empty(device_client, device, connector):
    write(device_client, device, "later=1")
    make_resource(connector=connector, alias="later", format="integer")
    assert read(device_client, device, "later").status_code == 204


# --- read -----------------------------------------------------------------------------------


def test_read_returns_the_values_named(device_client, device):
    write(device_client, device, "temp=21&name=kitchen")
    response = read(device_client, device, "temp&name")
    assert response.status_code == 200
    assert response.text == "temp=21&name=kitchen"


def test_read_answers_in_the_order_asked(device_client, device):
    write(device_client, device, "temp=21&name=kitchen")
    assert read(device_client, device, "name&temp").text == "name=kitchen&temp=21"


def test_read_percent_encodes_values(device_client, device):
    from urllib.parse import parse_qsl

    write(device_client, device, "name=caf%C3%A9+%26+bar%3Dbaz%25")
    response = read(device_client, device, "name")
    assert response.status_code == 200
    assert "&" not in response.text.partition("=")[2]
    assert dict(parse_qsl(response.text)) == {"name": "café & bar=baz%"}


def test_read_of_aliases_without_values_is_204(device_client, device):
    response = read(device_client, device, "temp&name")
    assert response.status_code == 204
    assert response.content == b""


def test_read_leaves_out_aliases_without_values(device_client, device):
    write(device_client, device, "temp=21")
    response = read(device_client, device, "temp&name&nosuchthing")
    assert response.status_code == 200
    assert response.text == "temp=21"


def test_read_returns_the_initial_value_before_any_write(device_client, device, connector):
    make_resource(connector=connector, alias="interval", format="integer", initial="60")
    assert read(device_client, device, "interval").text == "interval=60"
    write(device_client, device, "interval=30")
    assert read(device_client, device, "interval").text == "interval=30"


def test_read_without_credentials_is_401(device_client, device):
    write(device_client, device, "temp=21")
    response = device_client.get(f"{ALIAS}?temp")
    assert response.status_code == 401
    assert "21" not in response.text


def test_read_of_a_repeated_alias_answers_it_once(device_client, device):
    write(device_client, device, "temp=21")
    assert read(device_client, device, "temp&temp").text == "temp=21"


# --- hybrid ---------------------------------------------------------------------------------


def test_hybrid_writes_then_reads(device_client, device):
    response = write(device_client, device, "temp=23&name=hall", query="temp&name")
    assert response.status_code == 200
    assert response.text == "temp=23&name=hall"


def test_hybrid_reads_other_aliases(device_client, device):
    write(device_client, device, "name=hall")
    response = write(device_client, device, "temp=23", query="name")
    assert response.status_code == 200
    assert response.text == "name=hall"


def test_hybrid_read_without_values_is_204(device_client, device, device_state):
    response = write(device_client, device, "temp=23", query="mode")
    assert response.status_code == 204
    assert device_state(device.identity)["temp"]["reported"] == "23"


def test_hybrid_with_a_bad_value_writes_and_reads_nothing(device_client, device, device_state, events):
    write(device_client, device, "temp=20")
    response = write(device_client, device, "temp=hot", query="temp")
    assert response.status_code == 400
    assert "temp=" not in response.text
    assert device_state(device.identity)["temp"]["reported"] == "20"
    assert [e["payload"]["aliases"] for e in events("read")] == []


def test_hybrid_returns_the_pending_cloud_value_of_a_settable_resource(
    device_client, device, connector, owner_api
):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    response = write(device_client, device, "setpoint=17", query="setpoint")
    assert response.status_code == 200
    assert response.text == "setpoint=19"


def test_hybrid_errors_are_those_of_write(device_client, device):
    response = device_client.post(f"{ALIAS}?temp", content="temp=1")
    assert response.status_code == 401


# --- record ---------------------------------------------------------------------------------


def test_record_stores_every_point_in_history(device_client, device, history):
    body = "alias=temp&1700000000=20&1700000060=21&alias=name&1700000030=kitchen"
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 204
    assert history(device.identity, "temp") == [(1_700_000_060_000_000, "21"), (1_700_000_000_000_000, "20")]
    assert history(device.identity, "name") == [(1_700_000_030_000_000, "kitchen")]


def test_record_moves_the_reported_value_to_the_newest_point(device_client, device, device_state):
    body = "alias=temp&1700000060=21&1700000000=20"
    device_client.post(RECORD, content=body, headers=device.headers)
    state = device_state(device.identity)["temp"]
    assert state["reported"] == "21"
    assert state["timestamp"] == 1_700_000_060_000_000


def test_record_of_older_points_leaves_the_reported_value(device_client, device, device_state, history):
    write(device_client, device, "temp=25")
    written = device_state(device.identity)["temp"]
    response = device_client.post(RECORD, content="alias=temp&1700000000=20", headers=device.headers)
    assert response.status_code == 204
    assert device_state(device.identity)["temp"] == written
    assert [v for _, v in history(device.identity, "temp")] == ["25", "20"]
    assert read(device_client, device, "temp").text == "temp=25"


def test_record_of_a_newer_point_moves_the_reported_value(device_client, device, device_state):
    write(device_client, device, "temp=25")
    future = int(time.time()) + 3600
    device_client.post(RECORD, content=f"alias=temp&{future}=30", headers=device.headers)
    assert device_state(device.identity)["temp"]["reported"] == "30"
    assert read(device_client, device, "temp").text == "temp=30"


def test_record_accepts_fractional_seconds(device_client, device, history):
    body = "alias=temp&1700000000.25=20&1700000000.5=21&1700000000.123456=22"
    assert device_client.post(RECORD, content=body, headers=device.headers).status_code == 204
    assert [ts for ts, _ in history(device.identity, "temp")] == [
        1_700_000_000_500_000, 1_700_000_000_250_000, 1_700_000_000_123_456,
    ]  # fmt: skip


def test_record_with_duplicated_timestamps_is_409_naming_them(device_client, device, history):
    body = "alias=temp&1700000000=20&1700000000=21&1700000001.5=1&1700000001.5=2&1700000002=3"
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 409
    assert response.text == "temp=1700000000,1700000001.5"
    assert history(device.identity, "temp") == []


def test_record_duplicates_across_repeated_alias_groups_are_409(device_client, device, history):
    body = "alias=temp&1700000000=20&alias=name&1700000000=x&alias=temp&1700000000=21"
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 409
    assert response.text == "temp=1700000000"
    assert history(device.identity, "name") == []


def test_record_names_duplicates_of_every_alias(device_client, device):
    body = "alias=temp&1=20&1=21&alias=name&2=a&2=b"
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 409
    assert response.text == "temp=1&name=2"


def test_record_with_a_bad_value_is_400_and_stores_nothing(device_client, device, history, device_state):
    body = "alias=name&1700000000=ok&alias=temp&1700000000=20&1700000001=hot"
    response = device_client.post(RECORD, content=body, headers=device.headers)
    assert response.status_code == 400
    assert "temp" in response.text
    assert history(device.identity, "temp") == []
    assert history(device.identity, "name") == []
    assert device_state(device.identity) == {}


def test_record_of_an_undefined_alias_is_accepted_but_not_stored(device_client, device, device_state):
    response = device_client.post(RECORD, content="alias=nosuchthing&1700000000=1", headers=device.headers)
    assert response.status_code == 204
    assert not ValuePoint.objects.filter(alias="nosuchthing").exists()
    assert device_state(device.identity) == {}


def test_record_without_credentials_is_401(device_client, device, history):
    response = device_client.post(RECORD, content="alias=temp&1700000000=20")
    assert response.status_code == 401
    assert history(device.identity, "temp") == []


def test_locked_device_cannot_record(device_client, device, connector, owner_api, history):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/", {"locked": True}, format="json"
    )
    response = device_client.post(RECORD, content="alias=temp&1700000000=20", headers=device.headers)
    assert response.status_code == 403
    assert history(device.identity, "temp") == []


# --- set and reported -----------------------------------------------------------------------


def test_read_returns_reported_for_a_resource_that_is_not_settable(device_client, device, device_state):
    write(device_client, device, "temp=21")
    assert read(device_client, device, "temp").text == "temp=21"
    state = device_state(device.identity)["temp"]
    assert (state["reported"], state["set"]) == ("21", "21")


def test_cloud_cannot_set_a_resource_that_is_not_settable(
    device_client, device, connector, owner_api, device_state
):
    write(device_client, device, "temp=21")
    response = cloud_set(owner_api, connector, device.identity, {"temp": 30})
    assert response.status_code == 400
    assert "temp" in response.json()
    assert device_state(device.identity)["temp"]["set"] == "21"


def test_cloud_set_changes_only_set(device_client, device, connector, owner_api, device_state):
    write(device_client, device, "setpoint=17")
    response = cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    assert response.status_code == 200
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == ("17", "19")


def test_read_returns_set_for_a_settable_resource(device_client, device, connector, owner_api):
    write(device_client, device, "setpoint=17")
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    assert read(device_client, device, "setpoint").text == "setpoint=19"


def test_cloud_set_before_any_device_write_is_read_by_the_device(
    device_client, device, connector, owner_api, device_state
):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == (None, "19")
    assert read(device_client, device, "setpoint").text == "setpoint=19"


def test_device_write_keeps_a_pending_cloud_set(device_client, device, connector, owner_api, device_state):
    write(device_client, device, "setpoint=17")
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    write(device_client, device, "setpoint=18")
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == ("18", "19")
    assert read(device_client, device, "setpoint").text == "setpoint=19"


def test_device_acknowledging_a_cloud_set_ends_it(device_client, device, connector, owner_api, device_state):
    write(device_client, device, "setpoint=17")
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    write(device_client, device, "setpoint=19")
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == ("19", "19")
    # Nothing pending any more: the device's next write sets both.
    write(device_client, device, "setpoint=16")
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == ("16", "16")
    assert read(device_client, device, "setpoint").text == "setpoint=16"


def test_record_keeps_a_pending_cloud_set(device_client, device, connector, owner_api, device_state):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})
    future = int(time.time()) + 60
    device_client.post(RECORD, content=f"alias=setpoint&{future}=18", headers=device.headers)
    state = device_state(device.identity)["setpoint"]
    assert (state["reported"], state["set"]) == ("18", "19")


def test_cloud_set_with_sync_off_keeps_set_and_reported_equal(
    device_client, device, connector, owner_api, device_state, history
):
    write(device_client, device, "fan=low")
    response = cloud_set(owner_api, connector, device.identity, {"fan": "high"})
    assert response.status_code == 200
    state = device_state(device.identity)["fan"]
    assert (state["reported"], state["set"]) == ("high", "high")
    assert [v for _, v in history(device.identity, "fan")] == ["high", "low"]
    write(device_client, device, "fan=medium")
    state = device_state(device.identity)["fan"]
    assert (state["reported"], state["set"]) == ("medium", "medium")
    assert read(device_client, device, "fan").text == "fan=medium"


def test_cloud_set_is_validated_as_device_writes_are(
    device_client, device, connector, owner_api, device_state
):
    make_resource(connector=connector, alias="target", format="integer", settable=True, allowed=["10-30"])
    response = cloud_set(owner_api, connector, device.identity, {"target": 31})
    assert response.status_code == 400
    assert "target" in response.json()
    assert "target" not in device_state(device.identity)
    assert cloud_set(owner_api, connector, device.identity, {"target": 30}).status_code == 200


def test_cloud_set_of_an_undefined_alias_is_400(device, connector, owner_api):
    response = cloud_set(owner_api, connector, device.identity, {"nosuchthing": 1})
    assert response.status_code == 400


def test_viewer_cannot_set_cloud_values(device, connector, api, viewer, device_state):
    response = api(viewer).patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/state/", {"setpoint": 1}, format="json"
    )
    assert response.status_code == 403
    assert "setpoint" not in device_state(device.identity)


def test_state_of_a_whitelisted_device_is_empty(connector, resources, device_state):
    make_device(connector=connector, identity="fresh")
    assert device_state("fresh") == {}
