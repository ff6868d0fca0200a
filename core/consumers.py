"""What the platform's websocket consumers share: close codes and surviving an unreachable Redis."""

import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from redis.exceptions import RedisError

# Close codes: 4401 nobody is logged in, 4404 no such connector for this user (its existence
# does not leak: a connector of someone else's looks exactly like one that does not exist).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# The stream cannot be served right now (Redis, which carries events, is unreachable): try again
# later, as HTTP's 503 says (RFC 6455's own 1013 is refused by Daphne, which allows 1000 and
# 3000–4999 only).
CLOSE_UNAVAILABLE = 4503
# What an unreachable Redis raises from the channel layer and the event buffer.
REDIS_DOWN = (RedisError, OSError)

logger = logging.getLogger(__name__)


async def handshake_refuse(receive, send, code: int) -> None:
    """Complete a websocket handshake and close at once with ``code``: what a consumer answers
    when it cannot even start (a close during the handshake would be an HTTP error instead)."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})


class RedisAwareConsumer(AsyncWebsocketConsumer):
    """A consumer whose start may meet an unreachable Redis (the channel layer names each
    consumer's channel there before ``connect`` runs): ``redis_down`` answers the socket then,
    instead of the server failing the upgrade with an HTTP 500."""

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except REDIS_DOWN as exc:
            if getattr(self, "channel_name", None):
                raise  # the stream had started: nothing left to answer
            await self.redis_down(exc, scope, receive, send)

    async def redis_down(self, exc, scope, receive, send) -> None:
        """By default the socket opens and closes at once with 4503 (try again later)."""
        logger.warning("%s: Redis is unreachable (%s)", type(self).__name__, exc)
        await handshake_refuse(receive, send, CLOSE_UNAVAILABLE)
