"""Websocket consumers: a connector's live event stream (the Logs tab, the device page and
``manage.py logs --follow``)."""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.http import Http404

from connectors.models import Connector
from connectors.selectors import connector_access
from core.consumers import (
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
    REDIS_DOWN,
    RedisAwareConsumer,
)
from devices.events import connector_logs_group, events_recent, logs_ticket_connector

# How far (µs) past the newest buffered event a live one may still be a copy of a buffered one.
_OVERLAP_US = 5_000_000

logger = logging.getLogger(__name__)


def _event_key(event: dict) -> tuple:
    return (event.get("timestamp"), event.get("connection_id"), event.get("type"), event.get("identity"))


@database_sync_to_async
def _connector_for_scope(scope, connector_id: str) -> tuple[str | None, int]:
    """The connector id the socket may stream, or None and the close code."""
    ticket = dict(scope.get("headers") or ()).get(b"x-murano-logs-ticket")
    if ticket is not None:
        allowed = logs_ticket_connector(ticket.decode("latin-1"))
        if allowed == connector_id and Connector.objects.filter(pk=connector_id).exists():
            return connector_id, 0
        return None, CLOSE_NOT_FOUND
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None, CLOSE_UNAUTHENTICATED
    try:
        connector = connector_access(user=user, connector_id=connector_id).connector
    except Http404:
        return None, CLOSE_NOT_FOUND
    return connector.pk, 0


class ConnectorLogsConsumer(RedisAwareConsumer):
    """Streams a connector's device events: the recent buffer on open, then each event live.

    ``?identity=<identity>`` narrows the stream to one device (the device page). Messages from
    the client are ignored: the stream is one-way, and garbage must not break it. When Redis
    cannot be reached the handshake still completes, and the socket closes at once with 4503
    (try again later) instead of the server failing the upgrade.
    """

    async def connect(self):
        self.group = None
        self.sent: set[tuple] = set()
        connector_id, close_code = await _connector_for_scope(
            self.scope, self.scope["url_route"]["kwargs"]["connector_id"]
        )
        if connector_id is None:
            # Accept first: a close code sent during the handshake never reaches the client.
            await self.accept()
            await self.close(code=close_code)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.identity = (query.get("identity") or [None])[0]
        # Join the group before reading the buffer, so nothing falls between the two. Live
        # events that arrived meanwhile are delivered after this handler returns; those the
        # buffer already held are skipped then (``self.sent``), so nothing is sent twice.
        accepted = False
        try:
            await self.channel_layer.group_add(connector_logs_group(connector_id), self.channel_name)
            self.group = connector_logs_group(connector_id)
            await self.accept()
            accepted = True
            recent = [e for e in await database_sync_to_async(events_recent)(connector_id) if self._wanted(e)]
        except REDIS_DOWN as exc:
            logger.warning("live logs of connector %s: Redis is unreachable (%s)", connector_id, exc)
            if not accepted:
                await self.accept()  # as above: the close code needs the handshake done
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        await self.send(text_data=json.dumps({"kind": "recent", "events": recent}))
        self.sent = {_event_key(e) for e in recent}
        self.overlap_until = max((e.get("timestamp") or 0 for e in recent), default=0) + _OVERLAP_US

    async def disconnect(self, code):
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except REDIS_DOWN:
                pass  # nothing to leave: the subscription went with the connection

    async def receive(self, text_data=None, bytes_data=None):
        return  # one-way stream

    def _wanted(self, event: dict) -> bool:
        return self.identity is None or event.get("identity") == self.identity

    async def device_event(self, message):
        event = message.get("event")
        if not isinstance(event, dict) or not self._wanted(event):
            return
        if self.sent:
            key = _event_key(event)
            if key in self.sent:
                self.sent.discard(key)
                return
            if (event.get("timestamp") or 0) > self.overlap_until:
                self.sent = set()  # long past the buffer read: no more overlap to look for
        await self.send(text_data=json.dumps({"kind": "event", "event": event}))

    async def device_wake(self, message):
        return  # not for this consumer
