"""A whole firmware update driven over HTTP by clients acting as devices, on the ASGI
application: each device long-polls ``config_otau``, downloads the FILE payload in ranges,
checks it and reports on ``otau_in``; a failing device pauses the rollout before the next wave."""

import asyncio
import hashlib
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tests.pubsub import long_polls_waiting

ALIAS = "/onep:v1/stack/alias"
# Guards against a hang only (generous: the machine may be busy), not timing assertions.
PROMPT = 120.0

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("handler_threads_do_not_keep_connections"),
]


async def _activate(client, identity: str) -> dict:
    response = await client.post("/provision/activate", content=f"id={identity}")
    assert response.status_code == 200, response.text
    return {"X-Exosite-CIK": response.text}


async def _report(client, headers, status: str, message: str = "") -> None:
    value = json.dumps({"version": "2.0.0", "status": status, "message": message})
    response = await client.post(ALIAS, data={"otau_in": value}, headers=headers)
    assert response.status_code == 204, response.text


async def _download(client, headers, content_id: str, size: int, part: int = 100_000) -> bytes:
    """The payload in ranges, as a device with little memory fetches it."""
    parts = []
    for start in range(0, size, part):
        range_header = f"bytes={start}-{min(start + part, size) - 1}"
        response = await client.get(
            "/provision/download", params={"id": content_id}, headers={**headers, "Range": range_header}
        )
        assert response.status_code == 206, response.text
        parts.append(response.content)
    return b"".join(parts)


def _in_thread(function):
    """Run a management-side call in a worker thread while the event loop serves devices."""

    async def run(*args, **kwargs):
        def call():
            try:
                return function(*args, **kwargs)
            finally:
                connections.close_all()

        return await sync_to_async(call, thread_sensitive=False)()

    return run


def test_a_rollout_updates_a_device_end_to_end_and_pauses_when_the_next_wave_fails(
    asgi_device_client, package, owner_api, connector
):
    base = f"/api/v1/connectors/{connector.pk}/firmware/"
    start = _in_thread(lambda body: owner_api.post(base + "update/", body, format="json"))
    rollout_of = _in_thread(lambda rollout_id: owner_api.get(f"{base}rollouts/{rollout_id}/").json())
    image_sha256 = hashlib.sha256(package).hexdigest()

    async def device_updates(client, headers, *, fail: bool) -> str:
        """A device's firmware loop: wait for config_otau, fetch, install, report."""
        poll = await client.get(f"{ALIAS}?config_otau", headers={**headers, "Request-Timeout": "240000"})
        assert poll.status_code == 200, poll.text
        config = json.loads(_form_value(poll.text, "config_otau"))
        assert config["version"] == "2.0.0" and config["type"] == "FILE"
        await _report(client, headers, "INIT")
        info = await client.get(
            "/provision/download", params={"id": config["payload"], "info": "true"}, headers=headers
        )
        size = int(info.text.split(",")[1])
        await _report(client, headers, "DOWNLOAD")
        image = await _download(client, headers, config["payload"], size)
        if fail:
            await _report(client, headers, "DOWNLOAD_ERROR", "flash write failed")
            return "failed"
        assert hashlib.sha256(image).hexdigest() == image_sha256
        await _report(client, headers, "DOWNLOAD_SUCCESS")
        await _report(client, headers, "INSTALL")
        await _report(client, headers, "INSTALL_SUCCESS", "running 2.0.0")
        return "installed"

    async def scenario():
        async with asgi_device_client as client:
            devices = {identity: await _activate(client, identity) for identity in ("t-1", "t-2", "t-3")}
            first = asyncio.create_task(device_updates(client, devices["t-1"], fail=False))
            second = asyncio.create_task(device_updates(client, devices["t-2"], fail=True))
            await long_polls_waiting(2, polls=[first, second], timeout=PROMPT)
            response = await start({"package": "package_fw_2.0.0", "devices": ["t-1", "t-2", "t-3"],
                                    "wave_size": 1, "success_threshold": 1.0})  # fmt: skip
            assert response.status_code == 201, response.content
            rollout_id = response.json()["id"]
            assert await asyncio.wait_for(first, PROMPT) == "installed"
            # Wave 1 finished: wave 2 (t-2) got its config_otau and woke its long poll.
            assert await asyncio.wait_for(second, PROMPT) == "failed"
            third = await client.get(f"{ALIAS}?config_otau", headers=devices["t-3"])
            return await rollout_of(rollout_id), third

    rollout, third = asyncio.run(scenario())

    assert rollout["state"] == "paused"
    assert "wave 2 of 3: 1 of 1 devices failed" in rollout["state_reason"]
    assert rollout["counts"] == {"INSTALL_SUCCESS": 1, "DOWNLOAD_ERROR": 1, "QUEUED": 1}
    assert rollout["waves"] == [{"INSTALL_SUCCESS": 1}, {"DOWNLOAD_ERROR": 1}, {"QUEUED": 1}]
    assert third.status_code == 204  # the paused rollout never reached t-3
    history = owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/devices/t-1/").json()
    assert history["installed_version"] == "2.0.0"
    assert [r["status"] for r in reversed(history["reports"])] == [
        "INIT", "DOWNLOAD", "DOWNLOAD_SUCCESS", "INSTALL", "INSTALL_SUCCESS",
    ]  # fmt: skip


def _form_value(body: str, name: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(body, keep_blank_values=True)[name][0]
