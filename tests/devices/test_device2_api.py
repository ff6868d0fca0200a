"""Murano Device2 compatibility routes: ``/api:1/service/<connector-id>/device2/identity/...``."""

import time

import pytest

from devices.models import Device, DeviceState
from tests.factories import make_connector, make_device, make_resource

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def identity_url(connector, identity: str) -> str:
    return f"/api:1/service/{connector.pk}/device2/identity/{identity}"


def now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture
def client(api, owner):
    return api(owner)


# --- whitelist (PUT) -------------------------------------------------------------------------


def test_put_whitelists_the_identity_as_the_seeds_do(client, connector):
    expire = now_us() + 86_400_000_000

    response = client.put(
        identity_url(connector, "th-001"), {"auth": {"expire": expire}, "locked": False}, format="json"
    )

    assert response.status_code == 204
    assert response.content == b""
    created = Device.objects.get(connector=connector, identity="th-001")
    assert created.locked is False
    assert abs(created.activation_deadline.timestamp() * 1e6 - expire) <= 1


def test_put_with_an_empty_body_uses_the_default_window(client, connector):
    response = client.put(identity_url(connector, "th-001"), {}, format="json")

    assert response.status_code == 204
    assert client.get(identity_url(connector, "th-001")).json()["status"] == "whitelisted"


def test_put_with_tags_and_lock(client, connector):
    client.put(
        identity_url(connector, "th-001"),
        {"locked": True, "tags": [{"name": "batch", "value": "7"}]},
        format="json",
    )

    body = client.get(identity_url(connector, "th-001")).json()

    assert (body["locked"], body["status"]) == (True, "locked")
    assert body["tags"] == [{"name": "batch", "value": "7"}]


def test_put_with_a_known_token_provisions_the_device(client, connector, device_client):
    response = client.put(identity_url(connector, "th-001"), {"auth": {"key": TOKEN}}, format="json")

    assert response.status_code == 204
    assert client.get(identity_url(connector, "th-001")).json()["status"] == "provisioned"
    assert device_client.get("/onep:v1/stack/alias?x", headers={"X-Exosite-CIK": TOKEN}).status_code == 204


def test_put_of_an_existing_identity_is_refused_and_changes_nothing(client, connector):
    make_device(connector=connector, identity="th-001")

    response = client.put(identity_url(connector, "th-001"), {"locked": True}, format="json")

    assert response.status_code == 409
    assert response.json() == {"identity": ["this identity is already whitelisted"]}
    assert Device.objects.get().locked is False


def test_put_of_an_identity_outside_the_format_is_refused(client, connector):
    client.patch(
        f"/api/v1/connectors/{connector.pk}/", {"identity_format": {"type": "mac:none"}}, format="json"
    )

    response = client.put(identity_url(connector, "not-a-mac"), {}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["identity"]
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"auth": {"expire": "soon"}},
        {"auth": {"expire": 10**20}},
        {"auth": {"type": "csr"}},
        {"locked": "perhaps"},
        [],
    ],
)
def test_put_with_a_bad_body_is_a_400(client, connector, payload):
    response = client.put(identity_url(connector, "th-001"), payload, format="json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert not Device.objects.exists()


# --- read (GET) ------------------------------------------------------------------------------


def test_get_answers_in_murano_shape(client, connector):
    make_resource(connector=connector, alias="mode", format="string", settable=True, initial="eco")
    make_device(connector=connector, identity="th-001", tags=[{"name": "site", "value": "lab"}])

    response = client.get(identity_url(connector, "th-001"))

    assert response.status_code == 200
    assert response.json() == {
        "identity": "th-001",
        "auth": {"type": None},
        "state": {"mode": {"reported": None, "set": "eco", "timestamp": None}},
        "locked": False,
        "reprovision": False,
        "devmode": False,
        "lastip": None,
        "lastseen": None,
        "status": "whitelisted",
        "online": False,
        "tags": [{"name": "site", "value": "lab"}],
    }


def test_get_shows_where_and_when_the_device_was_last_seen(client, connector, device_client):
    client.put(identity_url(connector, "th-001"), {}, format="json")
    before = now_us()
    token = device_client.post("/provision/activate", content="id=th-001").text

    device_client.get("/onep:v1/stack/alias?x", headers={"X-Exosite-CIK": token})
    body = client.get(identity_url(connector, "th-001")).json()

    assert body["auth"] == {"type": "token"}
    assert body["lastip"] == "203.0.113.7"
    assert before - 1_000_000 <= body["lastseen"] <= now_us()
    assert body["online"] is True
    assert body["devmode"] is True  # it spoke plain HTTP
    assert body["status"] == "devmode"


def test_get_of_an_unknown_identity_is_a_json_404(client, connector):
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(identity_url(connector, "nope"), {}, format="json")
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
    assert client.get(identity_url(connector, "nope") + "/state").status_code == 404


# --- change (PATCH) and remove (DELETE) ------------------------------------------------------


def test_patch_locks_and_answers_204(client, connector):
    make_device(connector=connector, identity="th-001")

    response = client.patch(identity_url(connector, "th-001"), {"locked": True}, format="json")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(identity_url(connector, "th-001")).json()["status"] == "locked"


def test_patch_expire_zero_flags_the_device_for_reprovisioning(client, connector, device_client):
    make_device(connector=connector, identity="th-001", key=TOKEN)

    response = client.patch(identity_url(connector, "th-001"), {"auth": {"expire": 0}}, format="json")

    assert response.status_code == 204
    body = client.get(identity_url(connector, "th-001")).json()
    assert (body["reprovision"], body["status"]) == (True, "reprovision")
    assert device_client.get("/onep:v1/stack/alias?x", headers={"X-Exosite-CIK": TOKEN}).status_code == 401


def test_patch_moves_the_activation_deadline(client, connector):
    make_device(connector=connector, identity="th-001", expire_us=now_us() - 1)
    assert client.get(identity_url(connector, "th-001")).json()["status"] == "expired"

    response = client.patch(
        identity_url(connector, "th-001"), {"auth": {"expire": now_us() + 3_600_000_000}}, format="json"
    )

    assert response.status_code == 204
    assert client.get(identity_url(connector, "th-001")).json()["status"] == "whitelisted"


def test_patch_with_a_bad_body_is_a_400(client, connector):
    make_device(connector=connector, identity="th-001")

    response = client.patch(identity_url(connector, "th-001"), {"locked": "perhaps"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["locked"]


def test_delete_answers_205_and_the_identity_is_gone(client, connector):
    make_device(connector=connector, identity="th-001")

    response = client.delete(identity_url(connector, "th-001"))

    assert response.status_code == 205
    assert response.content == b""
    assert client.get(identity_url(connector, "th-001")).status_code == 404
    assert client.put(identity_url(connector, "th-001"), {}, format="json").status_code == 204


# --- state -----------------------------------------------------------------------------------


@pytest.fixture
def thermostat(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="setpoint", format="integer", allowed=["5-30"], settable=True)
    return make_device(connector=connector, identity="th-001", key=TOKEN)


def test_state_patch_sets_cloud_values_and_answers_204(client, connector, thermostat):
    response = client.patch(identity_url(connector, "th-001") + "/state", {"setpoint": 22}, format="json")

    assert response.status_code == 204
    state = client.get(identity_url(connector, "th-001") + "/state")
    assert state.status_code == 200
    assert state.json()["setpoint"]["set"] == "22"
    assert state.json()["setpoint"]["reported"] is None
    assert client.get(identity_url(connector, "th-001")).json()["state"] == state.json()


@pytest.mark.parametrize(
    "values, alias", [({"setpoint": 99}, "setpoint"), ({"temp": 1}, "temp"), ({"x": 1}, "x")]
)
def test_state_patch_is_validated(client, connector, thermostat, values, alias):
    response = client.patch(identity_url(connector, "th-001") + "/state", values, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [alias]
    assert not DeviceState.objects.exists()


def test_a_cloud_value_set_through_device2_is_what_the_device_reads(
    client, connector, thermostat, device_client
):
    client.patch(identity_url(connector, "th-001") + "/state", {"setpoint": 22}, format="json")

    response = device_client.get("/onep:v1/stack/alias?setpoint", headers={"X-Exosite-CIK": TOKEN})

    assert response.text == "setpoint=22"


# --- access control --------------------------------------------------------------------------


@pytest.fixture
def as_role(request, api):
    def make(role):
        return api() if role == "anonymous" else api(request.getfixturevalue(role))

    return make


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_read_through_device2(as_role, connector, thermostat, role, expected):
    client = as_role(role)

    for url in (identity_url(connector, "th-001"), identity_url(connector, "th-001") + "/state"):
        response = client.get(url)
        assert response.status_code == expected
        if expected != 200:
            assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "role, refused",
    [("owner", None), ("developer", None), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_change_through_device2(as_role, connector, thermostat, role, refused):
    client = as_role(role)
    th1 = identity_url(connector, "th-001")
    calls = [
        (client.put, identity_url(connector, "th-002"), {}, 204),
        (client.patch, th1, {"locked": True}, 204),
        (client.patch, th1 + "/state", {"setpoint": 20}, 204),
        (client.delete, th1, None, 205),
    ]

    for call, url, payload, success in calls:
        response = call(url, payload, format="json")
        assert response.status_code == (refused or success), url
        if refused:
            assert set(response.json()) == {"detail"}

    identities = sorted(Device.objects.values_list("identity", flat=True))
    if refused:
        assert identities == ["th-001"]
        assert Device.objects.get().locked is False
        assert not DeviceState.objects.exists()
    else:
        assert identities == ["th-002"]


def test_an_unknown_connector_is_a_404_even_for_a_put(client):
    response = client.put("/api:1/service/zzzzzzzzzzzzzzzzz/device2/identity/th-001", {}, format="json")

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


# --- list (GET .../device2/identity/) --------------------------------------------------------


def list_url(connector) -> str:
    return f"/api:1/service/{connector.pk}/device2/identity/"


def test_the_list_answers_devices_in_murano_shape(client, connector):
    make_resource(connector=connector, alias="mode", format="string", settable=True, initial="eco")
    make_device(connector=connector, identity="th-002")
    make_device(connector=connector, identity="th-001", tags=[{"name": "site", "value": "lab"}])

    response = client.get(list_url(connector))

    assert response.status_code == 200
    body = response.json()
    assert body["mayLoadMore"] is False
    assert [d["identity"] for d in body["devices"]] == ["th-001", "th-002"]
    # Each entry is what GET .../identity/<identity> answers for that device.
    assert body["devices"][0] == client.get(identity_url(connector, "th-001")).json()
    assert body["devices"][0]["tags"] == [{"name": "site", "value": "lab"}]
    assert body["devices"][1]["state"] == {"mode": {"reported": None, "set": "eco", "timestamp": None}}


def test_the_list_pages_by_offset_and_says_when_more_follow(client, connector):
    for n in range(5):
        make_device(connector=connector, identity=f"th-{n}")

    def page(**query):
        body = client.get(list_url(connector), query).json()
        return [d["identity"] for d in body["devices"]], body["mayLoadMore"]

    assert page(limit=2) == (["th-0", "th-1"], True)
    assert page(limit=2, offset=2) == (["th-2", "th-3"], True)
    assert page(limit=2, offset=4) == (["th-4"], False)
    assert page(limit=2, offset=9) == ([], False)
    assert page(limit=5) == ([f"th-{n}" for n in range(5)], False)


def test_the_list_filters_by_status_identity_and_tags(client, connector):
    make_device(connector=connector, identity="th-1", tags=[{"name": "site", "value": "lab"}])
    both = [{"name": "site", "value": "lab"}, {"name": "batch", "value": "7"}]
    make_device(connector=connector, identity="th-2", tags=both, locked=True)
    make_device(connector=connector, identity="tx-3", tags=[{"name": "site", "value": "plant"}])

    def identities(**query):
        response = client.get(list_url(connector), query)
        assert response.status_code == 200
        return [d["identity"] for d in response.json()["devices"]]

    assert identities(status="locked") == ["th-2"]
    assert identities(status="whitelisted") == ["th-1", "tx-3"]
    assert identities(identity="th") == ["th-1", "th-2"]
    assert identities(tag="site:lab") == ["th-1", "th-2"]
    assert identities(tag=["site:lab", "batch:7"]) == ["th-2"]
    assert identities(tag="site", identity="tx") == ["tx-3"]


def test_the_list_only_holds_this_connectors_devices(client, business, connector):
    other = make_connector(business=business, name="Other")
    make_device(connector=other, identity="th-1")

    assert client.get(list_url(connector)).json() == {"devices": [], "mayLoadMore": False}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": str(10**12)}, "offset"),
        ({"status": "sleeping"}, "status"),
        ({"identity": "a\x00"}, "identity"),
        ({"tag": ""}, "tag"),
        ({"tag": ":lab"}, "tag"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_them(client, connector, query, field):
    response = client.get(list_url(connector), query)

    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_list_through_device2(as_role, connector, thermostat, role, expected):
    response = as_role(role).get(list_url(connector))

    assert response.status_code == expected
    if expected == 200:
        assert [d["identity"] for d in response.json()["devices"]] == ["th-001"]
    else:
        assert set(response.json()) == {"detail"}


# --- gateway settings (GET/PATCH .../device2) ------------------------------------------------


def gateway_url(connector) -> str:
    return f"/api:1/service/{connector.pk}/device2"


def test_gateway_settings_are_the_connectors_device_settings_and_resources(client, connector):
    make_resource(connector=connector, alias="temp", format="number", unit="C")

    response = client.get(gateway_url(connector))

    assert response.status_code == 200
    body = response.json()
    v1 = client.get(f"/api/v1/connectors/{connector.pk}/").json()
    assert set(body) == {"fqdn", "protocol", "identity_format", "provisioning", "resources"}
    assert body["fqdn"] == v1["device_host"]
    for key in ("protocol", "identity_format", "provisioning"):
        assert body[key] == v1[key], key
    assert body["resources"] == {
        "temp": {"alias": "temp", "format": "number", "unit": "C", "allowed": [], "settable": False,
                 "initial": None, "sync": True},
    }  # fmt: skip


def test_patching_gateway_settings_merges_nested_keys(client, connector):
    response = client.patch(
        gateway_url(connector),
        {"provisioning": {"presenter_identity": False}, "identity_format": {"prefix": "th-"}},
        format="json",
    )

    assert response.status_code == 200
    v1 = client.get(f"/api/v1/connectors/{connector.pk}/").json()
    assert v1["provisioning"]["presenter_identity"] is False
    assert v1["provisioning"]["enabled"] is True  # untouched
    assert v1["identity_format"]["prefix"] == "th-"
    assert response.json()["provisioning"] == v1["provisioning"]


def test_patching_resources_defines_changes_and_removes_aliases(client, connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="old", format="string")
    make_resource(connector=connector, alias="kept", format="string")

    response = client.patch(
        gateway_url(connector),
        {
            "resources": {
                "temp": {"unit": "C"},
                "old": None,
                "setpoint": {"format": "integer", "settable": True},
            }
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    resources = client.get(f"/api/v1/connectors/{connector.pk}/resources/").json()
    assert {r["alias"]: (r["format"], r["unit"], r["settable"]) for r in resources} == {
        "kept": ("string", "", False),
        "setpoint": ("integer", "", True),
        "temp": ("number", "C", False),
    }
    assert set(response.json()["resources"]) == {"kept", "setpoint", "temp"}


def test_a_bad_gateway_patch_changes_nothing(client, connector):
    before_settings = client.get(gateway_url(connector)).json()
    make_resource(connector=connector, alias="temp", format="number")

    response = client.patch(
        gateway_url(connector),
        {"provisioning": {"presenter_identity": False},
         "resources": {"humidity": {"format": "number"}, "temp": {"format": "colour"}}},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert list(response.json()) == ["resources"]
    assert list(response.json()["resources"]) == ["temp"]
    after = client.get(gateway_url(connector)).json()
    assert after["provisioning"] == before_settings["provisioning"]
    assert set(after["resources"]) == {"temp"}
    assert after["resources"]["temp"]["format"] == "number"


@pytest.mark.parametrize(
    "payload, path",
    [
        ({"identity_format": {"type": "hexagonal"}}, ["identity_format", "type"]),
        ({"provisioning": {"activation_window_hours": 0}}, ["provisioning", "activation_window_hours"]),
        ({"provisioning": {"ip_whitelisting": {"allowed": ["10.0.0.0/33"]}}},
         ["provisioning", "ip_whitelisting", "allowed"]),
        ({"protocol": {"devmode": "sometimes"}}, ["protocol", "devmode"]),
        ({"resources": ["temp"]}, ["resources"]),
        ({"resources": {"temp": "number"}}, ["resources", "temp"]),
        ({"resources": {"te.mp": {"format": "number"}}}, ["resources", "te.mp", "alias"]),
        ({"resources": {"temp": {"format": "number", "allowed": "hot"}}}, ["resources", "temp", "allowed"]),
    ],
)  # fmt: skip
def test_invalid_gateway_settings_are_a_400_naming_the_field(client, connector, payload, path):
    response = client.patch(gateway_url(connector), payload, format="json")

    assert response.status_code == 400, response.content
    node = response.json()
    for key in path:
        assert isinstance(node, dict) and key in node, (path, response.json())
        node = node[key]
    assert node


@pytest.mark.parametrize(
    "role, refused",
    [("owner", None), ("developer", None), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_read_and_change_gateway_settings(as_role, connector, role, refused):
    client = as_role(role)

    read = client.get(gateway_url(connector))
    change = client.patch(gateway_url(connector), {"protocol": {"devmode": False}}, format="json")

    if refused is None:
        assert (read.status_code, change.status_code) == (200, 200)
        assert change.json()["protocol"] == {"devmode": False, "transports": ["http", "mqtt"]}
    else:
        assert read.status_code == (200 if refused == 403 else refused)
        assert change.status_code == refused
        assert set(change.json()) == {"detail"}
        connector.refresh_from_db()
        assert connector.devmode is True
