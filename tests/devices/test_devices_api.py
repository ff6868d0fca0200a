"""Management API: ``/api/v1/connectors/<id>/devices/`` — whitelist, read, change, delete, state
and history; checked against what the device API then does with the same device."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from devices.models import Device, DeviceState, ValuePoint
from tests.factories import make_connector, make_device, make_resource

TOKEN = "0123456789abcdef0123456789abcdef01234567"
OTHER_TOKEN = "fedcba9876543210fedcba9876543210fedcba98"
DEVICE_PASSWORD = "a-device-password-of-32-bytes!!!"


def devices(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/devices/"


def device(connector, identity: str) -> str:
    return f"{devices(connector)}{identity}/"


def now_us() -> int:
    return time.time_ns() // 1000


def cik(token: str = TOKEN) -> dict:
    return {"X-Exosite-CIK": token}


@pytest.fixture
def client(api, owner):
    return api(owner)


# --- whitelisting ----------------------------------------------------------------------------


def test_whitelisting_an_identity_opens_the_default_48_hour_window(client, connector):
    before = datetime.now(UTC)

    response = client.post(devices(connector), {"identity": "th-001"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["identity"] == "th-001"
    assert body["status"] == "whitelisted"
    assert body["auth"] == {"type": None}
    assert body["locked"] is False
    assert body["reprovision"] is False
    assert body["online"] is False
    assert body["last_seen"] is None and body["last_ip"] is None and body["provisioned_at"] is None
    assert body["tags"] == []
    deadline = datetime.fromtimestamp(body["activation_deadline"] / 1e6, UTC)
    assert before + timedelta(hours=48) <= deadline <= datetime.now(UTC) + timedelta(hours=48)


def test_auth_expire_sets_the_activation_deadline_in_microseconds(client, connector):
    expire = now_us() + 3_600_000_000

    response = client.post(
        devices(connector), {"identity": "th-001", "auth": {"expire": expire}}, format="json"
    )

    assert response.status_code == 201
    assert abs(response.json()["activation_deadline"] - expire) <= 1
    assert response.json()["status"] == "whitelisted"


def test_a_deadline_in_the_past_makes_the_device_expired(client, connector):
    response = client.post(
        devices(connector), {"identity": "th-001", "auth": {"expire": now_us() - 1_000_000}}, format="json"
    )

    assert response.json()["status"] == "expired"


def test_the_connectors_activation_window_is_the_default(client, connector):
    client.patch(
        f"/api/v1/connectors/{connector.pk}/", {"provisioning": {"activation_window_hours": 2}}, format="json"
    )

    body = client.post(devices(connector), {"identity": "th-001"}, format="json").json()

    remaining = body["activation_deadline"] / 1e6 - time.time()
    assert 2 * 3600 - 60 < remaining <= 2 * 3600


def test_whitelisting_with_tags_and_locked(client, connector):
    response = client.post(
        devices(connector),
        {
            "identity": "th-001",
            "locked": True,
            "tags": [{"name": "batch", "value": "42"}, {"name": "site"}, {"name": "batch", "value": "42"}],
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["status"] == "locked"
    assert response.json()["locked"] is True
    assert response.json()["tags"] == [{"name": "batch", "value": "42"}, {"name": "site", "value": ""}]


def test_a_known_token_provisions_the_device_at_once(client, connector):
    response = client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "provisioned"
    assert body["auth"] == {"type": "token"}
    assert body["activation_deadline"] is None
    assert body["provisioned_at"] is not None
    assert TOKEN not in response.content.decode()


def test_the_token_is_not_stored_in_clear(client, connector):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    stored = Device.objects.values().get(identity="th-001")

    assert TOKEN not in {str(v) for v in stored.values()}


def test_a_known_token_works_on_the_device_api(client, connector, device_client):
    make_resource(connector=connector, alias="temp", format="integer")
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    written = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=cik())
    read = device_client.get("/onep:v1/stack/alias?temp", headers=cik())
    activate = device_client.post("/provision/activate", content="id=th-001")

    assert written.status_code == 204
    assert (read.status_code, read.text) == (200, "temp=21")
    assert activate.status_code == 409  # already provisioned
    body = client.get(device(connector, "th-001")).json()
    assert body["last_ip"] == "203.0.113.7"
    assert body["online"] is True


def test_an_upper_case_known_token_works_too(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN.upper()}}, format="json")

    assert device_client.get("/onep:v1/stack/alias?x", headers=cik(TOKEN)).status_code == 204


def test_a_known_password_provisions_a_password_device(client, connector, device_client):
    import base64

    response = client.post(
        devices(connector),
        {"identity": "th-001", "auth": {"type": "password", "key": DEVICE_PASSWORD}},
        format="json",
    )
    basic = base64.b64encode(f"th-001:{DEVICE_PASSWORD}".encode()).decode()
    wrong = base64.b64encode(b"th-001:not-the-password-at-all-123").decode()

    assert response.status_code == 201
    assert response.json()["auth"] == {"type": "password"}
    ok = device_client.get("/onep:v1/stack/alias?x", headers={"Authorization": f"Basic {basic}"})
    refused = device_client.get("/onep:v1/stack/alias?x", headers={"Authorization": f"Basic {wrong}"})
    assert ok.status_code == 204
    assert refused.status_code == 401


def test_a_whitelisted_device_activates_over_the_device_api(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001"}, format="json")

    activated = device_client.post("/provision/activate", content="id=th-001")

    assert activated.status_code == 200
    token = activated.text
    assert device_client.get("/onep:v1/stack/alias?x", headers=cik(token)).status_code == 204
    assert client.get(device(connector, "th-001")).json()["status"] == "devmode"  # plain HTTP


def test_an_expired_device_cannot_activate(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001", "auth": {"expire": now_us() - 1}}, format="json")

    assert device_client.post("/provision/activate", content="id=th-001").status_code == 409


@pytest.mark.parametrize("key", ["0123", TOKEN + "0", TOKEN[:-1] + "g", " " + TOKEN[1:], "z" * 40])
def test_a_known_token_must_be_40_hex_characters(client, connector, key):
    response = client.post(devices(connector), {"identity": "th-001", "auth": {"key": key}}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["auth"]
    assert not Device.objects.exists()


def test_a_short_known_password_is_refused(client, connector):
    response = client.post(
        devices(connector),
        {"identity": "th-001", "auth": {"type": "password", "key": "short"}},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["auth"]


def test_a_token_already_used_by_another_device_is_refused(client, connector):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    response = client.post(devices(connector), {"identity": "th-002", "auth": {"key": TOKEN}}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["auth"]
    assert list(Device.objects.values_list("identity", flat=True)) == ["th-001"]


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "csr", "key": "-----BEGIN CERTIFICATE REQUEST-----"},
        {"type": "kerberos"},
        {"expire": -1},
        {"expire": "tomorrow"},
        {"expire": 10**20},
        {"key": 12345},
        "token",
    ],
)
def test_bad_auth_is_refused(client, connector, auth):
    response = client.post(devices(connector), {"identity": "th-001", "auth": auth}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["auth"]
    assert not Device.objects.exists()


def test_the_identity_must_fit_the_connectors_identity_format(client, connector):
    client.patch(
        f"/api/v1/connectors/{connector.pk}/",
        {"identity_format": {"prefix": "th-", "type": "base10", "length": 4}},
        format="json",
    )

    good = client.post(devices(connector), {"identity": "th-0042"}, format="json")
    bad = [
        client.post(devices(connector), {"identity": identity}, format="json")
        for identity in ("0042", "th-42", "th-00a2", "th-", "th-0042/x")
    ]

    assert good.status_code == 201
    for response in bad:
        assert response.status_code == 400
        assert list(response.json()) == ["identity"]


@pytest.mark.parametrize("identity", ["", "a b", "é", "x" * 129, None, ["th-001"]])
def test_identities_that_cannot_be_addressed_are_refused(client, connector, identity):
    response = client.post(devices(connector), {"identity": identity}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["identity"]


def test_an_identity_is_whitelisted_once(client, connector):
    client.post(devices(connector), {"identity": "th-001"}, format="json")

    response = client.post(devices(connector), {"identity": "th-001"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"identity": ["this identity is already whitelisted"]}


def test_bad_tags_are_refused(client, connector):
    for tags in ([{"value": "x"}], [{"name": ""}], [{"name": "  "}], "batch", [{"name": "x" * 101}]):
        response = client.post(devices(connector), {"identity": "th-001", "tags": tags}, format="json")
        assert response.status_code == 400, tags
        assert list(response.json()) == ["tags"]
    assert not Device.objects.exists()


# --- read and list ---------------------------------------------------------------------------


def test_reading_a_device(client, connector):
    make_device(connector=connector, identity="th-001", tags=[{"name": "site", "value": "lab"}])

    response = client.get(device(connector, "th-001"))

    assert response.status_code == 200
    assert set(response.json()) == {
        "identity", "status", "auth", "locked", "reprovision", "devmode", "last_ip", "last_seen",
        "online", "activation_deadline", "provisioned_at", "created_at", "tags",
    }  # fmt: skip
    assert response.json()["tags"] == [{"name": "site", "value": "lab"}]


def test_an_unknown_identity_is_a_json_404(client, connector):
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(device(connector, "nope"), {}, format="json")
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
    for suffix in ("state/", "history/"):
        assert client.get(device(connector, "nope") + suffix).status_code == 404


def test_a_device_of_another_connector_is_not_found_here(client, business, connector):
    other = make_connector(business=business, name="Other")
    make_device(connector=other, identity="th-001")

    assert client.get(device(connector, "th-001")).status_code == 404
    assert client.get(devices(connector)).json()["results"] == []


def test_the_list_is_paginated_by_identity_with_a_cursor(client, connector):
    for n in range(7):
        make_device(connector=connector, identity=f"th-{n:03d}")

    seen, url, pages = [], devices(connector) + "?limit=3", 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += [d["identity"] for d in page.json()["results"]]
        url, pages = page.json()["next"], pages + 1

    assert seen == [f"th-{n:03d}" for n in range(7)]
    assert pages == 3


def test_the_list_filters_by_status_and_identity_prefix(client, connector):
    make_device(connector=connector, identity="a-1")
    make_device(connector=connector, identity="a-2", locked=True)
    make_device(connector=connector, identity="b-1", key=TOKEN)
    make_device(connector=connector, identity="b-2", expire_us=now_us() - 1)

    def identities(query):
        response = client.get(devices(connector) + query)
        assert response.status_code == 200
        return [d["identity"] for d in response.json()["results"]]

    assert identities("") == ["a-1", "a-2", "b-1", "b-2"]
    assert identities("?identity=a-") == ["a-1", "a-2"]
    assert identities("?status=whitelisted") == ["a-1"]
    assert identities("?status=locked") == ["a-2"]
    assert identities("?status=provisioned") == ["b-1"]
    assert identities("?status=expired") == ["b-2"]
    assert identities("?status=whitelisted&identity=b") == []


def test_a_nul_in_a_list_filter_is_a_400(client, connector):
    response = client.get(devices(connector) + "?identity=a%00")

    assert response.status_code == 400
    assert list(response.json()) == ["identity"]


def test_an_unknown_status_filter_is_a_400(client, connector):
    response = client.get(devices(connector) + "?status=sleeping")

    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_a_forged_cursor_is_a_json_error(client, connector):
    response = client.get(devices(connector) + "?cursor=not-a-cursor")

    assert response.status_code == 400
    assert set(response.json()) == {"cursor"}


# --- change ----------------------------------------------------------------------------------


def test_locking_refuses_the_device_and_unlocking_lets_it_back(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    locked = client.patch(device(connector, "th-001"), {"locked": True}, format="json")
    refused = device_client.get("/onep:v1/stack/alias?x", headers=cik())
    unlocked = client.patch(device(connector, "th-001"), {"locked": False}, format="json")
    accepted = device_client.get("/onep:v1/stack/alias?x", headers=cik())

    assert (locked.status_code, locked.json()["status"], locked.json()["locked"]) == (200, "locked", True)
    assert refused.status_code == 403
    assert unlocked.json()["status"] == "provisioned"
    assert accepted.status_code == 204


def test_patch_replaces_the_tags(client, connector):
    make_device(connector=connector, identity="th-001", tags=[{"name": "old"}])

    replaced = client.patch(
        device(connector, "th-001"),
        {"tags": [{"name": "site", "value": "lab"}, {"name": "site", "value": "hall"}]},
        format="json",
    )
    kept = client.patch(device(connector, "th-001"), {"locked": False}, format="json")
    cleared = client.patch(device(connector, "th-001"), {"tags": []}, format="json")

    assert replaced.json()["tags"] == [{"name": "site", "value": "hall"}, {"name": "site", "value": "lab"}]
    assert kept.json()["tags"] == replaced.json()["tags"]
    assert cleared.json()["tags"] == []


def test_expire_zero_revokes_the_credentials(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    response = client.patch(device(connector, "th-001"), {"auth": {"expire": 0}}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "reprovision"
    assert response.json()["reprovision"] is True
    assert device_client.get("/onep:v1/stack/alias?x", headers=cik()).status_code == 401
    activated = device_client.post("/provision/activate", content="id=th-001")
    assert activated.status_code == 200
    assert activated.text != TOKEN
    assert device_client.get("/onep:v1/stack/alias?x", headers=cik(activated.text)).status_code == 204
    assert device_client.get("/onep:v1/stack/alias?x", headers=cik()).status_code == 401
    assert client.get(device(connector, "th-001")).json()["reprovision"] is False


def test_a_new_deadline_brings_an_expired_device_back(client, connector):
    make_device(connector=connector, identity="th-001", expire_us=now_us() - 1)
    expire = now_us() + 86_400_000_000

    response = client.patch(device(connector, "th-001"), {"auth": {"expire": expire}}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "whitelisted"
    assert abs(response.json()["activation_deadline"] - expire) <= 1


def test_a_deadline_does_not_touch_a_provisioned_device(client, connector):
    make_device(connector=connector, identity="th-001", key=TOKEN)

    response = client.patch(device(connector, "th-001"), {"auth": {"expire": now_us() - 1}}, format="json")

    assert response.json()["status"] == "provisioned"
    assert response.json()["activation_deadline"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"locked": "sometimes"},
        {"tags": "x"},
        {"tags": [{"value": "no name"}]},
        {"auth": {"expire": -5}},
        {"auth": {"expire": 10**20}},
        {"auth": "revoke"},
    ],
)
def test_bad_changes_are_refused_and_change_nothing(client, connector, payload):
    make_device(connector=connector, identity="th-001", tags=[{"name": "keep"}])
    before = client.get(device(connector, "th-001")).json()

    response = client.patch(device(connector, "th-001"), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == list(payload)
    assert client.get(device(connector, "th-001")).json() == before


def test_deleting_a_device_forgets_it_and_its_token(client, connector, device_client):
    client.post(devices(connector), {"identity": "th-001", "auth": {"key": TOKEN}}, format="json")

    response = client.delete(device(connector, "th-001"))

    assert response.status_code == 204
    assert client.get(device(connector, "th-001")).status_code == 404
    assert device_client.get("/onep:v1/stack/alias?x", headers=cik()).status_code == 401
    assert client.post(devices(connector), {"identity": "th-001"}, format="json").status_code == 201


# --- state -----------------------------------------------------------------------------------


@pytest.fixture
def thermostat(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="setpoint", format="integer", allowed=["5-30"], settable=True)
    make_resource(connector=connector, alias="mode", format="string", allowed=["eco", "comfort"],
                  settable=True, initial="eco")  # fmt: skip
    make_resource(connector=connector, alias="led", format="boolean", settable=True, sync=False)
    return make_device(connector=connector, identity="th-001", key=TOKEN)


def test_state_shows_initial_values_before_anything_is_written(client, connector, thermostat):
    response = client.get(device(connector, "th-001") + "state/")

    assert response.status_code == 200
    assert response.json() == {"mode": {"reported": None, "set": "eco", "timestamp": None}}


def test_a_cloud_set_changes_set_only(client, connector, thermostat):
    before = now_us()

    response = client.patch(device(connector, "th-001") + "state/", {"setpoint": 21}, format="json")

    assert response.status_code == 200
    entry = response.json()["setpoint"]
    assert (entry["reported"], entry["set"]) == (None, "21")
    assert before <= entry["timestamp"] <= now_us()
    assert client.get(device(connector, "th-001") + "state/").json() == response.json()


def test_with_sync_off_set_and_reported_stay_equal_and_history_records_it(client, connector, thermostat):
    response = client.patch(device(connector, "th-001") + "state/", {"led": True}, format="json")

    assert response.json()["led"]["set"] == response.json()["led"]["reported"] == "true"
    history = client.get(device(connector, "th-001") + "history/?alias=led").json()
    assert [p["value"] for p in history] == ["true"]


def test_set_versus_reported_as_the_device_sees_it(client, connector, thermostat, device_client):
    state = device(connector, "th-001") + "state/"

    client.patch(state, {"setpoint": 21}, format="json")
    read_set = device_client.get("/onep:v1/stack/alias?setpoint", headers=cik())
    device_client.post("/onep:v1/stack/alias", content="setpoint=19&temp=18.5", headers=cik())
    pending = client.get(state).json()
    read_still_set = device_client.get("/onep:v1/stack/alias?setpoint", headers=cik())
    device_client.post("/onep:v1/stack/alias", content="setpoint=21", headers=cik())
    acknowledged = client.get(state).json()
    device_client.post("/onep:v1/stack/alias", content="setpoint=25", headers=cik())
    local_change = client.get(state).json()

    assert read_set.text == "setpoint=21"
    assert (pending["setpoint"]["reported"], pending["setpoint"]["set"]) == ("19", "21")
    assert (pending["temp"]["reported"], pending["temp"]["set"]) == ("18.5", "18.5")
    assert read_still_set.text == "setpoint=21"
    assert (acknowledged["setpoint"]["reported"], acknowledged["setpoint"]["set"]) == ("21", "21")
    assert (local_change["setpoint"]["reported"], local_change["setpoint"]["set"]) == ("25", "25")


@pytest.mark.parametrize(
    "values, alias",
    [
        ({"setpoint": 31}, "setpoint"),
        ({"setpoint": "warm"}, "setpoint"),
        ({"setpoint": 21.5}, "setpoint"),
        ({"mode": "turbo"}, "mode"),
        ({"led": "maybe"}, "led"),
        ({"temp": 20}, "temp"),  # not settable
        ({"nope": 1}, "nope"),  # not defined
        ({"setpoint": None}, "setpoint"),
        ({"setpoint": [21]}, "setpoint"),
        ({"mode": {"v": "eco"}}, "mode"),
        ({"mode": "x" * 70_000}, "mode"),
    ],
)
def test_cloud_sets_are_validated_like_device_writes(client, connector, thermostat, values, alias):
    response = client.patch(device(connector, "th-001") + "state/", values, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [alias]
    assert response.json()[alias][0]
    assert not DeviceState.objects.exists()


def test_a_cloud_set_is_all_or_nothing(client, connector, thermostat):
    response = client.patch(
        device(connector, "th-001") + "state/", {"setpoint": 20, "mode": "turbo"}, format="json"
    )

    assert response.status_code == 400
    assert not DeviceState.objects.exists()


@pytest.mark.parametrize("body", [[], ["setpoint", 1], "setpoint=1", 5, {}])
def test_a_cloud_set_needs_an_object_of_values(client, connector, thermostat, body):
    response = client.patch(device(connector, "th-001") + "state/", body, format="json")

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


# --- history ---------------------------------------------------------------------------------

T0 = 1_700_000_000  # unix seconds


@pytest.fixture
def recorded(connector, thermostat, device_client):
    body = (
        f"alias=temp&{T0}=20&{T0 + 10}=21&{T0 + 20}=22&{T0 + 30}=23&alias=setpoint&{T0 + 5}=10&{T0 + 15}=11"
    )
    response = device_client.post("/onep:v1/stack/record", content=body, headers=cik())
    assert response.status_code == 204
    return device(connector, "th-001") + "history/"


def _points(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return [(p["alias"], p["timestamp"] // 1_000_000 - T0, p["value"]) for p in response.json()]


def test_history_is_newest_first(client, recorded):
    assert _points(client, recorded) == [
        ("temp", 30, "23"),
        ("temp", 20, "22"),
        ("setpoint", 15, "11"),
        ("temp", 10, "21"),
        ("setpoint", 5, "10"),
        ("temp", 0, "20"),
    ]


def test_history_filters_by_alias_time_and_count(client, recorded):
    us = lambda s: (T0 + s) * 1_000_000  # noqa: E731

    assert _points(client, recorded + "?alias=setpoint") == [("setpoint", 15, "11"), ("setpoint", 5, "10")]
    assert _points(client, recorded + f"?alias=temp&since={us(10)}&until={us(20)}") == [
        ("temp", 20, "22"),
        ("temp", 10, "21"),
    ]
    assert _points(client, recorded + "?alias=temp&limit=2") == [("temp", 30, "23"), ("temp", 20, "22")]
    assert _points(client, recorded + f"?since={us(31)}") == []
    assert _points(client, recorded + "?alias=unknown") == []


def test_history_points_carry_their_microsecond_timestamps(client, recorded):
    points = client.get(recorded + "?alias=temp&limit=1").json()

    assert points == [{"alias": "temp", "timestamp": (T0 + 30) * 1_000_000, "value": "23"}]


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("since=-1", "since"),
        ("until=1.5", "until"),
        ("until=99999999999999999999999", "until"),
        ("alias=te%00mp", "alias"),
    ],
)
def test_bad_history_parameters_are_400(client, connector, thermostat, query, field):
    response = client.get(device(connector, "th-001") + f"history/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_history_only_holds_what_was_stored(client, connector, thermostat):
    ValuePoint.objects.all().delete()

    assert client.get(device(connector, "th-001") + "history/").json() == []


# --- access control --------------------------------------------------------------------------


@pytest.fixture
def as_role(request, api):
    def make(role):
        return api() if role == "anonymous" else api(request.getfixturevalue(role))

    return make


READS = ["", "th-001/", "th-001/state/", "th-001/history/"]
WRITES = [
    ("post", "", {"identity": "th-002"}),
    ("patch", "th-001/", {"locked": True}),
    ("patch", "th-001/state/", {"setpoint": 20}),
    ("delete", "th-001/", None),
]


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_read_devices(as_role, connector, thermostat, role, expected):
    client = as_role(role)

    for suffix in READS:
        response = client.get(devices(connector) + suffix)
        assert response.status_code == expected, suffix
        if expected != 200:
            assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "role, allowed, refused",
    [
        ("owner", True, None),
        ("developer", True, None),
        ("viewer", False, 403),
        ("outsider", False, 404),
        ("anonymous", False, 401),
    ],
)
def test_who_may_change_devices(as_role, api, owner, connector, thermostat, role, allowed, refused):
    client = as_role(role)

    for method, suffix, payload in WRITES:
        response = getattr(client, method)(devices(connector) + suffix, payload, format="json")
        if allowed:
            assert response.status_code in (200, 201, 204), (method, suffix, response.content)
        else:
            assert response.status_code == refused, (method, suffix)
            assert set(response.json()) == {"detail"}

    identities = sorted(Device.objects.values_list("identity", flat=True))
    if allowed:
        assert identities == ["th-002"]
    else:
        assert identities == ["th-001"]
        assert Device.objects.get().locked is False
        assert not DeviceState.objects.exists()


def test_outsider_cannot_tell_a_device_exists(api, outsider, connector):
    make_device(connector=connector, identity="th-001")

    existing = api(outsider).get(device(connector, "th-001"))
    missing = api(outsider).get(device(connector, "th-999"))

    assert existing.status_code == missing.status_code == 404
    assert existing.json() == missing.json()
