"""The portal's JSON API on the portal host, as an end user's app sees it: log-in, claiming and
its refusals, releasing, values, history and firmware (shared/docs/claiming-and-portal.md)."""

import re
import time

import pytest

from claiming.api.portal_urls import urlpatterns as portal_urlpatterns
from claiming.models import EndUserSession
from claiming.services import end_user_update
from devices.models import Device
from tests.claiming.conftest import PORTAL_PASSWORD, tags_of
from tests.factories import make_resource

pytestmark = pytest.mark.django_db


# --- sessions ---------------------------------------------------------------------------------


def test_log_in_gives_a_token_that_opens_the_api_and_log_out_ends_it(portal, claiming_connector, alice):
    anonymous = portal(claiming_connector)
    response = anonymous.post("/api/session", {"email": "ALICE@example.com", "password": PORTAL_PASSWORD},
                              format="json")  # fmt: skip
    assert response.status_code == 200
    token = response.json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get("/api/devices").status_code == 200
    assert anonymous.delete("/api/session").status_code == 204
    assert anonymous.get("/api/devices").status_code == 401


def test_wrong_password_is_401_and_blocked_or_unverified_users_are_403(
    portal, claiming_connector, end_user, alice
):
    client = portal(claiming_connector)
    wrong = client.post("/api/session", {"email": alice.email, "password": "nope"}, format="json")
    assert wrong.status_code == 401
    unknown = client.post("/api/session", {"email": "who@example.com", "password": "x"}, format="json")
    assert unknown.status_code == 401
    end_user(claiming_connector, "new@example.com", verified=False)
    unverified = client.post("/api/session", {"email": "new@example.com", "password": PORTAL_PASSWORD},
                             format="json")  # fmt: skip
    assert unverified.status_code == 403
    end_user_update(user=alice, blocked=True)
    blocked = client.post("/api/session", {"email": alice.email, "password": PORTAL_PASSWORD}, format="json")
    assert blocked.status_code == 403


def test_blocking_a_user_ends_their_sessions(portal, claiming_connector, alice):
    client = portal(claiming_connector, alice)
    end_user_update(user=alice, blocked=True)
    assert not EndUserSession.objects.filter(user=alice).exists()
    assert client.get("/api/devices").status_code == 401


def test_every_call_but_log_in_needs_a_session(portal, claiming_connector):
    client = portal(claiming_connector)
    calls = [
        ("get", "/api/devices"), ("post", "/api/claim"), ("delete", "/api/devices/x"),
        ("patch", "/api/devices/x/state"), ("get", "/api/devices/x/history"), ("get", "/api/firmware"),
        ("post", "/api/firmware/update"), ("delete", "/api/session"),
    ]  # fmt: skip
    for method, path in calls:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 401, (method, path)
        assert "detail" in response.json()
    # Every route of the portal API is in the list (a new one must say who may call it).
    called = {re.sub(r"/x(?=/|$)", "/<path:identity>", path.removeprefix("/api/")) for _, path in calls}
    assert called == {str(route.pattern) for route in portal_urlpatterns}


def test_wrong_passwords_are_throttled(portal, claiming_connector, alice, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    client = portal(claiming_connector)
    for _ in range(3):
        assert (
            client.post("/api/session", {"email": alice.email, "password": "x"}, format="json").status_code
            == 401
        )
    throttled = client.post(
        "/api/session", {"email": alice.email, "password": PORTAL_PASSWORD}, format="json"
    )
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0


# --- claiming ---------------------------------------------------------------------------------


def test_a_code_claims_every_unowned_device_carrying_it(portal, claiming_connector, alice, coded_devices):
    devices = coded_devices("BOX-1", 3)
    client = portal(claiming_connector, alice)
    response = client.post("/api/claim", {"claim_code": "BOX-1"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"claimed": sorted(d.identity for d in devices)}
    for device in devices:
        assert tags_of(device, "users") == [str(alice.pk)]
        assert tags_of(device, "claim_code") == ["BOX-1"]  # codes stay
    listed = client.get("/api/devices").json()
    assert [d["identity"] for d in listed] == sorted(d.identity for d in devices)
    assert set(listed[0]) == {"identity", "status", "online", "last_seen", "state"}


def test_claiming_again_is_fine_and_apps_marked_default_are_added(
    portal, claiming_connector, end_user, coded_devices
):
    user_data = {"app_energy": {"default": True}, "app_other": {"default": False}}
    carol = end_user(claiming_connector, "carol@example.com", user_data=user_data)
    [device] = coded_devices("BOX-2")
    client = portal(claiming_connector, carol)
    assert client.post("/api/claim", {"claim_code": "BOX-2"}, format="json").json() == {
        "claimed": [device.identity]
    }
    again = client.post("/api/claim", {"claim_code": "BOX-2"}, format="json")
    assert again.status_code == 200 and again.json() == {"claimed": [device.identity]}
    assert tags_of(device, "apps") == ["energy"]
    assert tags_of(device, "users") == [str(carol.pk)]


def test_unknown_code_is_404(portal, claiming_connector, alice, coded_devices):
    coded_devices("BOX-3")
    response = portal(claiming_connector, alice).post("/api/claim", {"claim_code": "BOX-33"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No device has this claim code."}


def test_an_expired_code_is_410(portal, claiming_connector, alice, coded_devices):
    coded_devices("OLD", 2, extra_tags=[{"name": "expires", "value": str(int(time.time()) - 10)}])
    response = portal(claiming_connector, alice).post("/api/claim", {"claim_code": "OLD"}, format="json")
    assert response.status_code == 410


def test_a_code_not_yet_expired_claims(portal, claiming_connector, alice, coded_devices):
    [device] = coded_devices(
        "NEW", 1, extra_tags=[{"name": "expires", "value": str(int(time.time()) + 3600)}]
    )
    response = portal(claiming_connector, alice).post("/api/claim", {"claim_code": "NEW"}, format="json")
    assert response.status_code == 200 and response.json() == {"claimed": [device.identity]}


def test_devices_owned_by_others_are_409_and_stay_theirs(
    portal, claiming_connector, alice, bob, coded_devices
):
    [device] = coded_devices("BOX-4")
    assert (
        portal(claiming_connector, alice)
        .post("/api/claim", {"claim_code": "BOX-4"}, format="json")
        .status_code
        == 200
    )
    response = portal(claiming_connector, bob).post("/api/claim", {"claim_code": "BOX-4"}, format="json")
    assert response.status_code == 409
    assert tags_of(device, "users") == [str(alice.pk)]


def test_a_shared_code_claims_only_the_unowned_devices(portal, claiming_connector, alice, bob, coded_devices):
    first, second = coded_devices("KIT", 2)
    Device.objects.get(pk=first.pk).tags.create(
        connector_id=claiming_connector.pk, identity=first.identity, name="users", value=str(bob.pk)
    )
    response = portal(claiming_connector, alice).post("/api/claim", {"claim_code": "KIT"}, format="json")
    assert response.json() == {"claimed": [second.identity]}
    assert tags_of(first, "users") == [str(bob.pk)]


def test_a_claim_is_all_or_nothing(portal, claiming_connector, alice, coded_devices, monkeypatch):
    """Three devices share a code; the write of the owner tags fails: none is claimed."""
    devices = coded_devices("TRIO", 3)
    from devices.models import DeviceTag

    real = DeviceTag.objects.bulk_create

    def failing(objs, *args, **kwargs):
        objs = list(objs)
        real(objs[:1], *args, **kwargs)  # the first device's owner tag is written...
        raise RuntimeError("the database went away")  # ...then the write fails

    monkeypatch.setattr(DeviceTag.objects, "bulk_create", failing)
    client = portal(claiming_connector, alice)
    client.raise_request_exception = False
    assert client.post("/api/claim", {"claim_code": "TRIO"}, format="json").status_code == 500
    monkeypatch.undo()
    assert all(tags_of(d, "users") == [] for d in devices)
    response = client.post("/api/claim", {"claim_code": "TRIO"}, format="json")
    assert response.status_code == 200 and len(response.json()["claimed"]) == 3
    assert all(tags_of(d, "users") == [str(alice.pk)] for d in devices)


def test_failed_claims_are_throttled_per_user(portal, claiming_connector, alice, coded_devices, settings):
    settings.CLAIM_FAILURES_PER_USER = 3
    coded_devices("REAL")
    client = portal(claiming_connector, alice)
    for guess in ("A", "B", "C"):
        assert client.post("/api/claim", {"claim_code": guess}, format="json").status_code == 404
    throttled = client.post("/api/claim", {"claim_code": "REAL"}, format="json")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0


def test_failed_claims_are_throttled_per_address(
    portal, claiming_connector, end_user, coded_devices, settings
):
    settings.CLAIM_FAILURES_PER_ADDRESS = 4
    users = [end_user(claiming_connector, f"guesser{i}@example.com") for i in range(3)]
    clients = [portal(claiming_connector, u) for u in users]
    for i in range(4):
        assert clients[i % 2].post("/api/claim", {"claim_code": f"G{i}"}, format="json").status_code == 404
    assert clients[2].post("/api/claim", {"claim_code": "G9"}, format="json").status_code == 429


def test_a_claim_shows_in_the_logs(portal, claiming_connector, alice, coded_devices):
    from devices.events import events_recent

    [device] = coded_devices("LOG")
    client = portal(claiming_connector, alice)
    client.post("/api/claim", {"claim_code": "NOPE"}, format="json")
    client.post("/api/claim", {"claim_code": "LOG"}, format="json")
    recent = events_recent(claiming_connector.pk)
    claimed = [e for e in recent if e["type"] == "claimed"]
    refused = [e for e in recent if e["type"] == "claim_refused"]
    assert claimed[-1]["identity"] == device.identity
    assert claimed[-1]["payload"]["email"] == "alice@example.com"
    assert refused[-1]["payload"]["claim_code"] == "NOPE" and refused[-1]["payload"]["status"] == 404


# --- owned devices ------------------------------------------------------------------------------


@pytest.fixture
def owned(portal, claiming_connector, alice, coded_devices):
    [device] = coded_devices("MINE")
    client = portal(claiming_connector, alice)
    assert client.post("/api/claim", {"claim_code": "MINE"}, format="json").status_code == 200
    return client, device


def test_release_removes_the_owner_and_keeps_codes_and_apps(owned, alice):
    client, device = owned
    device.tags.create(
        connector_id=device.connector_id, identity=device.identity, name="apps", value="energy"
    )
    assert client.delete(f"/api/devices/{device.identity}").status_code == 204
    assert tags_of(device, "users") == []
    assert tags_of(device, "claim_code") == ["MINE"]
    assert tags_of(device, "apps") == ["energy"]
    assert client.get("/api/devices").json() == []
    assert client.delete(f"/api/devices/{device.identity}").status_code == 404


def test_state_patch_sets_settable_values_only(owned, claiming_connector, device_client):
    client, device = owned
    make_resource(connector=claiming_connector, alias="target", format="number", settable=True)
    make_resource(connector=claiming_connector, alias="temp", format="number")
    url = f"/api/devices/{device.identity}/state"
    assert client.patch(url, {"target": 21.5}, format="json").status_code == 204
    assert client.patch(url, {"temp": 3}, format="json").status_code == 403
    assert client.patch(url, {"target": "warm"}, format="json").status_code == 400
    assert client.patch(url, {"nope": 1}, format="json").status_code == 400
    state = next(d for d in client.get("/api/devices").json() if d["identity"] == device.identity)["state"]
    assert state["target"]["set"] == "21.5"


def test_history_lists_the_recorded_points(owned, claiming_connector):
    from devices.models import ValuePoint

    client, device = owned
    make_resource(connector=claiming_connector, alias="temp", format="number")
    ValuePoint.objects.create(device=device, alias="temp", timestamp=1_000_000, value="20")
    ValuePoint.objects.create(device=device, alias="temp", timestamp=2_000_000, value="21")
    response = client.get(f"/api/devices/{device.identity}/history", {"alias": "temp"})
    assert response.status_code == 200
    assert [(p["timestamp"], p["value"]) for p in response.json()] == [(2_000_000, "21"), (1_000_000, "20")]


CONFIG = {"version": "1.0.1", "name": "v101", "description": None, "type": "URL_LIST",
          "payload": ["https://example.com/fw-1.0.1.bin"]}  # fmt: skip


def test_firmware_update_of_own_devices_only(owned, claiming_connector, bob, coded_devices, portal):
    from connectors.services import connector_settings_change

    client, device = owned
    connector_settings_change(connector=claiming_connector, changes={"firmware_update_enabled": True})
    [other] = coded_devices("OTHER")
    body = {"message": CONFIG, "devices": [device.identity]}
    response = client.post("/api/firmware/update", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["devices"] == 1
    body = {"message": CONFIG, "devices": [device.identity, other.identity]}
    refused = client.post("/api/firmware/update", body, format="json")
    assert refused.status_code == 404
    assert client.get("/api/firmware").status_code == 200
