"""Waiting in a test for what makes a push arrive, instead of sleeping and hoping.

A subscription counts once Redis holds it: a client that sent SUBSCRIBE has not subscribed yet,
and a message published before Redis reads the command is not delivered. Both helpers therefore
ask Redis (``PUBSUB NUMSUB``), from a connection of their own, on the pub/sub server of this test
process (``PUBSUB_URL``: the session's embedded Redis, or ``REDIS_URL``).
"""

import asyncio
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from django.conf import settings

from devices.device_api.wakes import wake_hub

# Guards against a hang only (the machine may be busy), not a timing assertion.
WITHIN = 30.0


async def until_subscribed(*channels: str, timeout: float = WITHIN) -> None:
    """Return once Redis has a subscriber on each of ``channels``."""
    await _until(lambda: True, channels=lambda: channels, what="a subscription", timeout=timeout)


async def long_polls_waiting(count: int = 1, *, polls: Iterable[asyncio.Task] = (), timeout: float = WITHIN):
    """Return once ``count`` long polls wait for a change in this process's wake hub
    (``devices.device_api.wakes``: their first value check is done, so a change from now on is
    one they wait for) and Redis holds the wake subscription of each of their devices (so that
    change wakes them). Fails if one of ``polls`` (the tasks making them) is answered first."""
    hub = wake_hub()
    polls = list(polls)

    def ready() -> bool:
        for task in polls:
            assert not task.done(), f"the long poll answered early: {task.result()}"
        return hub.waiting >= count and all(device in hub.subscribed for device in hub.waiters)

    await _until(
        ready,
        channels=lambda: [hub.wakes.channel(device) for device in hub.waiters],
        what=f"{count} long poll(s) waiting",
        timeout=timeout,
    )


async def _until(ready, *, channels, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    redis = aioredis.Redis.from_url(settings.PUBSUB_URL)
    try:
        while True:
            if ready():
                names = channels()
                if names and all(count for _, count in await redis.pubsub_numsub(*names)):
                    return
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)
    finally:
        await redis.aclose()
