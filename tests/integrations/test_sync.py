"""A run of the integration (``POST …/integration/sync/``), as a product manager sees it through
the management API: the pump cloud's assets become devices of the connector, their state the
devices' values (history, Logs, long polls), and what failed is counted in the run
(docs/integrations.md, "Asset sync" and "State fetch")."""

import asyncio
import hashlib
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from connectors.services import connector_update
from devices.events import events_recent
from tests.factories import make_resource
from tests.integrations.conftest import integration_body
from tests.integrations.pump_cloud import asset_state
from tests.pubsub import long_polls_waiting


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def base(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/"


@pytest.fixture
def integrate(owner_api, base, pump_cloud, pump_resources):
    """``integrate(**sync)``: the owner integrates the connector with the pump cloud."""

    def put(auth="basic", **sync):
        response = owner_api.put(
            base + "integration/", integration_body(pump_cloud, auth=auth, **sync), format="json"
        )
        assert response.status_code == 200, response.content
        return response.json()

    return put


@pytest.fixture
def run(owner_api, base, django_capture_on_commit_callbacks):
    """``run()``: "Sync now" (the job runs when the request's transaction commits); the run as
    the integration's JSON then shows it (``last_sync``)."""

    def sync() -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.post(base + "integration/sync/")
        assert response.status_code == 202, response.content
        assert response.json()["kind"] == "integration_sync"
        job = owner_api.get(response["Location"])
        assert job.status_code == 200
        last = owner_api.get(base + "integration/").json()["last_sync"]
        assert last["job"] == response.json()["id"] == job.json()["id"]
        assert last["state"] == job.json()["state"]
        return last

    return sync


@pytest.fixture
def devices(owner_api, base):
    """``devices()`` → ``{identity: device JSON}`` of the connector, from the management API."""

    def get() -> dict:
        response = owner_api.get(base + "devices/", {"limit": 500})
        assert response.status_code == 200
        return {d["identity"]: d for d in response.json()["results"]}

    return get


@pytest.fixture
def state(owner_api, base):
    def get(identity: str) -> dict:
        response = owner_api.get(base + f"devices/{identity}/state/")
        assert response.status_code == 200, response.content
        return {alias: value["reported"] for alias, value in response.json().items()}

    return get


def tags(device: dict) -> dict:
    return {tag["name"]: tag["value"] for tag in device["tags"]}


# --- devices ------------------------------------------------------------------------------------


def test_assets_become_devices_named_by_the_sha256_of_their_id(pump_cloud, integrate, run, devices):
    pump_cloud.add_assets(3)
    integrate()

    last = run()

    assert last["state"] == "finished"
    assert (last["assets"], last["created"], last["updated"], last["error_count"]) == (3, 3, 0, 0)
    assert last["errors"] == []
    assert last["started_at"] and last["finished_at"]
    found = devices()
    assert set(found) == {sha256("P-0001"), sha256("P-0002"), sha256("P-0003")}
    device = found[sha256("P-0002")]
    assert device["auth"] == {"type": "integration"}
    assert device["status"] == "provisioned"
    assert tags(device) == {
        "integration:asset_id": "P-0002", "asset:id": "P-0002", "asset:name": "Pump P-0002",
        "asset:model": "HX-900", "asset:serial": "SN-000002", "asset:site": "East Reservoir",
        "asset:installed": "2018-01-03",
    }  # fmt: skip


def test_the_asset_id_itself_can_be_the_identity(pump_cloud, integrate, run, devices):
    pump_cloud.add_assets(2)
    integrate(identity="asset_id")

    assert run()["created"] == 2
    assert set(devices()) == {"P-0001", "P-0002"}


def test_an_identity_the_connector_refuses_is_reported(connector, pump_cloud, integrate, run, devices):
    connector_update(connector=connector, changes={"identity_type": "base10"})
    pump_cloud.add_assets(1)
    pump_cloud.add_assets(1, prefix="")  # "0002" (numbered after P-0001), a base-10 identity
    integrate(identity="asset_id")

    last = run()

    assert last["state"] == "finished"
    assert (last["created"], last["error_count"]) == (1, 1)
    assert last["errors"] == [
        {"asset": "P-0001", "reason": "identity P-0001: identity is not of type base10"}
    ]
    assert set(devices()) == {"0002"}


def test_new_devices_get_the_sync_settings_config_io(pump_cloud, integrate, run, owner_api, base):
    pump_cloud.add_assets(1)
    integrate(config_io={"channels": {"temperature": {"display_name": "Temperature"}}})
    resources = {r["alias"] for r in owner_api.get(base + "resources/").json()}
    assert "config_io" in resources  # defined by the PUT

    run()

    values = owner_api.get(base + f"devices/{sha256('P-0001')}/state/").json()["config_io"]
    assert '"display_name": "Temperature"' in (values["set"] or values["reported"])


def test_devices_found_without_a_config_io_get_one_and_others_keep_theirs(
    pump_cloud, integrate, run, owner_api, base
):
    pump_cloud.add_assets(2)
    integrate()  # no config_io yet: the first run creates the devices without one
    run()
    mine = '{"channels": {"mine": {}}}'
    device = sha256("P-0002")
    owner_api.post(
        base + "resources/", {"alias": "config_io", "format": "string", "settable": True}, format="json"
    )
    assert (
        owner_api.patch(base + f"devices/{device}/state/", {"config_io": mine}, format="json").status_code
        < 300
    )

    integrate(config_io={"channels": {"temperature": {}}})
    run()

    state = owner_api.get(base + f"devices/{sha256('P-0001')}/state/").json()["config_io"]
    assert state["set"] == '{"channels": {"temperature": {}}}'
    assert owner_api.get(base + f"devices/{device}/state/").json()["config_io"]["set"] == mine


def test_the_detail_operation_is_called_once_per_new_asset(pump_cloud, integrate, run):
    pump_cloud.add_assets(2)
    integrate()
    run()
    run()

    assert len(pump_cloud.requests_to("/assets/P-0001")) == 1
    assert len(pump_cloud.requests_to("/assets/P-0001/state")) == 2


# --- state --------------------------------------------------------------------------------------


def test_the_assets_state_becomes_the_devices_reported_values(pump_cloud, integrate, run, state, history):
    pump_cloud.add_assets(2)
    integrate()

    run()

    expected = asset_state(2)
    assert state(sha256("P-0002")) == {
        "temperature": str(expected["temperature"]),
        "battery": str(expected["battery"]),
        "vibration": str(expected["vibration"]),
        "running": "true" if expected["running"] else "false",
    }
    assert [value for _, value in history(sha256("P-0002"), "battery")] == [str(expected["battery"])]


@pytest.fixture
def history(owner_api, base):
    def get(identity: str, alias: str) -> list:
        response = owner_api.get(base + f"devices/{identity}/history/", {"alias": alias})
        assert response.status_code == 200, response.content
        return [(point["timestamp"], point["value"]) for point in response.json()]

    return get


def test_a_second_run_updates_and_adds_what_is_new(pump_cloud, integrate, run, state, history):
    pump_cloud.add_assets(2)
    integrate()
    run()
    pump_cloud.assets["P-0001"]["state"] = {**pump_cloud.assets["P-0001"]["state"], "battery": 7}
    pump_cloud.add_assets(1)

    last = run()

    assert (last["assets"], last["created"], last["updated"], last["error_count"]) == (3, 1, 2, 0)
    assert state(sha256("P-0001"))["battery"] == "7"
    assert [value for _, value in history(sha256("P-0001"), "battery")] == [
        "7",
        str(asset_state(1)["battery"]),
    ]
    assert state(sha256("P-0003"))["battery"] == str(asset_state(3)["battery"])


def test_a_field_its_resource_refuses_is_skipped_and_reported(
    connector, pump_cloud, integrate, run, state, owner_api, base
):
    response = owner_api.patch(base + "resources/battery/", {"allowed": ["0-50"]}, format="json")
    assert response.status_code == 200, response.content
    pump_cloud.add_assets(1)  # battery 99
    integrate()

    last = run()

    assert last["state"] == "finished"
    assert last["created"] == 1
    (error,) = last["errors"]
    assert error["asset"] == "P-0001"
    assert error["reason"].startswith("battery: ")
    values = state(sha256("P-0001"))
    assert "battery" not in values
    assert values["temperature"] == "21.0"  # the rest of its state is written


def test_fields_without_a_resource_are_left_out(pump_cloud, integrate, run, state, owner_api, base):
    assert owner_api.delete(base + "resources/vibration/").status_code == 204
    pump_cloud.add_assets(1)
    integrate()

    last = run()

    assert last["error_count"] == 0
    assert "vibration" not in state(sha256("P-0001"))


def test_writes_are_logs_events_with_the_integration_protocol(connector, pump_cloud, integrate, run):
    pump_cloud.add_assets(2)
    integrate()

    run()

    data_in = [e for e in events_recent(connector.pk) if e["type"] == "data_in"]
    assert {e["identity"] for e in data_in} == {sha256("P-0001"), sha256("P-0002")}
    assert {e["protocol"] for e in data_in} == {"integration"}
    (values,) = [e["payload"][0]["values"] for e in data_in if e["identity"] == sha256("P-0001")]
    assert values["battery"] == str(asset_state(1)["battery"])


# --- listing ------------------------------------------------------------------------------------


def test_a_long_list_is_read_page_after_page(pump_cloud, integrate, run, devices):
    pump_cloud.add_assets(5)
    pump_cloud.page_size = 2
    integrate()

    last = run()

    assert (last["assets"], last["created"], last["error_count"]) == (5, 5, 0)
    assert len(devices()) == 5
    pages = [r["query"].get("page") for r in pump_cloud.requests_to("/assets")]
    assert pages == [None, "2", "3"]


def test_a_bare_array_of_assets(pump_cloud, integrate, run, devices):
    pump_cloud.add_assets(3)
    pump_cloud.list_as_array = True
    integrate()

    assert run()["created"] == 3
    assert len(devices()) == 3


@pytest.mark.parametrize(
    "failure, reason",
    [
        ("500", "getAssetState: answered 500"),
        ("404", "getAssetState: answered 404"),
        ("bad_json", "getAssetState: the answer is not JSON"),
    ],
)
def test_one_failing_asset_is_counted_and_the_others_are_synced(
    pump_cloud, integrate, run, state, failure, reason
):
    pump_cloud.add_assets(3)
    pump_cloud.state_failures = {"P-0002": failure}
    integrate()

    last = run()

    assert last["state"] == "finished"
    assert (last["assets"], last["created"], last["error_count"]) == (3, 3, 1)
    assert last["errors"] == [{"asset": "P-0002", "reason": reason}]
    assert state(sha256("P-0001"))["battery"] == str(asset_state(1)["battery"])
    assert state(sha256("P-0003"))["battery"] == str(asset_state(3)["battery"])
    assert state(sha256("P-0002")) == {}


def test_a_failing_5xx_is_retried_before_it_counts(pump_cloud, integrate, run, settings):
    settings.INTEGRATIONS_RETRIES = 2
    pump_cloud.add_assets(1)
    pump_cloud.state_failures = {"P-0001": "500"}
    integrate()

    run()

    assert len(pump_cloud.requests_to("/assets/P-0001/state")) == 3


def test_the_list_failing_fails_the_run(pump_cloud, integrate, run, devices):
    pump_cloud.add_assets(2)
    integrate()
    pump_cloud.down = True

    last = run()

    assert last["state"] == "failed"
    assert last["detail"] == "Listing the assets failed: listAssets answered 503"
    assert devices() == {}


def test_runs_never_overlap(owner_api, base, pump_cloud, integrate):
    pump_cloud.add_assets(1)
    integrate()

    first = owner_api.post(base + "integration/sync/")  # queued: its transaction has not committed
    second = owner_api.post(base + "integration/sync/")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second["Location"] == first["Location"]
    assert pump_cloud.requests == []


def test_a_new_run_starts_once_the_last_one_is_over(pump_cloud, integrate, run):
    pump_cloud.add_assets(1)
    integrate()

    assert run()["job"] != run()["job"]


def test_a_viewer_cannot_start_a_run(api, viewer, base, pump_cloud, integrate):
    integrate()

    response = api(viewer).post(base + "integration/sync/")

    assert response.status_code == 403
    assert pump_cloud.requests == []


def test_a_connector_without_integration_has_nothing_to_sync(owner_api, base):
    assert owner_api.post(base + "integration/sync/").status_code == 404


# --- long polls ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("handler_threads_do_not_keep_connections")
def test_a_long_poll_is_answered_by_a_sync_write(
    owner_api, base, connector, pump_cloud, pump_resources, device_client, asgi_device_client
):
    """A device of the connector with credentials of its own (it predates the integration, its
    identity is its asset's) long-polls its temperature; the run's write answers it."""
    identity = sha256("P-0001")
    activated = device_client.post("/provision/activate", content=f"id={identity}")
    assert activated.status_code == 200
    headers = {"X-Exosite-CIK": activated.text, "Request-Timeout": "10000"}
    pump_cloud.add_assets(1)
    response = owner_api.put(base + "integration/", integration_body(pump_cloud), format="json")
    assert response.status_code == 200

    def sync_now():
        try:
            return owner_api.post(base + "integration/sync/")
        finally:
            connections.close_all()

    async def scenario():
        async with asgi_device_client as client:
            poll = asyncio.create_task(client.get("/onep:v1/stack/alias?temperature", headers=headers))
            await long_polls_waiting(polls=[poll])
            started = await sync_to_async(sync_now, thread_sensitive=False)()
            return started, await asyncio.wait_for(poll, 10)

    began = time.monotonic()
    started, answer = asyncio.run(scenario())

    assert started.status_code == 202
    assert answer.status_code == 200
    assert answer.text == "temperature=21.0"
    assert time.monotonic() - began < 10  # woken, not timed out


def test_nul_characters_from_the_third_party_cost_only_what_holds_them(
    pump_cloud, integrate, run, owner_api, base, connector
):
    """PostgreSQL text cannot hold NUL: an asset id with one is refused, a detail field keeps
    its text without it, a value with one is refused as a device's would be (that field only);
    the run goes on."""
    pump_cloud.add_assets(3)
    pump_cloud.assets["P-0001"]["site"] = "North\x00Plant"
    pump_cloud.assets["P-\x00bad"] = dict(pump_cloud.assets["P-0003"])
    make_resource(connector=connector, alias="note", format="string")
    pump_cloud.assets["P-0002"]["state"] = {**pump_cloud.assets["P-0002"]["state"], "note": "a\x00b"}
    integrate()

    last = run()

    assert last["state"] == "finished"
    reasons = {e["asset"]: e["reason"] for e in last["errors"]}
    assert "cannot name a device" in reasons.pop("#4")
    assert reasons.pop("P-0002") == "note: value contains a NUL character"
    state = owner_api.get(base + f"devices/{sha256('P-0002')}/state/").json()
    assert "note" not in state and state["battery"]["reported"] == str(asset_state(2)["battery"])
    assert reasons == {}
    device = owner_api.get(base + f"devices/{sha256('P-0001')}/").json()
    assert {"name": "asset:site", "value": "NorthPlant"} in device["tags"]
    assert owner_api.get(base + f"devices/{sha256('P-0003')}/state/").json()["temperature"]["reported"]


def test_devices_whose_asset_is_no_longer_listed_are_tagged_gone_until_it_comes_back(
    pump_cloud, integrate, run, owner_api, base
):
    pump_cloud.add_assets(3)
    integrate()
    run()
    removed = pump_cloud.assets.pop("P-0002")

    last = run()

    assert last["state"] == "finished"
    assert "1 device of this integration stands for assets it no longer lists" in last["detail"]
    gone = owner_api.get(base + "devices/", {"tag": "integration_gone:true"}).json()["results"]
    assert [d["identity"] for d in gone] == [sha256("P-0002")]
    assert owner_api.get(base + f"devices/{sha256('P-0002')}/").status_code == 200  # kept

    pump_cloud.assets["P-0002"] = removed
    last = run()

    assert last["detail"] == ""
    assert owner_api.get(base + "devices/", {"tag": "integration_gone:true"}).json()["results"] == []


def test_a_failed_listing_tags_nothing_gone(pump_cloud, integrate, run, owner_api, base):
    pump_cloud.add_assets(2)
    integrate()
    run()
    pump_cloud.down = True

    assert run()["state"] == "failed"
    assert owner_api.get(base + "devices/", {"tag": "integration_gone"}).json()["results"] == []
