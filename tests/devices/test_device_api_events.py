"""Device API events: every device interaction is an event in the connector's Logs (its recent
buffer and its live channel-layer group), in the contract's shape."""

import asyncio
import base64
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from connectors.services import connector_update
from core import realtime
from devices.events import connector_logs_group, events_recent
from tests.devices.conftest import activate
from tests.factories import make_connector, make_device, make_resource
from tests.pubsub import until_subscribed

ALIAS = "/onep:v1/stack/alias"
RECORD = "/onep:v1/stack/record"
KEYS = {"type", "identity", "ip", "protocol", "timestamp", "connection_id", "payload"}


@pytest.fixture
def device(token_device, connector):
    make_resource(connector=connector, alias="temp", format="integer")
    make_resource(connector=connector, alias="name", format="string")
    return token_device


def now_us() -> int:
    return time.time_ns() // 1000


def test_every_event_has_the_contract_shape(device_client, device, connector, owner_api, events):
    make_device(connector=connector, identity="locked", locked=True)
    device_client.post(ALIAS, content="temp=1", headers=device.headers)
    device_client.post(ALIAS, content="temp=x", headers=device.headers)
    device_client.get(f"{ALIAS}?temp", headers=device.headers)
    device_client.post(RECORD, content="alias=temp&1700000000=1", headers=device.headers)
    device_client.post(ALIAS, content="temp=1")
    activate(device_client, "locked")
    owner_api.delete(f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/")
    recorded = events()
    assert [e["type"] for e in recorded] == [
        "provisioned", "data_in", "write_rejected", "read", "record", "auth_failed", "provision_denied",
        "deleted",
    ]  # fmt: skip
    for event in recorded:
        assert set(event) == KEYS
        assert isinstance(event["timestamp"], int)
        assert abs(event["timestamp"] - now_us()) < 60 * 1_000_000
    device_events = recorded[:-1]
    assert {e["protocol"] for e in device_events} == {"http"}
    assert {e["ip"] for e in device_events} == {"203.0.113.7"}
    assert all(e["connection_id"] for e in device_events)
    stamps = [e["timestamp"] for e in recorded]
    assert stamps == sorted(stamps)


def test_activation_emits_provisioned(device_client, connector, events):
    activate(device_client, "abc")
    (event,) = events()
    assert event["type"] == "provisioned"
    assert event["identity"] == "abc"
    assert event["payload"] == {"auth_type": "token"}


def test_write_emits_data_in_with_its_server_timestamp_and_values(
    device_client, device, events, device_state
):
    device_client.post(ALIAS, content="temp=21&name=kitchen&extra=1", headers=device.headers)
    (event,) = events("data_in")
    assert event["identity"] == device.identity
    stamp = device_state(device.identity)["temp"]["timestamp"]
    assert event["payload"] == [
        {"timestamp": stamp, "values": {"temp": "21", "name": "kitchen", "extra": "1"}}
    ]


def test_data_in_event_shortens_long_values_but_the_state_keeps_them(
    device_client, device, events, device_state
):
    value = "v" * 5000
    device_client.post(ALIAS, content=f"name={value}", headers=device.headers)
    shown = events("data_in")[0]["payload"][0]["values"]["name"]
    assert len(shown) < 2000
    assert value.startswith(shown.rstrip("…"))
    assert device_state(device.identity)["name"]["reported"] == value


def test_rejected_write_emits_write_rejected_and_no_data_in(device_client, device, events):
    device_client.post(ALIAS, content="temp=hot&name=ok", headers=device.headers)
    assert events("data_in") == []
    (event,) = events("write_rejected")
    assert event["identity"] == device.identity
    assert "temp" in event["payload"]["reason"]


def test_rejected_record_emits_write_rejected(device_client, device, events):
    device_client.post(RECORD, content="alias=temp&1700000000=hot", headers=device.headers)
    assert events("record") == []
    (event,) = events("write_rejected")
    assert "temp" in event["payload"]["reason"]


def test_record_with_duplicate_timestamps_emits_write_rejected(device_client, device, events):
    device_client.post(RECORD, content="alias=temp&1700000000=1&1700000000=2", headers=device.headers)
    assert events("record") == []
    (event,) = events("write_rejected")
    assert "1700000000" in event["payload"]["reason"]


def test_record_emits_record_with_its_points(device_client, device, events):
    device_client.post(
        RECORD,
        content="alias=temp&1700000000=1&1700000000.5=2&alias=name&1700000001=x",
        headers=device.headers,
    )
    (event,) = events("record")
    assert event["payload"] == [
        {"timestamp": 1_700_000_000_000_000, "values": {"temp": "1"}},
        {"timestamp": 1_700_000_000_500_000, "values": {"temp": "2"}},
        {"timestamp": 1_700_000_001_000_000, "values": {"name": "x"}},
    ]


def test_read_emits_read_naming_the_aliases(device_client, device, events):
    device_client.get(f"{ALIAS}?temp&name", headers=device.headers)
    (event,) = events("read")
    assert event["identity"] == device.identity
    assert event["payload"]["aliases"] == ["temp", "name"]


def test_hybrid_events_share_one_connection_id(device_client, device, events):
    device_client.post(f"{ALIAS}?temp", content="temp=1", headers=device.headers)
    device_client.post(ALIAS, content="temp=2", headers=device.headers)
    first, second = events("data_in")
    (read,) = events("read")
    assert read["connection_id"] == first["connection_id"]
    assert second["connection_id"] != first["connection_id"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no_credentials"),
        ({"X-Exosite-CIK": "nope"}, "malformed_token"),
        ({"X-Exosite-CIK": "0" * 40}, "unknown_token"),
        ({"Authorization": "Basic " + base64.b64encode(b"sensor-1:" + b"p" * 20).decode()}, "bad_password"),
    ],
)
def test_failed_authentication_emits_auth_failed_with_its_reason(
    device_client, device, events, headers, reason
):
    assert device_client.post(ALIAS, content="temp=1", headers=headers).status_code == 401
    (event,) = events("auth_failed")
    assert event["payload"] == {"reason": reason}
    assert event["ip"] == "203.0.113.7"
    assert "0" * 40 not in str(event)


def test_bad_password_event_names_the_identity_but_not_the_password(device_client, connector, events):
    connector_update(connector=connector, changes={"auth_type": "password", "identity_type": "mac:colon"})
    activate(device_client, "00:11:22:33:44:55", "right-password-of-20-bytes")
    wrong = "wrong-password-of-20-bytes"
    headers = {"Authorization": "Basic " + base64.b64encode(f"00:11:22:33:44:55:{wrong}".encode()).decode()}
    assert device_client.get(f"{ALIAS}?temp", headers=headers).status_code == 401
    (event,) = events("auth_failed")
    assert event["identity"] == "00:11:22:33:44:55"
    assert wrong not in str(events())


def test_locked_device_request_emits_locked_denied(device_client, device, connector, owner_api, events):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/", {"locked": True}, format="json"
    )
    device_client.post(ALIAS, content="temp=1", headers=device.headers)
    (event,) = events("locked_denied")
    assert event["identity"] == device.identity
    assert events("data_in") == []


def test_deleting_a_device_emits_deleted(device, connector, owner_api, events):
    response = owner_api.delete(f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/")
    assert response.status_code == 204
    (event,) = events("deleted")
    assert event["identity"] == device.identity


def test_tokens_never_appear_in_events(device_client, device, events):
    device_client.post(ALIAS, content="temp=1", headers=device.headers)
    assert device.token not in str(events())


def test_events_stay_in_their_connector(device_client, device, business, wsgi_client_from, connector):
    other = make_connector(business=business, name="Other", devmode=True)
    activate(wsgi_client_from(other), "elsewhere")
    assert [e["identity"] for e in events_recent(other.pk)] == ["elsewhere"]
    assert "elsewhere" not in [e["identity"] for e in events_recent(connector.pk)]


@pytest.mark.django_db(transaction=True)
def test_events_are_pushed_live_to_the_connectors_logs_group(device_client, device, connector, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)

    def write():
        try:
            return device_client.post(ALIAS, content="temp=7", headers=device.headers).status_code
        finally:
            connections.close_all()

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(connector_logs_group(connector.pk), channel)
        await until_subscribed(realtime.group_channel(connector_logs_group(connector.pk)))
        assert await sync_to_async(write, thread_sensitive=False)() == 204
        # The device's activation (its fixture) may be pushed after the subscription: events
        # are sent in batches, a few milliseconds later. The write's event comes after it.
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        while message["event"]["type"] == "provisioned":
            message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        await layer.group_discard(connector_logs_group(connector.pk), channel)
        return message

    message = asyncio.run(scenario())
    assert message["type"] == "device.event"
    assert message["event"]["type"] == "data_in"
    assert message["event"]["payload"][0]["values"] == {"temp": "7"}
