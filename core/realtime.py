"""Server pushes: channel-layer groups and the per-connector buffer of recent events.

One typed helper for every push from synchronous code (services, the device API's worker
threads, WSGI workers, Celery tasks). Pushes go to Redis (the operator's, or on the embedded
default the private one that ``runplatform`` starts: murano/embedded_redis.py) with redis-py, in
the wire format of ``channels_redis``'s pub/sub layer, so Channels consumers in any Daphne
process receive them; no event loop is started per push. They are sent by a background thread of
each process, which takes whatever has queued up since its last send and sends it in one
pipelined round trip: a device request hands its events over and answers without waiting for
Redis. The thread waits ``REALTIME_SEND_DELAY_MS`` after the first push of a batch before
sending, so under load one round trip carries many events and a request wakes the thread once
per batch, not once per event (waking it per event cost a tenth of a device read's CPU). While
Redis is away, pushes are dropped with a warning: they are notifications, and the state they
announce is in the database (long polls re-check it).
"""

import atexit
import contextlib
import json
import logging
import os
import threading
import time

import redis
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)
_redis_client = None
_redis_pid = None


def _redis():
    global _redis_client, _redis_pid
    if _redis_client is None or _redis_pid != os.getpid():  # never share sockets across a fork
        _redis_client = redis.Redis.from_url(
            settings.PUBSUB_URL, health_check_interval=30, socket_connect_timeout=2, socket_timeout=5
        )
        _redis_pid = os.getpid()
    return _redis_client


def _layer():
    return get_channel_layer()


def _group_channel(layer, group: str) -> str:
    prefix = layer._kwargs.get("prefix", "asgi")
    return f"{prefix}__group__{group}"


def group_channel(group: str) -> str:
    """The Redis pub/sub channel a group's messages are published on."""
    return _group_channel(_layer(), group)


def group_message_decode(data: bytes) -> dict:
    """A group message as read from its Redis channel (the channel layer's encoding)."""
    return _layer().deserialize(data)


def embedded_server_missing() -> bool:
    """On the embedded default, whether no platform runs (no socket of its private Redis): a
    command-line tool used on its own then has nobody to push to."""
    return not settings.REDIS_URL and not os.path.exists(settings.EMBEDDED_REDIS_SOCKET)


def _buffer_key(connector_id: str) -> str:
    return f"murano:events:{connector_id}"


class _RedisSender:
    """This process's queue of pushes and the thread that sends them to Redis in batches."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queued: list[tuple[dict, tuple | None]] = []
        self.ready = threading.Event()
        # Held while a batch is on its way, so a flush returns only once everything queued
        # before it has reached Redis (even a batch the sender thread took first).
        self.sending = threading.Lock()
        self.pid = None

    def add(self, groups: dict[str, dict], buffer: tuple[str, dict] | None) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first push in this process (or in a forked worker)
                self.pid, self.queued = os.getpid(), []
                threading.Thread(target=self._run, name="realtime-sender", daemon=True).start()
                # A short-lived process (a management command) exits before the thread's next
                # batch: send what is still queued on the way out.
                atexit.register(self._flush_at_exit)
            self.queued.append((groups, buffer))
            first = len(self.queued) == 1
        if first:  # the sender sleeps until a batch starts; later pushes join that batch
            self.ready.set()

    def flush(self) -> None:
        """Send what is queued now, from the calling thread."""
        with self.sending:
            with self.lock:
                batch, self.queued = self.queued, []
            if batch:
                self._send(batch)

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception as error:
            logger.warning("sending the last events to Redis failed: %s", error)

    def _run(self) -> None:
        delay = settings.REALTIME_SEND_DELAY_MS / 1000
        while True:
            self.ready.wait()
            if delay:
                time.sleep(delay)
            self.ready.clear()
            try:
                self.flush()
            except redis.RedisError as error:
                # Events are for people watching: losing a batch must not stop the next ones.
                logger.warning("sending events to Redis failed: %s", error)
            except Exception:
                logger.exception("sending events to Redis failed")

    def _send(self, batch) -> None:
        if embedded_server_missing():
            return
        layer = _layer()
        pipe = _redis().pipeline(transaction=False)
        trimmed = set()
        for groups, buffer in batch:
            if buffer is not None:
                key = _buffer_key(buffer[0])
                pipe.lpush(key, json.dumps(buffer[1], separators=(",", ":")))
                trimmed.add(key)
            for group, message in groups.items():
                pipe.publish(_group_channel(layer, group), layer.serialize(message))
        for key in trimmed:
            pipe.ltrim(key, 0, settings.EVENT_BUFFER_SIZE - 1)
        pipe.execute()


_sender = _RedisSender()


_holding = threading.local()


def push(*, groups: dict[str, dict], buffer: tuple[str, dict] | None = None) -> None:
    """Send ``{group: message}`` and optionally append ``(connector_id, event)`` to its buffer."""
    held = getattr(_holding, "pushes", None)
    if held is not None:
        held.append((groups, buffer))
        return
    _sender.add(groups, buffer)


@contextlib.contextmanager
def pushes_held():
    """Pushes made in this thread inside the block go out when it ends, and none if it raises.
    Around a transaction (``with pushes_held(), transaction.atomic():``), what the pushes
    announce is committed before anyone hears of it: a long poll woken sooner would read the
    old value and go on waiting."""
    outer = getattr(_holding, "pushes", None)
    _holding.pushes = held = []
    try:
        yield
    finally:
        _holding.pushes = outer
    for groups, buffer in held:  # only when the block did not raise
        push(groups=groups, buffer=buffer)


def recent(connector_id: str, limit: int | None = None) -> list[dict]:
    """The connector's most recent events, oldest first (none while Redis is away)."""
    limit = min(limit or settings.EVENT_BUFFER_SIZE, settings.EVENT_BUFFER_SIZE)
    if embedded_server_missing():
        return []
    try:
        _sender.flush()  # this process's own latest events are part of "recent"
        raw = _redis().lrange(_buffer_key(connector_id), 0, limit - 1)
    except redis.RedisError as error:
        logger.warning("reading recent events from Redis failed: %s", error)
        return []
    return [json.loads(item) for item in reversed(raw)]


def forget(connector_id: str) -> None:
    """Drop a connector's buffer (when the connector is deleted). While Redis is away the buffer
    stays (at most ``EVENT_BUFFER_SIZE`` events): nobody can read it without the connector."""
    if embedded_server_missing():
        return
    try:
        _sender.flush()
        _redis().delete(_buffer_key(connector_id))
    except redis.RedisError as error:
        logger.warning("dropping a deleted connector's events from Redis failed: %s", error)
