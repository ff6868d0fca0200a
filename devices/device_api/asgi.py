"""ASGI adapter: device requests on an async path, long polls waiting without a thread.

Short requests run their (synchronous, database-bound) handler in a bounded thread pool.
A long poll holds no thread while it waits: it registers with this process's ``WakeHub``,
which listens on the channel layer for ``device_wake`` messages (sent by any process through
Redis in production) and wakes the matching waiters.
"""

import asyncio
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from connectors.content.errors import UploadInterrupted
from devices.device_api import handlers
from devices.device_api.protocol import (
    STREAMED_UPLOAD_PATH,
    DeviceRequest,
    DeviceResponse,
    is_device_path,
    text,
)
from devices.events import device_wake_group
from murano.proxies import client_address, client_certificate, client_scheme

logger = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.DEVICE_API_THREADS, thread_name_prefix="device-api"
        )
    return _executor


def _closing(func):
    def run(*args):
        close_old_connections()
        try:
            return func(*args)
        finally:
            close_old_connections()

    return run


async def run_sync(func, *args):
    """Run a (database-bound) handler in the device API's thread pool.

    Straight onto the executor with a copy of the context: asgiref's ``sync_to_async`` does the
    same plus bookkeeping for thread-sensitive code that these handlers don't need, and that
    bookkeeping showed up in profiles of thousands of long polls arriving at once."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool(), context.run, _closing(func), *args)


class Waiter:
    __slots__ = ("device_id", "event")

    def __init__(self, device_id: int):
        self.device_id = device_id
        self.event = asyncio.Event()


class WakeHub:
    """Per-process registry of waiting long polls, fed by one channel-layer channel.

    The process subscribes to a device's wake group only while someone waits on that device,
    so one wake message costs one dictionary lookup here however many polls there are.
    """

    def __init__(self):
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.waiters: dict[int, set[Waiter]] = {}
        self.lock = asyncio.Lock()
        self.reader: asyncio.Task | None = None

    async def add(self, device_id: int) -> Waiter:
        waiter = Waiter(device_id)
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self.reader = asyncio.create_task(self._read())
            group = self.waiters.get(device_id)
            if group is None:
                self.waiters[device_id] = {waiter}
                await self.layer.group_add(device_wake_group(device_id), self.channel)
            else:
                group.add(waiter)
        return waiter

    async def remove(self, waiter: Waiter) -> None:
        async with self.lock:
            group = self.waiters.get(waiter.device_id)
            if group is None:
                return
            group.discard(waiter)
            if not group:
                del self.waiters[waiter.device_id]
                await self.layer.group_discard(device_wake_group(waiter.device_id), self.channel)

    async def _read(self):
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("wake hub receive failed")
                await asyncio.sleep(0.5)
                continue
            for waiter in self.waiters.get(message.get("device"), ()):
                waiter.event.set()

    @property
    def waiting(self) -> int:
        return sum(len(group) for group in self.waiters.values())


_hubs: dict[asyncio.AbstractEventLoop, WakeHub] = {}


def wake_hub() -> WakeHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = WakeHub()
    return hub


async def _read_body(receive) -> bytes | DeviceResponse:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return text(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > settings.DEVICE_API_MAX_BODY:
            return text(413, "request body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _request_from_scope(scope, body: bytes) -> DeviceRequest:
    headers = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        decoded = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {decoded}" if key in headers else decoded
    peer = (scope.get("client") or ("", 0))[0] or ""
    return DeviceRequest(
        method=scope["method"].upper(),
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=headers,
        body=body,
        client_ip=client_address(peer, headers.get("x-forwarded-for"), headers.get("x-real-ip")),
        scheme=client_scheme(peer, scope.get("scheme", "http"), headers.get("x-forwarded-proto")),
        peer=peer,
        client_certificate=client_certificate(peer, headers.get("x-ssl-client-cert")),
    )


async def _send(send, response: DeviceResponse, head: bool = False) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.all_headers()]
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if response.stream is None or head:
            await send({"type": "http.response.body", "body": b"" if head else response.body})
            return
        # A streamed body (content download): chunks are read from storage in the pool, so
        # the event loop never waits on a file or on S3.
        loop = asyncio.get_running_loop()
        while (chunk := await loop.run_in_executor(_pool(), next, response.stream, None)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        response.close()


class _StreamedBody:
    """An ASGI request body read from a worker thread, a message at a time, as the handler
    asks for it (content uploads): it never waits in memory as a whole."""

    def __init__(self, receive, loop: asyncio.AbstractEventLoop):
        self.receive = receive
        self.loop = loop
        self.buffer = bytearray()
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        while not self.ended and (size is None or size < 0 or len(self.buffer) < size):
            message = asyncio.run_coroutine_threadsafe(self.receive(), self.loop).result()
            if message["type"] == "http.disconnect":
                raise UploadInterrupted("the client went away during the upload")
            self.buffer += message.get("body", b"")
            self.ended = not message.get("more_body")
        if size is None or size < 0 or size >= len(self.buffer):
            data, self.buffer = bytes(self.buffer), bytearray()
        else:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
        return data


def _streamed_request(scope, receive) -> DeviceRequest | DeviceResponse:
    request = _request_from_scope(scope, b"")
    raw_length = request.header("content-length")
    length = None
    if raw_length is not None:
        if not raw_length.strip().isdigit():
            return text(400, "bad Content-Length")
        length = int(raw_length)
        if length > settings.CONTENT_MAX_BYTES:
            return text(413, "request body too large")
    request.body_stream = _StreamedBody(receive, asyncio.get_running_loop())
    request.body_length = length
    return request


async def _long_poll(wait: handlers.LongPollWait, disconnected: asyncio.Future) -> DeviceResponse | None:
    hub = wake_hub()
    waiter = await hub.add(wait.device_id)
    try:
        # A change may have landed between the first check and the subscription.
        response = await run_sync(handlers.long_poll_check, wait)
        while response is None:
            remaining = wait.deadline - time.monotonic()
            if remaining <= 0:
                return await run_sync(handlers.long_poll_expired, wait)
            waiter.event.clear()
            woke = asyncio.ensure_future(waiter.event.wait())
            done, _ = await asyncio.wait(
                {woke, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if disconnected in done:
                woke.cancel()
                return None
            if woke in done:
                response = await run_sync(handlers.long_poll_check, wait)
            else:
                woke.cancel()
        return response
    finally:
        await hub.remove(waiter)


class DeviceApiASGI:
    """ASGI application: device paths here, the rest to ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_device_path(scope["path"]):
            return await self.django_app(scope, receive, send)
        if scope["path"] == STREAMED_UPLOAD_PATH and scope["method"].upper() == "POST":
            request = _streamed_request(scope, receive)
            if isinstance(request, DeviceResponse):
                return await _send(send, request)
        else:
            body = await _read_body(receive)
            if isinstance(body, DeviceResponse):
                return await _send(send, body)
            request = _request_from_scope(scope, body)
        try:
            result = await run_sync(handlers.handle, request)
            if isinstance(result, handlers.LongPollWait):
                disconnected = asyncio.ensure_future(_wait_disconnect(receive))
                try:
                    result = await _long_poll(result, disconnected)
                finally:
                    disconnected.cancel()
                if result is None:
                    return
        except Exception:
            logger.exception("device API error")
            result = text(500, "internal error")
        await _send(send, result, head=request.method == "HEAD")


async def _wait_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
