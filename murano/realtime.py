"""Server pushes: channel-layer groups and the per-connector buffer of recent events.

One typed helper for every push from synchronous code (services, the device API's worker
threads, WSGI workers). With Redis, pushes go straight to Redis with redis-py in one pipelined
round trip, in the wire format of ``channels_redis``'s pub/sub layer, so Channels consumers in
any Daphne process receive them; no event loop is started per push. Without Redis (the embedded
default: one process), pushes go through the in-memory channel layer and the buffer is a deque.
"""

import json
import threading
from collections import deque

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

_local_lock = threading.Lock()
_local_buffers: dict[str, deque] = {}
_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, health_check_interval=30)
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


def _buffer_key(connector_id: str) -> str:
    return f"murano:events:{connector_id}"


def push(*, groups: dict[str, dict], buffer: tuple[str, dict] | None = None) -> None:
    """Send ``{group: message}`` and optionally append ``(connector_id, event)`` to its buffer."""
    layer = _redis_layer()
    if layer is not None:
        pipe = _redis().pipeline(transaction=False)
        if buffer is not None:
            key = _buffer_key(buffer[0])
            pipe.lpush(key, json.dumps(buffer[1], separators=(",", ":")))
            pipe.ltrim(key, 0, settings.EVENT_BUFFER_SIZE - 1)
        for group, message in groups.items():
            pipe.publish(_group_channel(layer, group), layer.serialize(message))
        pipe.execute()
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
        raw = _redis().lrange(_buffer_key(connector_id), 0, limit - 1)
        return [json.loads(item) for item in reversed(raw)]
    with _local_lock:
        ring = list(_local_buffers.get(connector_id, ()))
    return ring[-limit:]


def forget(connector_id: str) -> None:
    """Drop a connector's buffer (when the connector is deleted)."""
    if _redis_layer() is not None:
        _redis().delete(_buffer_key(connector_id))
    else:
        with _local_lock:
            _local_buffers.pop(connector_id, None)
