"""Server pushes: channel-layer groups and the per-connector buffer of recent events.

One typed helper for every push from synchronous code (services, the device API's worker
threads, WSGI workers). With Redis, pushes go to Redis with redis-py, in the wire format of
``channels_redis``'s pub/sub layer, so Channels consumers in any Daphne process receive them; no
event loop is started per push. They are sent by a background thread of each process, which
takes whatever has queued up since its last send and sends it in one pipelined round trip: a
device request hands its events over and answers without waiting for Redis. The thread waits
``REALTIME_SEND_DELAY_MS`` after the first push of a batch before sending, so under load one
round trip carries many events and a request wakes the thread once per batch, not once per
event (waking it per event cost a tenth of a device read's CPU). Without Redis (the embedded
default: one process), pushes go through the in-memory channel layer and the buffer is a deque.
"""

import json
import logging
import os
import threading
import time
from collections import deque

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)
_local_lock = threading.Lock()
_local_buffers: dict[str, deque] = {}
_redis_client = None
_redis_pid = None


def _redis():
    global _redis_client, _redis_pid
    if _redis_client is None or _redis_pid != os.getpid():  # never share sockets across a fork
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, health_check_interval=30)
        _redis_pid = os.getpid()
    return _redis_client


def _redis_layer():
    layer = get_channel_layer()
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:  # pragma: no cover - channels_redis is a requirement
        return None
    return layer if isinstance(layer, RedisPubSubChannelLayer) else None


def _group_channel(layer, group: str) -> str:
    prefix = layer._kwargs.get("prefix", "asgi")
    return f"{prefix}__group__{group}"


def redis_group_channel(group: str) -> str | None:
    """The Redis pub/sub channel a group's messages are published on, or None without Redis."""
    layer = _redis_layer()
    return _group_channel(layer, group) if layer is not None else None


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

    def _run(self) -> None:
        delay = settings.REALTIME_SEND_DELAY_MS / 1000
        while True:
            self.ready.wait()
            if delay:
                time.sleep(delay)
            self.ready.clear()
            try:
                self.flush()
            except Exception:
                # Events are for people watching: losing a batch must not stop the next ones.
                logger.exception("sending events to Redis failed")

    def _send(self, batch) -> None:
        layer = _redis_layer()
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


def push(*, groups: dict[str, dict], buffer: tuple[str, dict] | None = None) -> None:
    """Send ``{group: message}`` and optionally append ``(connector_id, event)`` to its buffer."""
    if _redis_layer() is not None:
        _sender.add(groups, buffer)
        return
    if buffer is not None:
        with _local_lock:
            ring = _local_buffers.get(buffer[0])
            if ring is None:
                ring = _local_buffers[buffer[0]] = deque(maxlen=settings.EVENT_BUFFER_SIZE)
            ring.append(buffer[1])
    channel_layer = get_channel_layer()
    for group, message in groups.items():
        async_to_sync(channel_layer.group_send)(group, message)


def recent(connector_id: str, limit: int | None = None) -> list[dict]:
    """The connector's most recent events, oldest first."""
    limit = min(limit or settings.EVENT_BUFFER_SIZE, settings.EVENT_BUFFER_SIZE)
    if _redis_layer() is not None:
        _sender.flush()  # this process's own latest events are part of "recent"
        raw = _redis().lrange(_buffer_key(connector_id), 0, limit - 1)
        return [json.loads(item) for item in reversed(raw)]
    with _local_lock:
        ring = list(_local_buffers.get(connector_id, ()))
    return ring[-limit:]


def forget(connector_id: str) -> None:
    """Drop a connector's buffer (when the connector is deleted)."""
    if _redis_layer() is not None:
        _sender.flush()
        _redis().delete(_buffer_key(connector_id))
    else:
        with _local_lock:
            _local_buffers.pop(connector_id, None)
