"""ASGI adapter: device requests on an async path, long polls waiting without a thread.

Short requests run their (synchronous, database-bound) handler in a bounded thread pool
(``pool.py``). A long poll holds no thread while it waits: it registers with this process's
wake hub (``wakes.py``), which wakes it when its device may have changed. What both servers
share around a request (limits, proxies, errors, HEAD) is ``envelope.py``.
"""

import asyncio
import time

from django.conf import settings

from connectors.content.errors import UploadInterrupted
from devices.device_api import handlers
from devices.device_api.envelope import (
    body_too_large,
    declared_length,
    device_request,
    internal_error,
    sends_body,
    streams_body,
)
from devices.device_api.pool import executor, run_sync
from devices.device_api.protocol import DeviceRequest, DeviceResponse, is_device_path, text
from devices.device_api.wakes import wake_hub


async def _read_body(receive) -> bytes | DeviceResponse:
    """The whole body of a request the handler reads in one piece, or the answer refusing it.
    ASGI servers take care of the framing: the limit counts what arrives."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return text(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > settings.DEVICE_API_MAX_BODY:
            return body_too_large()
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _request_from_scope(scope, method: str, body: bytes) -> DeviceRequest:
    headers = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        decoded = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {decoded}" if key in headers else decoded
    peer = (scope.get("client") or ("", 0))[0] or ""
    return device_request(
        method,
        scope["path"],
        scope.get("query_string", b""),
        headers,
        body,
        peer,
        scope.get("scheme", "http"),
    )


async def _send(send, response: DeviceResponse, with_body: bool) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.all_headers()]
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if response.stream is None or not with_body:
            await send({"type": "http.response.body", "body": response.body if with_body else b""})
            return
        # A streamed body (content download): chunks are read from storage in the pool, so
        # the event loop never waits on a file or on S3.
        loop = asyncio.get_running_loop()
        while (chunk := await loop.run_in_executor(executor(), next, response.stream, None)) is not None:
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


def _streamed_request(scope, method: str, receive) -> DeviceRequest | DeviceResponse:
    """A content upload: its body is read as the handler asks for it (chunked is fine: ASGI
    servers take care of the framing)."""
    request = _request_from_scope(scope, method, b"")
    length = declared_length(request.header("content-length"), settings.CONTENT_MAX_BYTES)
    if isinstance(length, DeviceResponse):
        return length
    request.body_stream = _StreamedBody(receive, asyncio.get_running_loop())
    request.body_length = length
    return request


async def _long_poll(wait: handlers.LongPollWait, disconnected: asyncio.Future) -> DeviceResponse | None:
    hub = wake_hub()
    waiter = await hub.add(wait.device_id)
    try:
        # The first check comes once the subscription is out, so no change slips between them.
        # A wake-up that arrives while a check runs stays set: the poll looks again, as the
        # check may have read the value just before the change it announces.
        response = await hub.checks.check(wait)
        waiter.checked = True
        while response is None:
            remaining = wait.deadline - time.monotonic()
            if remaining <= 0:
                # A wake-up may have been lost (Redis away): one last look before a 304.
                return await hub.checks.check(wait, final=True)
            woke = asyncio.ensure_future(waiter.event.wait())
            done, _ = await asyncio.wait(
                {woke, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if disconnected in done:
                woke.cancel()
                return None
            if woke in done:
                waiter.event.clear()  # before the check: a wake-up during it is not lost
                response = await hub.checks.check(wait)
            else:
                woke.cancel()
        return response
    finally:
        hub.remove(waiter)


class DeviceApiASGI:
    """ASGI application: device paths here, the rest to ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_device_path(scope["path"]):
            return await self.django_app(scope, receive, send)
        method = scope["method"].upper()
        with_body = sends_body(method)
        if streams_body(method, scope["path"]):
            request = _streamed_request(scope, method, receive)
        else:
            body = await _read_body(receive)
            request = body if isinstance(body, DeviceResponse) else _request_from_scope(scope, method, body)
        if isinstance(request, DeviceResponse):
            return await _send(send, request, with_body)
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
            result = internal_error()
        await _send(send, result, with_body)


async def _wait_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
