"""The wake hub: this process's waiting long polls, woken by pushes on devices' ``device_wake``
groups (``devices.events``).

A long poll holds no thread while it waits (``asgi.py``): it registers here, and the hub
subscribes to the device's wake channel in Redis (the operator's, or the embedded one) while
anyone waits on that device. A cloud set or a device write in any process publishes there
(``devices.events``); the hub wakes the matching waiters, which check their values in batches
(``LongPollChecks``) on the device API's thread pool.
"""

import asyncio
import functools
import logging
import os
import time

import redis.exceptions
from django.conf import settings

from core import realtime
from devices.device_api import handlers
from devices.device_api.pool import run_sync
from devices.device_api.protocol import DeviceResponse
from devices.events import device_wake_group

logger = logging.getLogger(__name__)
# While Redis is away, subscriptions are tried again after this long (seconds), doubling up to
# the maximum; at once when the hub's connection comes back.
_RETRY_FIRST, _RETRY_MAX = 0.5, 5.0
# What an unreachable Redis raises.
_OUTAGE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, TimeoutError)


class Waiter:
    """One waiting long poll: ``event`` is set when its device may have changed; ``checked``
    once its first value check is done (a change from then on is one it waits for)."""

    __slots__ = ("device_id", "event", "checked")

    def __init__(self, device_id: int):
        self.device_id = device_id
        self.event = asyncio.Event()
        self.checked = False


class WakeHub:
    """Per-process registry of waiting long polls, woken by pushes on ``group`` (``device_wake``;
    the MQTT listener's hub listens on ``device_set``).

    The process subscribes to a device's wake group only while someone waits on that device,
    so one wake message costs one dictionary lookup here however many polls there are. Polls
    that arrive together share one subscribe command (and ones that end together one
    unsubscribe): a long poll is answered only once its subscription has been sent, so that the
    value check that follows cannot miss a change.

    While Redis is away, wakes are lost: polls check their value once more when their wait ends
    (``_long_poll``), subscriptions that failed are tried again (``_RETRY_FIRST``…``_RETRY_MAX``,
    and at once when the connection is back), and every waiter checks again after a reconnection
    and after its device's subscription finally went out.
    """

    waiter_class = Waiter

    def __init__(self, group=device_wake_group):
        self.waiters: dict[int, set[Waiter]] = {}
        self.subscribed: set[int] = set()  # subscriptions sent
        self.to_subscribe: set[int] = set()  # for the next batch
        self.to_unsubscribe: set[int] = set()
        self.batch: asyncio.Future | None = None  # done once the next batch is sent
        self.sending = asyncio.Lock()
        self.failed: set[int] = set()  # devices with waiters whose subscription failed
        self.retry: asyncio.TimerHandle | None = None
        self.retry_delay = _RETRY_FIRST
        self.outage_since: float | None = None  # time.monotonic() of the first failure
        # "<layer prefix>__group__device_wake.", the channel names before a device id.
        wake_prefix = realtime.group_channel(group(0)).removesuffix("0")
        self.wakes = _RedisWakes(self, wake_prefix)
        self.checks = LongPollChecks()  # the value checks of this process's polls

    async def add(self, device_id: int) -> Waiter:
        """Register a waiter; return once the device's wake group is subscribed."""
        waiter = self.waiter_class(device_id)
        self.waiters.setdefault(device_id, set()).add(waiter)
        if device_id in self.to_unsubscribe:
            self.to_unsubscribe.discard(device_id)  # never left: still subscribed
        elif device_id not in self.subscribed:
            self.to_subscribe.add(device_id)
            try:
                await asyncio.shield(self._send_soon())
            except BaseException:  # cancelled (the client went away): not waiting after all
                self.remove(waiter)
                raise
        return waiter

    def remove(self, waiter: Waiter) -> None:
        group = self.waiters.get(waiter.device_id)
        if group is None:
            return
        group.discard(waiter)
        if not group:
            del self.waiters[waiter.device_id]
            if waiter.device_id in self.subscribed:
                self.to_unsubscribe.add(waiter.device_id)
                self._send_soon()

    def message(self, device_id: int, data: bytes) -> None:
        """A push on the device's channel (``data``: the channel layer's encoding of it)."""
        self.wake(device_id)

    def wake(self, device_id) -> None:
        for waiter in self.waiters.get(device_id, ()):
            waiter.event.set()

    def wake_all(self) -> None:
        """Every waiter checks its value again (wakes may have been lost: a reconnection)."""
        for group in self.waiters.values():
            for waiter in group:
                waiter.event.set()

    def _send_soon(self) -> asyncio.Future:
        if self.batch is None:
            self.batch = asyncio.get_running_loop().create_future()
            asyncio.ensure_future(self._send())
        return self.batch

    async def _send(self) -> None:
        async with self.sending:  # one batch at a time: commands reach Redis in order
            batch, self.batch = self.batch, None  # each batch has its own send
            subscribe = [d for d in self.to_subscribe if d in self.waiters]
            unsubscribe = [d for d in self.to_unsubscribe if d not in self.waiters]
            self.to_subscribe, self.to_unsubscribe = set(), set()
            self.subscribed.difference_update(unsubscribe)
            failure = None
            try:
                if unsubscribe:
                    await self.wakes.unsubscribe(unsubscribe)
                    unsubscribe = []
                if subscribe:
                    await self.wakes.subscribe(subscribe)
                    self.subscribed.update(subscribe)
            except Exception as error:
                failure = error
            finally:
                batch.set_result(None)
            if failure is not None:
                # The polls check their value all the same (and again when their wait ends);
                # these devices are tried again. Channels whose unsubscribe failed are still
                # subscribed as far as the client knows (it subscribes them again on reconnecting).
                self.subscribed.update(unsubscribe)
                self.to_unsubscribe.update(d for d in unsubscribe if d not in self.waiters)
                retried = [d for d in subscribe if d in self.waiters]
                self.to_subscribe.update(retried)
                self.failed.update(retried)
                self._retry_later(failure)
                return
            self._recovered()
            for device_id in subscribe:
                if device_id in self.failed:
                    # Subscribed at last: wakes sent before now were lost, so check again.
                    self.failed.discard(device_id)
                    self.wake(device_id)
            # Polls that ended while their subscription was on its way.
            if any(d not in self.waiters for d in subscribe):
                self.to_unsubscribe.update(d for d in subscribe if d not in self.waiters)
                self._send_soon()

    def _retry_later(self, error: BaseException) -> None:
        self.outage(error)
        self.failed.intersection_update(self.waiters)
        if self.retry is None and (self.to_subscribe or self.to_unsubscribe):
            self.retry = asyncio.get_running_loop().call_later(self.retry_delay, self._retry_now)
            self.retry_delay = min(self.retry_delay * 2, _RETRY_MAX)

    def _retry_now(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        if self.to_subscribe or self.to_unsubscribe:
            self._send_soon()

    def outage(self, error: BaseException) -> None:
        """Redis could not be reached: said once per outage (not at every retry), with a
        traceback only for what is not a connection problem."""
        if not isinstance(error, _OUTAGE):
            logger.error("wake hub: talking to Redis failed", exc_info=error)
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            logger.warning(
                "wake hub: Redis is unreachable (%s); long polls check their values when their "
                "wait ends and once it is back", error,
            )  # fmt: skip

    def _recovered(self) -> None:
        self.retry_delay = _RETRY_FIRST
        if self.outage_since is not None:
            logger.warning("wake hub: Redis is back after %.1f s", time.monotonic() - self.outage_since)
            self.outage_since = None

    def reconnected(self) -> None:
        """The connection to Redis is back (the client subscribed its channels again): wakes
        sent meanwhile were lost, so every waiter checks its value; failed subscriptions go now.

        The client subscribes again every channel it still holds, and it may hold some that were
        unsubscribed around an earlier reconnection (it forgets a channel only when Redis
        confirms an unsubscribe it was waiting for, and a reconnection clears what it waits
        for): those with no waiter left are unsubscribed again, or they would stay forever."""
        stale = [d for d in self.wakes.client_devices() if d not in self.waiters]
        self.subscribed.update(stale)
        self.to_unsubscribe.update(stale)
        self._recovered()
        self.wake_all()
        self._retry_now()

    @property
    def waiting(self) -> int:
        """How many polls wait for a change: subscribed, and their first value check done."""
        return sum(waiter.checked for group in self.waiters.values() for waiter in group)


class _RedisWakes:
    """Wake pushes read straight from Redis (the operator's or the embedded one): the hub
    subscribes to the channels the Redis channel layer publishes the devices' wake groups on,
    many per command, on a connection of its own, and reads them without decoding (the channel
    names the device). Reading through the channel layer instead cost a timer per message it
    read, subscription confirmations included, a sixth of a Daphne process's CPU while thousands
    of polls arrive. After a reconnection (the Redis client subscribes again by itself) every
    waiter checks its value again, as wakes sent meanwhile are lost."""

    def __init__(self, hub: WakeHub, prefix: str):
        import redis.asyncio as aioredis

        self.hub = hub
        self.prefix = prefix  # a device's wake channel is this and its id (device_wake_group)
        # Named, so an operator (or a test) can tell this process's connection in CLIENT LIST.
        self.client = aioredis.Redis.from_url(settings.PUBSUB_URL, client_name=f"murano-wakes-{os.getpid()}")
        self.pubsub = self.client.pubsub()
        self.reader: asyncio.Task | None = None

    def channel(self, device_id: int) -> str:
        return f"{self.prefix}{device_id}"

    async def subscribe(self, device_ids: list[int]) -> None:
        await self.pubsub.subscribe(*(self.channel(d) for d in device_ids))
        if self.reader is None:
            self.pubsub.connection.register_connect_callback(self._reconnected)
            self.reader = asyncio.ensure_future(self._read())

    async def unsubscribe(self, device_ids: list[int]) -> None:
        await self.pubsub.unsubscribe(*(self.channel(d) for d in device_ids))

    async def close(self) -> None:
        """Stop reading and drop the connection (a server shutting down)."""
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        await self.pubsub.aclose()
        await self.client.aclose()

    def client_devices(self) -> list[int]:
        """The devices whose wake channels the client holds as subscribed."""
        devices = []
        for channel in self.pubsub.channels:
            name = channel.decode() if isinstance(channel, bytes) else channel
            if name.startswith(self.prefix) and name[len(self.prefix) :].isdigit():
                devices.append(int(name[len(self.prefix) :]))
        return devices

    async def _reconnected(self, connection) -> None:
        self.hub.reconnected()

    async def _read(self) -> None:
        prefix = self.prefix.encode()
        size = len(prefix)
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except Exception as error:  # (a cancellation is not one: it ends the loop)
                self.hub.outage(error)  # the next read reconnects: then ``_reconnected``
                await asyncio.sleep(0.5)
                continue
            channel = message and message.get("channel")
            if channel and channel.startswith(prefix):
                try:
                    device_id = int(channel[size:])
                except ValueError:
                    continue
                self.hub.message(device_id, message.get("data") or b"")


class LongPollChecks:
    """Checks of long polls' values, batched: the polls that ask in the same turn of the event
    loop (those whose subscriptions went out in one command, or that one wake-up woke) share
    one trip to the thread pool and one query."""

    def __init__(self):
        # Checks while polls wait, and final ones (their wait is over: no change is a 304).
        self.pending: dict[bool, list[tuple[handlers.LongPollWait, asyncio.Future]]] = {False: [], True: []}
        self.scheduled = False

    async def check(self, wait: handlers.LongPollWait, final: bool = False) -> DeviceResponse | None:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self.pending[final].append((wait, answer))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._run)
        return await answer

    def _run(self) -> None:
        self.scheduled = False
        for final, batch in self.pending.items():
            self.pending[final] = []
            batch = [(wait, answer) for wait, answer in batch if not answer.done()]  # not cancelled
            if batch:
                checked = asyncio.ensure_future(
                    run_sync(handlers.long_poll_check_many, [w for w, _ in batch], final)
                )
                checked.add_done_callback(functools.partial(self._answer, batch))

    @staticmethod
    def _answer(batch, done: asyncio.Future) -> None:
        error = asyncio.CancelledError() if done.cancelled() else done.exception()
        for index, (_, answer) in enumerate(batch):
            if answer.done():
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(done.result()[index])


_hubs: dict[asyncio.AbstractEventLoop, WakeHub] = {}


def wake_hub() -> WakeHub:
    """The hub of the running event loop (one per process in a server; a test's loop has its own)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [old for old in _hubs if old.is_closed()]:  # a test's finished loop
            del _hubs[old]
        hub = _hubs[loop] = WakeHub()
    return hub
