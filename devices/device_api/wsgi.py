"""WSGI adapter: serves device requests from a worker pool, everything else goes to Django.

Short device requests (writes, reads, activations) skip Django's request machinery entirely.
Long polls belong on the ASGI server (nginx routes them there); one that reaches a WSGI worker
still gets a correct answer by checking its value at a short interval. What both servers share
around a request (limits, proxies, errors, HEAD, status lines) is ``envelope.py``.
"""

import time

from django.conf import settings

from devices.device_api import handlers
from devices.device_api.envelope import (
    close_old_connections,
    declared_length,
    device_request,
    internal_error,
    length_required,
    sends_body,
    status_line,
    streams_body,
)
from devices.device_api.protocol import DeviceRequest, DeviceResponse, is_device_path

_POLL_INTERVAL = 0.25


def _request_from_environ(environ, method: str) -> DeviceRequest | DeviceResponse:
    """The device request in ``environ``, or the answer refusing it (its body's length)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    raw_path = environ.get("PATH_INFO", "")
    body, body_stream, body_length = b"", None, None
    if streams_body(method, raw_path):
        # Content uploads stream through to storage; the handler authenticates first.
        body_length = declared_length(environ.get("CONTENT_LENGTH") or None, settings.CONTENT_MAX_BYTES)
        if isinstance(body_length, DeviceResponse):
            return body_length
        if body_length is not None:
            body_stream = _LimitedInput(environ["wsgi.input"], body_length)
        elif environ.get("wsgi.input_terminated"):  # chunked, and the server ends the stream
            body_stream = environ["wsgi.input"]
        else:
            return length_required()
    else:
        length = declared_length(environ.get("CONTENT_LENGTH") or None, settings.DEVICE_API_MAX_BODY)
        if isinstance(length, DeviceResponse):
            return length
        if length:
            body = environ["wsgi.input"].read(length)
    return device_request(
        method,
        raw_path.encode("latin-1").decode("utf-8", "replace"),
        environ.get("QUERY_STRING", "").encode("latin-1"),
        headers,
        body,
        environ.get("REMOTE_ADDR", ""),
        environ.get("wsgi.url_scheme", "http"),
        body_stream,
        body_length,
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


def serve(request_or_response) -> DeviceResponse:
    """Run one device request to completion in this thread."""
    if isinstance(request_or_response, DeviceResponse):
        return request_or_response
    close_old_connections()
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
        return internal_error()
    finally:
        close_old_connections()


class DeviceApiWSGI:
    """WSGI application: device paths here, the rest to ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        if not is_device_path(environ.get("PATH_INFO", "")):
            return self.django_app(environ, start_response)
        method = environ["REQUEST_METHOD"].upper()
        response = serve(_request_from_environ(environ, method))
        start_response(status_line(response.status), response.all_headers())
        if not sends_body(method):
            response.close()
            return [b""]
        if response.stream is not None:
            return response.stream  # the server iterates it, then closes it
        return [response.body]
