"""WSGI adapter: serves device requests from a worker pool, everything else goes to Django.

Short device requests (writes, reads, activations) skip Django's request machinery entirely.
Long polls belong on the ASGI server (nginx routes them there); one that reaches a WSGI worker
still gets a correct answer by checking its value at a short interval.
"""

import logging
import time

from django.conf import settings
from django.db import connections

from core.proxies import client_address, client_certificate, client_scheme
from devices.device_api import handlers
from devices.device_api.protocol import (
    STREAMED_UPLOAD_PATH,
    DeviceRequest,
    DeviceResponse,
    is_device_path,
    text,
)

logger = logging.getLogger(__name__)
_REASONS = {
    200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 411: "Length Required",
    413: "Payload Too Large", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip
_POLL_INTERVAL = 0.25


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Unknown')}"


def _request_from_environ(environ) -> DeviceRequest | DeviceResponse:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    raw_length = environ.get("CONTENT_LENGTH") or "0"
    if not raw_length.isdigit():
        return text(400, "bad Content-Length")
    length = int(raw_length)
    method = environ["REQUEST_METHOD"].upper()
    streamed = environ.get("PATH_INFO") == STREAMED_UPLOAD_PATH and method == "POST"
    body, body_stream, body_length = b"", None, None
    if streamed:
        # Content uploads stream through to storage; the handler authenticates first.
        if length > settings.CONTENT_MAX_BYTES:
            return text(413, "request body too large")
        if environ.get("CONTENT_LENGTH"):
            body_stream, body_length = _LimitedInput(environ["wsgi.input"], length), length
        elif environ.get("wsgi.input_terminated"):  # chunked, and the server ends the stream
            body_stream = environ["wsgi.input"]
        else:
            return text(411, "Content-Length required")
    elif length > settings.DEVICE_API_MAX_BODY:
        return text(413, "request body too large")
    else:
        body = environ["wsgi.input"].read(length) if length else b""
    peer = environ.get("REMOTE_ADDR", "")
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    return DeviceRequest(
        method=environ["REQUEST_METHOD"].upper(),
        path=path,
        query=environ.get("QUERY_STRING", "").encode("latin-1"),
        headers=headers,
        body=body,
        client_ip=client_address(peer, headers.get("x-forwarded-for"), headers.get("x-real-ip")),
        scheme=client_scheme(peer, environ.get("wsgi.url_scheme", "http"), headers.get("x-forwarded-proto")),
        peer=peer,
        client_certificate=client_certificate(peer, headers.get("x-ssl-client-cert")),
        body_stream=body_stream,
        body_length=body_length,
    )


class _LimitedInput:
    """``wsgi.input`` read no further than ``CONTENT_LENGTH`` (reading past it may block)."""

    def __init__(self, stream, length: int):
        self.stream = stream
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.stream.read(size)
        self.remaining -= len(data)
        return data


def _close_old_connections() -> None:
    """Django's per-request connection hygiene (``close_old_connections``), sparing a
    connection inside a transaction: between requests a worker never holds one, but a test
    that calls the application from inside its transaction does, and closing the connection
    would abort that transaction (Django's test client disconnects the same hook)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def serve(request_or_response) -> DeviceResponse:
    """Run one device request to completion in this thread."""
    if isinstance(request_or_response, DeviceResponse):
        return request_or_response
    _close_old_connections()
    try:
        result = handlers.handle(request_or_response)
        while isinstance(result, handlers.LongPollWait):
            final = time.monotonic() >= result.deadline
            answer = handlers.long_poll_check_many([result], final=final)[0]
            if answer is not None:
                return answer
            time.sleep(min(_POLL_INTERVAL, max(0.0, result.deadline - time.monotonic())))
        return result
    except Exception:
        logger.exception("device API error")
        return text(500, "internal error")
    finally:
        _close_old_connections()


class DeviceApiWSGI:
    """WSGI application: device paths here, the rest to ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        if not is_device_path(environ.get("PATH_INFO", "")):
            return self.django_app(environ, start_response)
        response = serve(_request_from_environ(environ))
        start_response(status_line(response.status), response.all_headers())
        if environ["REQUEST_METHOD"].upper() == "HEAD":
            response.close()
            return [b""]
        if response.stream is not None:
            return response.stream  # the server iterates it, then closes it
        return [response.body]
