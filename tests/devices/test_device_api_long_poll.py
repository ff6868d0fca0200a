"""Device API long polls: ``GET /onep:v1/stack/alias?<alias>[&<alias>…]`` with ``Request-Timeout``,
served by the ASGI application (waiting on the channel layer), woken by cloud sets and device
writes."""

import asyncio
import time
from email.utils import format_datetime, parsedate_to_datetime
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings
from django.utils.http import http_date

from connectors import runtime
from connectors.models import Connector
from devices.device_api import handlers
from devices.models import Device, DeviceState
from tests.devices.conftest import activate
from tests.factories import make_resource
from tests.pubsub import long_polls_waiting

ALIAS = "/onep:v1/stack/alias"
# Generous bound for "answered at once / as soon as it changed" on a loaded CI machine.
PROMPT = 2.0

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("handler_threads_do_not_keep_connections"),
]


@pytest.fixture
def device(token_device, connector):
    make_resource(connector=connector, alias="temp", format="integer")
    make_resource(connector=connector, alias="setpoint", format="number", settable=True)
    return token_device


def poll_headers(device, timeout_ms, since=None) -> dict:
    headers = {**device.headers, "Request-Timeout": str(timeout_ms)}
    if since is not None:
        headers["If-Modified-Since"] = since
    return headers


async def long_poll(client, device, alias: str, timeout_ms: int, since=None):
    return await client.get(f"{ALIAS}?{alias}", headers=poll_headers(device, timeout_ms, since))


def cloud_set(owner_api, connector, identity, values):
    """A product manager's cloud set through the management API."""
    response = owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{identity}/state/", values, format="json"
    )
    assert response.status_code == 200, response.content
    return response


async def cloud_set_meanwhile(owner_api, connector, identity, values):
    """``cloud_set`` from a worker thread while the event loop serves the long poll."""

    def run():
        try:
            return cloud_set(owner_api, connector, identity, values)
        finally:
            connections.close_all()

    return await sync_to_async(run, thread_sensitive=False)()


def last_modified_us(response) -> int:
    return int(parsedate_to_datetime(response.headers["Last-Modified"]).timestamp()) * 1_000_000


# --- woken ----------------------------------------------------------------------------------


def test_long_poll_answers_a_cloud_set_as_soon_as_it_is_made(
    asgi_device_client, device, connector, owner_api, device_state
):
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "setpoint", 10_000))
            await long_polls_waiting(polls=[task])
            began = time.monotonic()
            await cloud_set_meanwhile(owner_api, connector, device.identity, {"setpoint": 19})
            response = await task
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.text == "setpoint=19"
    assert elapsed < PROMPT
    stamp = device_state(device.identity)["setpoint"]["timestamp"]
    assert last_modified_us(response) == stamp // 1_000_000 * 1_000_000


def test_long_poll_answers_a_write_from_another_connection(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "temp", 10_000))
            await long_polls_waiting(polls=[task])
            began = time.monotonic()
            write = await client.post(ALIAS, content="temp=22", headers=device.headers)
            assert write.status_code == 204
            response = await task
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.text == "temp=22"
    assert "Last-Modified" in response.headers
    assert elapsed < PROMPT


def test_long_poll_answers_a_newer_recorded_point(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "temp", 10_000))
            await long_polls_waiting(polls=[task])
            future = int(time.time()) + 60
            record = await client.post(
                "/onep:v1/stack/record", content=f"alias=temp&{future}=30", headers=device.headers
            )
            assert record.status_code == 204
            return await task

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.text == "temp=30"


def test_long_poll_is_not_answered_by_a_write_of_other_aliases(asgi_device_client, device, connector):
    make_resource(connector=connector, alias="humidity", format="integer")

    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "temp", 500))
            await long_polls_waiting(polls=[task])
            await client.post(ALIAS, content="humidity=40&undefined=1", headers=device.headers)
            return await task

    assert asyncio.run(scenario()).status_code == 304


def test_device_acknowledging_a_cloud_set_does_not_answer_its_long_poll_again(
    asgi_device_client, device, connector, owner_api
):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})

    async def scenario():
        async with asgi_device_client as client:
            got = await long_poll(client, device, "setpoint", 10_000, since="0")
            assert (got.status_code, got.text) == (200, "setpoint=19")
            # The device acts on the command, polls again from where it was, and acknowledges.
            task = asyncio.create_task(long_poll(client, device, "setpoint", 600))
            await long_polls_waiting(polls=[task])
            ack = await client.post(ALIAS, content="setpoint=19", headers=device.headers)
            assert ack.status_code == 204
            return await task

    assert asyncio.run(scenario()).status_code == 304


def test_long_poll_is_not_answered_by_a_write_of_the_same_value(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            await client.post(ALIAS, content="temp=21", headers=device.headers)
            task = asyncio.create_task(long_poll(client, device, "temp", 600))
            await long_polls_waiting(polls=[task])
            await client.post(ALIAS, content="temp=21", headers=device.headers)
            return await task

    assert asyncio.run(scenario()).status_code == 304


def test_device_write_under_a_pending_cloud_set_does_not_answer_the_long_poll(
    asgi_device_client, device, connector, owner_api
):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})

    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "setpoint", 600))
            await long_polls_waiting(polls=[task])
            # The readable value stays the pending cloud set.
            await client.post(ALIAS, content="setpoint=17", headers=device.headers)
            return await task

    assert asyncio.run(scenario()).status_code == 304


def test_several_long_polls_on_one_device_are_all_answered(asgi_device_client, device, connector, owner_api):
    async def scenario():
        async with asgi_device_client as client:
            tasks = [asyncio.create_task(long_poll(client, device, "setpoint", 10_000)) for _ in range(3)]
            await long_polls_waiting(3, polls=tasks)
            await cloud_set_meanwhile(owner_api, connector, device.identity, {"setpoint": 5})
            return await asyncio.gather(*tasks)

    responses = asyncio.run(scenario())
    assert [(r.status_code, r.text) for r in responses] == [(200, "setpoint=5")] * 3


def test_long_poll_emits_a_read_event_with_its_outcome(asgi_device_client, device, events):
    async def scenario():
        async with asgi_device_client as client:
            timed_out = await long_poll(client, device, "temp&setpoint", 100)
            task = asyncio.create_task(long_poll(client, device, "temp&setpoint", 10_000))
            await long_polls_waiting(polls=[task])
            await client.post(ALIAS, content="temp=3", headers=device.headers)
            return timed_out, await task

    timed_out, changed = asyncio.run(scenario())
    assert (timed_out.status_code, changed.status_code) == (304, 200)
    payloads = [e["payload"] for e in events("read")]
    assert payloads == [
        {"aliases": ["temp", "setpoint"], "long_poll": "timeout"},
        {"aliases": ["temp", "setpoint"], "long_poll": "changed", "changed": ["temp"]},
    ]
    assert {e["identity"] for e in events("read")} == {device.identity}


# --- several aliases (real gateways poll all their configuration at once) --------------------


def test_long_poll_on_several_aliases_answers_the_one_that_changed(
    asgi_device_client, device, connector, owner_api
):
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "temp&setpoint&undefined", 10_000))
            await long_polls_waiting(polls=[task])
            began = time.monotonic()
            await cloud_set_meanwhile(owner_api, connector, device.identity, {"setpoint": 19})
            response = await task
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert (response.status_code, response.text) == (200, "setpoint=19")
    assert elapsed < PROMPT


def test_long_poll_on_several_aliases_answers_every_one_changed_since_and_the_latest_time(
    asgi_device_client, device, device_client, connector, owner_api, device_state
):
    # Two changes in different seconds: Last-Modified names the later one.
    half_a_minute_ago = int(time.time()) - 30
    recorded = device_client.post(
        "/onep:v1/stack/record", content=f"alias=temp&{half_a_minute_ago}=21", headers=device.headers
    )
    assert recorded.status_code == 204
    cloud_set(owner_api, connector, device.identity, {"setpoint": 18})
    a_minute_ago = http_date(time.time() - 60)

    async def scenario():
        async with asgi_device_client as client:
            first = await long_poll(client, device, "temp&setpoint", 10_000, since=a_minute_ago)
            # Sent back, its Last-Modified asks for what comes after both.
            again = await long_poll(
                client, device, "temp&setpoint", 300, since=first.headers["Last-Modified"]
            )
            return first, again

    first, again = asyncio.run(scenario())
    assert first.status_code == 200
    assert sorted(first.text.split("&")) == ["setpoint=18", "temp=21"]
    latest = device_state(device.identity)["setpoint"]["timestamp"]
    assert last_modified_us(first) == latest // 1_000_000 * 1_000_000
    assert again.status_code == 304


def test_a_gateway_long_poll_of_its_configuration_gets_a_change_made_from_the_cloud(
    asgi_device_client, device_client, connector, owner_api
):
    # Issue #18: an unmodified industrial gateway polls three aliases with its timeout in
    # seconds × 1000; it must get a configuration change made while it waits.
    for alias in ("config_io", "config_applications"):
        make_resource(connector=connector, alias=alias, format="string", settable=True)
    make_resource(connector=connector, alias="data_out", format="string")
    token = activate(device_client, "gateway-1").text
    gateway = SimpleNamespace(identity="gateway-1", headers={"X-Exosite-CIK": token})
    query = "config_io&data_out&config_applications"

    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, gateway, query, 300_000_000))
            await long_polls_waiting(polls=[task])
            await cloud_set_meanwhile(owner_api, connector, "gateway-1", {"config_io": '{"di1": "on"}'})
            return await task

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.text == "config_io=%7B%22di1%22%3A%20%22on%22%7D"
    assert "Last-Modified" in response.headers


@override_settings(DEVICE_API_MAX_LONG_POLL_MS=300)
@pytest.mark.parametrize("timeout", ["300000000", "99999999999999999999", "1e999", "300000.0", "1e3"])
def test_long_poll_timeout_over_the_maximum_is_served_as_the_maximum(asgi_device_client, device, timeout):
    async def scenario():
        async with asgi_device_client as client:
            began = time.monotonic()
            response = await client.get(
                f"{ALIAS}?temp", headers={**device.headers, "Request-Timeout": timeout}
            )
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert response.status_code == 304
    assert 0.3 <= elapsed < PROMPT


def test_long_poll_whose_wake_up_was_lost_answers_the_change_at_its_timeout(asgi_device_client, device):
    # The value changes without a wake-up reaching the poll (as while Redis is away): the poll
    # looks again when its wait ends instead of answering 304.
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "temp", 800))
            await long_polls_waiting(polls=[task])
            await sync_to_async(_write_without_wake, thread_sensitive=False)(device.identity, "temp", "7")
            return await task

    response = asyncio.run(scenario())
    assert (response.status_code, response.text) == (200, "temp=7")


def _write_without_wake(identity: str, alias: str, value: str) -> None:
    try:
        device = Device.objects.get(identity=identity)
        DeviceState.objects.create(
            device=device, alias=alias, reported=value, set=value, timestamp=time.time_ns() // 1000
        )
    finally:
        connections.close_all()


def test_long_polls_of_many_devices_arriving_together_each_get_their_own_answer(
    asgi_device_client, device_client, device, connector, owner_api
):
    # Polls that arrive together share one subscription command and one value check: each is
    # still answered on its own device's value, and only when that value changes.
    fleet = [device]
    for n in range(2, 7):
        token = activate(device_client, f"sensor-{n}").text
        fleet.append(SimpleNamespace(identity=f"sensor-{n}", headers={"X-Exosite-CIK": token}))
    # sensor-3 already has a value newer than its If-Modified-Since: its first check answers.
    cloud_set(owner_api, connector, "sensor-3", {"setpoint": 3})
    a_minute_ago = http_date(time.time() - 60)

    async def scenario():
        async with asgi_device_client as client:
            since = {"sensor-3": a_minute_ago}
            tasks = {
                d.identity: asyncio.create_task(
                    long_poll(client, d, "setpoint", 1_500, since=since.get(d.identity))
                )
                for d in fleet
            }
            # sensor-3's poll is answered by its first check, and so leaves the hub.
            await asyncio.wait_for(asyncio.shield(tasks["sensor-3"]), timeout=30)
            await long_polls_waiting(
                len(fleet) - 1, polls=[task for identity, task in tasks.items() if identity != "sensor-3"]
            )
            await cloud_set_meanwhile(owner_api, connector, "sensor-5", {"setpoint": 5})
            return {identity: await task for identity, task in tasks.items()}

    answers = asyncio.run(scenario())
    assert {identity: (r.status_code, r.text) for identity, r in answers.items()} == {
        "sensor-1": (304, ""),
        "sensor-2": (304, ""),
        "sensor-3": (200, "setpoint=3"),
        "sensor-4": (304, ""),
        "sensor-5": (200, "setpoint=5"),
        "sensor-6": (304, ""),
    }


def test_one_check_of_many_polls_answers_each_from_its_own_device(
    device_client, device, connector, owner_api
):
    # The batched check itself, with its polls in one call: a value only counts for its device.
    assert activate(device_client, "sensor-2").status_code == 200
    cloud_set(owner_api, connector, "sensor-2", {"setpoint": 2})
    rules = runtime.resource_rules(connector.pk, Connector.objects.get(pk=connector.pk).updated_at)
    now = time.time_ns() // 1000

    def wait(identity, since_us, alias="setpoint"):
        pk = Device.objects.get(connector=connector, identity=identity).pk
        return handlers.LongPollWait(
            device_id=pk, connector_id=connector.pk, identity=identity, aliases=(alias,),
            rules=(rules.get(alias),), since_us=since_us, since_end_us=since_us,
            deadline=time.monotonic() + 5, ip="203.0.113.7", connection_id="c",
        )  # fmt: skip

    answers = handlers.long_poll_check_many(
        [wait(device.identity, now - 60_000_000), wait("sensor-2", now - 60_000_000),
         wait("sensor-2", now + 60_000_000), wait("sensor-2", now - 60_000_000, alias="nope")]
    )  # fmt: skip
    assert [(a.status, a.body) if a else None for a in answers] == [
        None,
        (200, b"setpoint=2"),
        None,
        None,
    ]


# --- If-Modified-Since ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["unix", "unix-fraction", "http-date"])
def test_long_poll_since_a_moment_before_the_last_change_answers_at_once(
    asgi_device_client, device, device_client, form
):
    device_client.post(ALIAS, content="temp=21", headers=device.headers)
    earlier = time.time() - 60
    since = {
        "unix": str(int(earlier)),
        "unix-fraction": f"{earlier:.3f}",
        "http-date": http_date(earlier),
    }[form]

    async def scenario():
        async with asgi_device_client as client:
            began = time.monotonic()
            response = await long_poll(client, device, "temp", 10_000, since=since)
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.text == "temp=21"
    assert abs(last_modified_us(response) / 1e6 - time.time()) < 5
    assert elapsed < PROMPT


def test_if_modified_since_of_a_whole_second_covers_all_of_it(
    asgi_device_client, device, device_client, device_state
):
    device_client.post(ALIAS, content="temp=21", headers=device.headers)
    second = device_state(device.identity)["temp"]["timestamp"] // 1_000_000

    async def scenario():
        async with asgi_device_client as client:
            return [
                (await long_poll(client, device, "temp", 300, since=since)).status_code
                for since in (http_date(second), str(second), f"{second}.0", str(second - 1))
            ]

    # The change is inside the second named: not after it, unless the moment has a fraction.
    assert asyncio.run(scenario()) == [304, 304, 200, 200]


@pytest.mark.parametrize("form", ["numeric zone", "rfc850", "asctime"])
def test_long_poll_accepts_every_http_date_form(asgi_device_client, device, device_client, form):
    from datetime import UTC, datetime

    device_client.post(ALIAS, content="temp=21", headers=device.headers)
    moment = datetime.fromtimestamp(time.time() - 60, tz=UTC)
    since = {
        "numeric zone": format_datetime(moment),  # "..., +0000"
        "rfc850": moment.strftime("%A, %d-%b-%y %H:%M:%S GMT"),
        "asctime": moment.strftime("%a %b %e %H:%M:%S %Y"),  # no zone: HTTP dates are UTC
    }[form]

    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "temp", 10_000, since=since)

    assert asyncio.run(scenario()).status_code == 200


def test_long_poll_without_if_modified_since_waits_for_a_change_after_now(
    asgi_device_client, device, device_client
):
    device_client.post(ALIAS, content="temp=21", headers=device.headers)

    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "temp", 300)

    assert asyncio.run(scenario()).status_code == 304


def test_long_poll_sent_back_its_last_modified_waits_for_the_next_change(
    asgi_device_client, device, connector, owner_api
):
    cloud_set(owner_api, connector, device.identity, {"setpoint": 19})

    async def scenario():
        async with asgi_device_client as client:
            first = await long_poll(client, device, "setpoint", 10_000, since="0")
            again = await long_poll(client, device, "setpoint", 300, since=first.headers["Last-Modified"])
            task = asyncio.create_task(
                long_poll(client, device, "setpoint", 10_000, since=first.headers["Last-Modified"])
            )
            await long_polls_waiting(polls=[task])
            await cloud_set_meanwhile(owner_api, connector, device.identity, {"setpoint": 20})
            return first, again, await task

    first, again, changed = asyncio.run(scenario())
    assert (first.status_code, first.text) == (200, "setpoint=19")
    assert again.status_code == 304
    assert (changed.status_code, changed.text) == (200, "setpoint=20")


def test_long_poll_on_an_alias_without_a_value_waits(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "temp", 300, since="0")

    assert asyncio.run(scenario()).status_code == 304


def test_long_poll_does_not_answer_with_the_initial_value(asgi_device_client, device, connector):
    make_resource(connector=connector, alias="interval", format="integer", initial="60")

    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "interval", 300, since="0")

    assert asyncio.run(scenario()).status_code == 304


# --- timeout --------------------------------------------------------------------------------


def test_long_poll_answers_304_at_its_timeout(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            began = time.monotonic()
            response = await long_poll(client, device, "temp", 300)
            return response, time.monotonic() - began

    response, elapsed = asyncio.run(scenario())
    assert response.status_code == 304
    assert response.content == b""
    assert 0.3 <= elapsed < PROMPT


def test_long_poll_on_an_undefined_alias_times_out(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            task = asyncio.create_task(long_poll(client, device, "undefined", 400))
            await long_polls_waiting(polls=[task])
            await client.post(ALIAS, content="undefined=1", headers=device.headers)
            return await task

    assert asyncio.run(scenario()).status_code == 304


def test_long_poll_of_the_maximum_timeout_is_accepted(asgi_device_client, device, device_client):
    device_client.post(ALIAS, content="temp=21", headers=device.headers)

    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "temp", 300_000, since="0")

    assert asyncio.run(scenario()).status_code == 200


# --- refused --------------------------------------------------------------------------------


MALFORMED = {
    "zero timeout": ("temp", "0", None),
    "timeout that rounds to zero": ("temp", "1e-999", None),
    "negative timeout": ("temp", "-1", None),
    "timeout not a number": ("temp", "soon", None),
    "timeout NaN": ("temp", "NaN", None),
    "timeout with a unit": ("temp", "30s", None),
    "empty timeout": ("temp", "", None),
    "garbage If-Modified-Since": ("temp", "1000", "yesterday"),
    "negative If-Modified-Since": ("temp", "1000", "-5"),
    "If-Modified-Since after year 3000": ("temp", "1000", "99999999999999"),
    "no alias": ("", "1000", None),
}


def test_malformed_long_polls_are_400_at_once(asgi_device_client, device):
    # One test for all cases: each transactional test costs a database flush.
    async def scenario():
        answers = {}
        async with asgi_device_client as client:
            for case, (query, timeout, since) in MALFORMED.items():
                headers = {**device.headers, "Request-Timeout": timeout}
                if since is not None:
                    headers["If-Modified-Since"] = since
                began = time.monotonic()
                response = await client.get(f"{ALIAS}?{query}", headers=headers)
                answers[case] = (response.status_code, bool(response.text), time.monotonic() - began < PROMPT)
        return answers

    assert asyncio.run(scenario()) == {case: (400, True, True) for case in MALFORMED}


def test_long_poll_without_credentials_is_401(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            return await client.get(f"{ALIAS}?temp", headers={"Request-Timeout": "5000"})

    assert asyncio.run(scenario()).status_code == 401


def test_locked_device_cannot_long_poll(asgi_device_client, device, connector, owner_api):
    owner_api.patch(
        f"/api/v1/connectors/{connector.pk}/devices/{device.identity}/", {"locked": True}, format="json"
    )

    async def scenario():
        async with asgi_device_client as client:
            return await long_poll(client, device, "temp", 5000)

    assert asyncio.run(scenario()).status_code == 403


# --- short requests over ASGI, long polls reaching a WSGI worker ------------------------------


def test_asgi_serves_writes_and_reads(asgi_device_client, device):
    async def scenario():
        async with asgi_device_client as client:
            write = await client.post(ALIAS, content="temp=21", headers=device.headers)
            read = await client.get(f"{ALIAS}?temp", headers=device.headers)
            return write, read

    write, read = asyncio.run(scenario())
    assert write.status_code == 204
    assert (read.status_code, read.text) == (200, "temp=21")


def test_long_poll_on_a_wsgi_worker_answers_correctly(device_client, device):
    began = time.monotonic()
    timed_out = device_client.get(f"{ALIAS}?temp", headers=poll_headers(device, 300))
    assert timed_out.status_code == 304
    assert 0.3 <= time.monotonic() - began < PROMPT
    device_client.post(ALIAS, content="temp=21", headers=device.headers)
    changed = device_client.get(f"{ALIAS}?temp", headers=poll_headers(device, 10_000, since="0"))
    assert (changed.status_code, changed.text) == (200, "temp=21")
    assert "Last-Modified" in changed.headers
    several = device_client.get(f"{ALIAS}?setpoint&temp", headers=poll_headers(device, 10_000, since="0"))
    assert (several.status_code, several.text) == (200, "temp=21")
    refused = device_client.get(f"{ALIAS}?temp", headers=poll_headers(device, 0))
    assert refused.status_code == 400
