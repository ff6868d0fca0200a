"""The live Logs stream at ``/ws/connectors/<id>/logs/``: who may open it, the recent buffer on
open, each event as it happens, the ``?identity=`` filter, and garbage from the client."""

import asyncio

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from devices.events import EventType, event_emit, logs_ticket_issue
from tests.conftest import device_host
from tests.factories import make_connector, make_member

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("handler_threads_do_not_keep_connections"),
]


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")]


async def open_logs(connector_id: str, headers, query: str = ""):
    from murano.asgi import application

    path = f"/ws/connectors/{connector_id}/logs/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def closed_with(connector_id, headers) -> int | None:
    communicator, connected = await open_logs(connector_id, headers)
    try:
        message = await communicator.receive_output(timeout=5)
    finally:
        await communicator.disconnect()
    return message.get("code") if message["type"] == "websocket.close" else None


@pytest.fixture
def acme(db):
    owner = make_member(business_name="Acme", role="admin").user
    viewer = make_member(business_name="Acme", role="viewer").user
    outsider = make_member(business_name="Globex", role="admin").user
    connector = make_connector(business=owner.businesses.get(), devmode=True)
    return owner, viewer, outsider, connector


def emit(connector, identity: str, type=EventType.DATA_IN, payload=None):
    event_emit(connector_id=connector.pk, type=type, identity=identity, ip="203.0.113.7", payload=payload)


def test_open_sends_the_recent_buffer_then_each_event_live(acme):
    owner, _, _, connector = acme
    emit(connector, "early-1")
    emit(connector, "early-2")

    headers = session_headers(owner)

    async def scenario():
        communicator, connected = await open_logs(connector.pk, headers)
        assert connected
        first = await communicator.receive_json_from(timeout=5)
        assert first["kind"] == "recent"
        assert [e["identity"] for e in first["events"]] == ["early-1", "early-2"]
        await asyncio.get_running_loop().run_in_executor(None, emit, connector, "live", EventType.DATA_IN,
                                                         [{"values": {"temp": "21"}}])  # fmt: skip
        live = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return live

    live = async_to_sync(scenario)()
    assert live["kind"] == "event"
    assert live["event"]["type"] == "data_in"
    assert live["event"]["identity"] == "live"
    assert live["event"]["payload"] == [{"values": {"temp": "21"}}]


def test_a_device_activating_over_the_device_api_shows_up_live(acme):
    owner, _, _, connector = acme

    headers = session_headers(owner)

    async def scenario():
        from murano.asgi import application

        communicator, connected = await open_logs(connector.pk, headers)
        assert connected
        await communicator.receive_json_from(timeout=5)
        transport = httpx.ASGITransport(app=application, client=("203.0.113.8", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{device_host(connector)}"
        ) as device:
            token = (await device.post("/provision/activate", content="id=thermo-1")).text
            await device.post("/onep:v1/stack/alias", content="temp=21", headers={"X-Exosite-CIK": token})
        events = [(await communicator.receive_json_from(timeout=5))["event"] for _ in range(2)]
        await communicator.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert [(e["type"], e["identity"], e["ip"]) for e in events] == [
        ("provisioned", "thermo-1", "203.0.113.8"),
        ("data_in", "thermo-1", "203.0.113.8"),
    ]


def test_identity_query_narrows_the_stream_to_one_device(acme):
    owner, viewer, _, connector = acme
    emit(connector, "a")
    emit(connector, "b")

    headers = session_headers(viewer)

    async def scenario():
        communicator, _ = await open_logs(connector.pk, headers, query="identity=b")
        recent = await communicator.receive_json_from(timeout=5)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, emit, connector, "a")
        await loop.run_in_executor(None, emit, connector, "b")
        live = await communicator.receive_json_from(timeout=5)
        nothing_else = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return recent, live, nothing_else

    recent, live, nothing_else = async_to_sync(scenario)()
    assert [e["identity"] for e in recent["events"]] == ["b"]
    assert live["event"]["identity"] == "b"
    assert nothing_else


def test_garbage_from_the_client_is_ignored_and_the_stream_goes_on(acme):
    owner, _, _, connector = acme

    headers = session_headers(owner)

    async def scenario():
        communicator, _ = await open_logs(connector.pk, headers)
        await communicator.receive_json_from(timeout=5)
        await communicator.send_to(text_data="{not json")
        await communicator.send_to(bytes_data=b"\x00\xff" * 100)
        await asyncio.get_running_loop().run_in_executor(None, emit, connector, "still-here")
        live = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return live

    assert async_to_sync(scenario)()["event"]["identity"] == "still-here"


def test_someone_elses_connector_is_closed_as_not_found(acme):
    _, _, outsider, connector = acme
    assert async_to_sync(closed_with)(connector.pk, session_headers(outsider)) == 4404


def test_a_connector_that_does_not_exist_is_closed_as_not_found(acme):
    owner, *_ = acme
    assert async_to_sync(closed_with)("zzzzzzzzzzzzzzzzz", session_headers(owner)) == 4404


def test_anonymous_is_closed_as_unauthenticated(acme):
    connector = acme[3]
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    assert async_to_sync(closed_with)(connector.pk, headers) == 4401


def test_a_foreign_origin_is_refused(acme):
    owner, _, _, connector = acme
    headers = [h for h in session_headers(owner) if h[0] != b"origin"] + [
        (b"origin", b"https://evil.example")
    ]

    async def scenario():
        communicator, connected = await open_logs(connector.pk, headers)
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


def test_an_operator_ticket_opens_only_its_connector(acme):
    owner, _, _, connector = acme
    other = make_connector(business=owner.businesses.get(), name="Other", devmode=True)
    base = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    ticket = [(b"x-murano-logs-ticket", logs_ticket_issue(connector.pk).encode())]

    async def scenario():
        communicator, connected = await open_logs(connector.pk, base + ticket)
        first = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, first

    connected, first = async_to_sync(scenario)()
    assert connected and first["kind"] == "recent"
    assert async_to_sync(closed_with)(other.pk, base + ticket) == 4404
    forged = [(b"x-murano-logs-ticket", b"eyJjb25uZWN0b3IiOiJ4In0:forged:sig")]
    assert async_to_sync(closed_with)(connector.pk, base + forged) == 4404


@pytest.mark.parametrize("when", ["the stream is created", "the stream joins its group"])
def test_without_redis_the_stream_opens_and_closes_with_try_again_later(acme, settings, monkeypatch, when):
    """Redis carries the events: when it cannot be reached the handshake still completes and the
    socket closes with 4503 (the page reconnects later), never an HTTP 500."""
    from channels.layers import get_channel_layer
    from redis.exceptions import ConnectionError as RedisConnectionError

    owner, _, _, connector = acme
    if when == "the stream is created":  # nothing listens: the layer cannot even name a channel
        from tests.live import free_port

        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
            }
        }
    else:  # Redis goes away between the channel and the group (as seen with a real outage)

        async def group_add(group, channel):
            raise RedisConnectionError("Connection refused.")

        monkeypatch.setattr(get_channel_layer(), "group_add", group_add)

    assert async_to_sync(closed_with)(connector.pk, session_headers(owner)) == 4503
