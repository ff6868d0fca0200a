"""``manage.py logs <connector> [--follow]``: a connector's device events in the terminal.

The events live in the running server (the embedded default keeps them in its memory; in
production they cross Redis), so the command reads them the way the Logs tab does: over the
server's websocket, opened with a short-lived ticket signed with the deployment's SECRET_KEY.
"""

import asyncio
import json
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connectors.models import Connector
from devices.events import EventType, logs_ticket_issue


def format_event(event: dict) -> str:
    """One line per event: time, type, identity, address, then the payload in short."""
    stamp = event.get("timestamp") or 0
    when = datetime.fromtimestamp(stamp / 1_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    payload = event.get("payload")
    if isinstance(payload, list) and payload and all(isinstance(p, dict) and "values" in p for p in payload):
        detail = "  ".join(f"{k}={v}" for point in payload for k, v in (point.get("values") or {}).items())
    elif payload in (None, {}, []):
        detail = ""
    else:
        detail = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    parts = [
        when,
        f"{event.get('type', '?'):<16}",
        event.get("identity") or "-",
        event.get("ip") or "-",
        detail,
    ]
    return "  ".join(parts).rstrip()


class Command(BaseCommand):
    help = "Print a connector's device events (the recent ones; with --follow, live as they happen)."

    def add_arguments(self, parser):
        parser.add_argument("connector", help="connector id")
        parser.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
        parser.add_argument("--identity", help="only this device's events")
        parser.add_argument(
            "--type", action="append", choices=[t.value for t in EventType], dest="types",
            help="only events of this type (repeatable)",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object per line")
        parser.add_argument(
            "--url", default=settings.MURANO_URL,
            help="the running server (default: MURANO_URL, else http://127.0.0.1:8000)",
        )  # fmt: skip

    def handle(self, *args, connector, follow, identity, types, as_json, url, **options):
        if not Connector.objects.filter(pk=connector).exists():
            raise CommandError(f"No connector {connector!r}.")
        self.as_json = as_json
        self.types = set(types or ())
        try:
            asyncio.run(self._stream(connector, identity=identity, follow=follow, url=url))
        except KeyboardInterrupt:
            pass

    def _print(self, event: dict) -> None:
        if self.types and event.get("type") not in self.types:
            return
        self.stdout.write(_json_line(event) if self.as_json else format_event(event))
        self.stdout.flush()

    async def _stream(self, connector_id: str, *, identity: str | None, follow: bool, url: str) -> None:
        import websockets

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--url must be an http(s) address, not {url!r}.")
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = f"?{urlencode({'identity': identity})}" if identity else ""
        address = (
            f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/connectors/{connector_id}/logs/{query}"
        )
        headers = {"X-Murano-Logs-Ticket": logs_ticket_issue(connector_id)}
        try:
            async with websockets.connect(
                address, additional_headers=headers, origin=f"{parts.scheme}://{parts.netloc}",
                # Ctrl-C ends the command within 2 s even when a busy server is slow to
                # answer the closing handshake (websockets waits 10 s by default).
                open_timeout=10, close_timeout=2, max_size=2**24,
            ) as socket:  # fmt: skip
                async for raw in socket:
                    message = _json_loads(raw)
                    if message.get("kind") == "recent":
                        for event in message.get("events") or ():
                            self._print(event)
                        if not follow:
                            return
                    elif message.get("kind") == "event":
                        self._print(message.get("event") or {})
        except websockets.ConnectionClosedError as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code == 4404:
                raise CommandError("The server does not know this connector (is --url the right server?).")
            if code == 4503:
                raise CommandError("The server cannot stream events now (Redis is unreachable); try again.")
            raise CommandError(f"The server closed the stream (code {code}).") from None
        except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
            raise CommandError(f"Cannot open the live stream at {address}: {exc}") from None


def _json_line(event: dict) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _json_loads(raw) -> dict:
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}
