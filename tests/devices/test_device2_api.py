"""Murano Device2 compatibility routes: ``/api:1/service/<connector-id>/device2/identity/...``."""

import time

import pytest

from devices.models import Device, DeviceState
from tests.factories import make_device, make_resource

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

    assert response.status_code == 400
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
