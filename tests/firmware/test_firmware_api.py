"""Firmware updates through the management API: the connector setting, starting updates for
devices or a tag filter (``POST .../firmware/update/``), devices' reports on ``otau_in``, waves,
the success threshold that pauses, device timeouts, cancelling, and their bad input."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Resource
from devices.models import Device
from devices.services import device_write
from firmware.models import DeviceUpdate, Rollout
from firmware.services import rollouts_tick
from tests.firmware.conftest import config_otau

# Rollouts move on once their changes commit (a Celery task, run at once in tests): real commits.
pytestmark = pytest.mark.django_db(transaction=True)


def report(identity: str, status: str, version: str = "2.0.0", message: str = "") -> None:
    """A device writes otau_in, as the device API does (tests/firmware/test_update_cycle.py
    drives the same over HTTP)."""
    from connectors import runtime

    device = Device.objects.select_related("connector").get(identity=identity)
    rules = runtime.resource_rules(device.connector_id, device.connector.updated_at)
    value = json.dumps({"version": version, "status": status, "message": message})
    device_write(device=device, values={"otau_in": value}, rules=rules)


def statuses(rollout_id: int) -> dict[str, str]:
    return dict(DeviceUpdate.objects.filter(rollout_id=rollout_id).values_list("device__identity", "status"))


# --- the connector setting -------------------------------------------------------------------


def test_turning_firmware_updates_on_defines_their_resources(owner_api, connector):
    url = f"/api/v1/connectors/{connector.pk}/"
    assert owner_api.get(url).json()["firmware"] == {"enabled": False}

    response = owner_api.patch(url, {"firmware": {"enabled": True}}, format="json")

    assert response.status_code == 200
    assert response.json()["firmware"] == {"enabled": True}
    config = Resource.objects.get(connector=connector, alias="config_otau")
    assert (config.format, config.settable, config.sync) == ("string", True, True)
    assert Resource.objects.get(connector=connector, alias="otau_in").format == "string"


def test_an_existing_config_otau_is_made_settable(owner_api, connector):
    from tests.factories import make_resource

    make_resource(connector=connector, alias="config_otau", format="integer")

    owner_api.patch(f"/api/v1/connectors/{connector.pk}/", {"firmware": {"enabled": True}}, format="json")

    config = Resource.objects.get(connector=connector, alias="config_otau")
    assert (config.format, config.settable) == ("string", True)


def test_updates_are_refused_while_the_setting_is_off(start, connector):
    from tests.factories import make_device

    make_device(connector=connector, identity="a-1")

    response = start(message=config_otau(type="JSON", payload={}), devices=["a-1"])

    assert response.status_code == 409
    assert "disabled" in response.json()["detail"]
    assert not Rollout.objects.exists()


# --- starting updates ----------------------------------------------------------------------------


def test_the_seeds_message_and_devices_update_those_devices(start, fleet, config_set, rollout_of):
    message = json.dumps(config_otau(type="URL_LIST", payload=["https://cdn.example.com/fw-2.bin"]))

    response = start(message=message, devices=["a-1", "b-1"])

    assert response.status_code == 201, response.content
    rollout = response.json()
    assert rollout["state"] == "running"
    assert rollout["version"] == "2.0.0"
    assert rollout["device_count"] == 2
    assert rollout["counts"] == {"SENT": 2}
    assert config_set("a-1")["payload"] == ["https://cdn.example.com/fw-2.bin"]
    assert config_set("b-1")["version"] == "2.0.0"
    assert config_set("a-2") is None


def test_a_package_is_sent_by_its_id(start, package, fleet, config_set):
    response = start(package="package_fw_2.0.0", devices=["a-1"])

    assert response.status_code == 201
    assert response.json()["package"] == "package_fw_2.0.0"
    assert config_set("a-1") == config_otau()


def test_a_tag_filter_updates_every_matching_device(start, package, fleet, config_set):
    response = start(package="package_fw_2.0.0", filter={"tag": ["model:t1"]})

    assert response.status_code == 201
    assert response.json()["device_count"] == 4
    assert response.json()["target"] == {"filter": {"tag": ["model:t1"]}}
    assert config_set("b-1") is None


def test_tag_filters_combine(start, package, fleet):
    response = start(package="package_fw_2.0.0", filter={"tag": ["model:t1", "beta"]})

    assert response.json()["device_count"] == 1
    assert statuses(response.json()["id"]) == {"a-4": "SENT"}


BAD_STARTS = [
    ({"devices": ["a-1"]}, "message"),
    (
        {"message": config_otau(type="JSON", payload={}), "package": "package_fw_2.0.0", "devices": ["a-1"]},
        "message",
    ),
    ({"message": "{not json", "devices": ["a-1"]}, "message"),
    ({"message": {"version": "1"}, "devices": ["a-1"]}, "message"),
    ({"message": config_otau(payload="missing.bin"), "devices": ["a-1"]}, "message"),
    ({"package": "package_nothing", "devices": ["a-1"]}, "package"),
    ({"package": "package_fw_2.0.0"}, "devices"),
    ({"package": "package_fw_2.0.0", "devices": []}, "devices"),
    ({"package": "package_fw_2.0.0", "devices": ["a-1", "ghost"]}, "devices"),
    ({"package": "package_fw_2.0.0", "filter": {"tag": ["model:t9"]}}, "filter"),
    ({"package": "package_fw_2.0.0", "filter": {"colour": "red"}}, "filter"),
    ({"package": "package_fw_2.0.0", "filter": {"status": "sleeping"}}, "filter"),
    ({"package": "package_fw_2.0.0", "devices": ["a-1"], "success_threshold": 1.5}, "success_threshold"),
    ({"package": "package_fw_2.0.0", "devices": ["a-1"], "wave_size": 0}, "wave_size"),
    ({"package": "package_fw_2.0.0", "devices": ["a-1"], "device_timeout": 1}, "device_timeout"),
    ({"package": "package_fw_2.0.0", "devices": "a-1"}, "devices"),
]


@pytest.mark.parametrize("body, field", BAD_STARTS)
def test_bad_updates_are_400_naming_the_field_and_start_nothing(
    start, package, fleet, config_set, body, field
):
    response = start(**body)

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Rollout.objects.exists()
    assert config_set("a-1") is None


def test_someone_elses_devices_are_not_found(start, package, fleet, business):
    from tests.factories import make_connector, make_device

    other = make_connector(business=business, name="Other")
    make_device(connector=other, identity="x-1")

    response = start(package="package_fw_2.0.0", devices=["x-1"])

    assert response.status_code == 400
    assert "x-1" in response.json()["devices"][0]


# --- reports on otau_in ----------------------------------------------------------------------


def test_reports_move_the_devices_update_and_land_in_its_history(start, package, fleet, owner_api, connector):
    rollout = start(package="package_fw_2.0.0", devices=["a-1"]).json()

    for status in ("INIT", "DOWNLOAD", "DOWNLOAD_SUCCESS", "INSTALL"):
        report("a-1", status)
        assert statuses(rollout["id"]) == {"a-1": status}
    report("a-1", "INSTALL_SUCCESS", message="rebooted")

    firmware = owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/devices/a-1/").json()
    assert firmware["installed_version"] == "2.0.0"
    assert firmware["status"] == "INSTALL_SUCCESS"
    assert [r["status"] for r in firmware["reports"]] == [
        "INSTALL_SUCCESS", "INSTALL", "DOWNLOAD_SUCCESS", "DOWNLOAD", "INIT",
    ]  # fmt: skip
    assert firmware["reports"][0]["message"] == "rebooted"
    assert firmware["updates"][0]["rollout"] == rollout["id"]
    assert (
        owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/rollouts/{rollout['id']}/").json()["state"]
        == "completed"
    )


@pytest.mark.parametrize(
    "value", ["not json", "[1, 2]", '{"status": "DANCING"}', '{"version": 3, "status": "INIT"}']
)
def test_a_write_that_is_not_a_report_is_kept_as_invalid(start, package, fleet, owner_api, connector, value):
    from connectors import runtime

    rollout = start(package="package_fw_2.0.0", devices=["a-1"]).json()
    device = Device.objects.select_related("connector").get(identity="a-1")
    device_write(
        device=device,
        values={"otau_in": value},
        rules=runtime.resource_rules(connector.pk, connector.updated_at),
    )

    firmware = owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/devices/a-1/").json()
    assert firmware["reports"][0]["status"] == "INVALID"
    assert firmware["reports"][0]["raw"] == value
    assert statuses(rollout["id"]) == {"a-1": "SENT"}


def test_a_report_for_another_version_does_not_move_the_update(start, package, fleet):
    rollout = start(package="package_fw_2.0.0", devices=["a-1"]).json()

    report("a-1", "INSTALL_SUCCESS", version="1.9.9")

    assert statuses(rollout["id"]) == {"a-1": "SENT"}


# --- waves, threshold, timeouts ----------------------------------------------------------------


def test_waves_go_out_one_after_the_other(start, package, fleet, config_set, rollout_of):
    rollout = start(package="package_fw_2.0.0", filter={"tag": ["model:t1"]}, wave_size=2).json()

    assert rollout["wave_count"] == 2
    assert statuses(rollout["id"]) == {"a-1": "SENT", "a-2": "SENT", "a-3": "QUEUED", "a-4": "QUEUED"}
    assert config_set("a-3") is None

    report("a-1", "INSTALL_SUCCESS")
    assert statuses(rollout["id"])["a-3"] == "QUEUED"  # the wave is not finished yet
    report("a-2", "INSTALL_SUCCESS")

    assert statuses(rollout["id"]) == {"a-1": "INSTALL_SUCCESS", "a-2": "INSTALL_SUCCESS", "a-3": "SENT",
                                       "a-4": "SENT"}  # fmt: skip
    assert config_set("a-3")["version"] == "2.0.0"
    assert rollout_of(rollout["id"])["current_wave"] == 1
    report("a-3", "INSTALL_SUCCESS")
    report("a-4", "INSTALL_SUCCESS")
    finished = rollout_of(rollout["id"])
    assert finished["state"] == "completed"
    assert finished["counts"] == {"INSTALL_SUCCESS": 4}
    assert finished["waves"] == [{"INSTALL_SUCCESS": 2}, {"INSTALL_SUCCESS": 2}]


def test_too_many_failures_pause_the_rollout_until_someone_resumes(
    start, package, fleet, owner_api, connector, rollout_of, config_set
):
    rollout = start(
        package="package_fw_2.0.0", filter={"tag": ["model:t1"]}, wave_size=2, success_threshold=0.5
    )
    rollout_id = rollout.json()["id"]

    report("a-1", "DOWNLOAD_ERROR", message="checksum mismatch")
    assert rollout_of(rollout_id)["state"] == "running"  # one of two may fail at 50 %
    report("a-2", "INSTALL_ERROR")

    paused = rollout_of(rollout_id)
    assert paused["state"] == "paused"
    assert "2 of 2 devices failed" in paused["state_reason"]
    assert config_set("a-3") is None  # the next wave waits

    url = f"/api/v1/connectors/{connector.pk}/firmware/rollouts/{rollout_id}/"
    resumed = owner_api.patch(url, {"state": "running"}, format="json")

    assert resumed.status_code == 200
    assert resumed.json()["state"] == "running"
    assert resumed.json()["current_wave"] == 1
    assert config_set("a-3")["version"] == "2.0.0"


def test_a_silent_device_times_out_and_counts_as_failed(start, package, fleet, rollout_of):
    rollout = start(package="package_fw_2.0.0", devices=["a-1", "a-2"], success_threshold=1.0,
                    device_timeout=600).json()  # fmt: skip
    report("a-1", "INSTALL_SUCCESS")
    report("a-2", "DOWNLOAD")  # then nothing more

    assert rollouts_tick(now=timezone.now() + timedelta(seconds=300)) == 0
    assert rollouts_tick(now=timezone.now() + timedelta(seconds=900)) == 1

    assert statuses(rollout["id"]) == {"a-1": "INSTALL_SUCCESS", "a-2": "TIMEOUT"}
    assert rollout_of(rollout["id"])["state"] == "paused"


def test_a_late_final_report_corrects_a_timeout(start, package, fleet):
    rollout = start(package="package_fw_2.0.0", devices=["a-1"], device_timeout=60).json()
    rollouts_tick(now=timezone.now() + timedelta(seconds=120))

    report("a-1", "INSTALL_SUCCESS")

    assert statuses(rollout["id"]) == {"a-1": "INSTALL_SUCCESS"}


def test_pausing_and_cancelling(start, package, fleet, owner_api, connector, rollout_of):
    rollout = start(package="package_fw_2.0.0", filter={"tag": ["model:t1"]}, wave_size=1).json()
    url = f"/api/v1/connectors/{connector.pk}/firmware/rollouts/{rollout['id']}/"

    assert owner_api.patch(url, {"state": "paused"}, format="json").json()["state"] == "paused"
    report("a-1", "INSTALL_SUCCESS")
    assert statuses(rollout["id"])["a-2"] == "QUEUED"  # paused: no new wave
    cancelled = owner_api.patch(url, {"state": "cancelled"}, format="json").json()

    assert cancelled["state"] == "cancelled"
    assert cancelled["counts"] == {"INSTALL_SUCCESS": 1, "CANCELLED": 3}
    again = owner_api.patch(url, {"state": "running"}, format="json")
    assert again.status_code == 409
    assert "state" in again.json()
    assert owner_api.patch(url, {"state": "completed"}, format="json").status_code == 400


def test_a_newer_update_supersedes_an_unfinished_one(start, package, fleet, upload):
    first = start(package="package_fw_2.0.0", devices=["a-1"]).json()
    second = start(message=config_otau(version="2.0.1", type="JSON", payload={}), devices=["a-1"]).json()

    assert statuses(first["id"]) == {"a-1": "CANCELLED"}
    assert statuses(second["id"]) == {"a-1": "SENT"}
    report("a-1", "INSTALL_SUCCESS", version="2.0.1")
    assert statuses(second["id"]) == {"a-1": "INSTALL_SUCCESS"}


def test_rollouts_are_listed_with_their_devices(start, package, fleet, owner_api, connector):
    rollout = start(package="package_fw_2.0.0", devices=["a-1", "a-2"]).json()
    report("a-2", "INSTALL_ERROR", message="flash full")
    base = f"/api/v1/connectors/{connector.pk}/firmware/rollouts/"

    assert [r["id"] for r in owner_api.get(base).json()] == [rollout["id"]]
    devices = owner_api.get(f"{base}{rollout['id']}/devices/", {"status": "INSTALL_ERROR"}).json()
    assert devices == [
        {**devices[0], "identity": "a-2", "status": "INSTALL_ERROR", "message": "flash full", "wave": 0}
    ]
    assert owner_api.get(f"{base}{rollout['id']}/devices/", {"limit": "0"}).status_code == 400
    assert owner_api.get(f"{base}999999/").status_code == 404


def test_a_viewer_follows_rollouts_but_cannot_start_or_stop_them(
    start, package, fleet, api, viewer, connector
):
    rollout = start(package="package_fw_2.0.0", devices=["a-1"]).json()
    client = api(viewer)
    base = f"/api/v1/connectors/{connector.pk}/firmware/"

    assert client.get(f"{base}rollouts/{rollout['id']}/").status_code == 200
    assert (
        client.post(
            f"{base}update/", {"package": "package_fw_2.0.0", "devices": ["a-2"]}, format="json"
        ).status_code
        == 403
    )
    assert (
        client.patch(f"{base}rollouts/{rollout['id']}/", {"state": "paused"}, format="json").status_code
        == 403
    )


def test_an_outsider_sees_no_firmware(start, package, fleet, api, outsider, connector):
    rollout = start(package="package_fw_2.0.0", devices=["a-1"]).json()
    client = api(outsider)
    base = f"/api/v1/connectors/{connector.pk}/firmware/"

    for path in (f"rollouts/{rollout['id']}/", "packages/", "devices/a-1/"):
        assert client.get(base + path).status_code == 404
