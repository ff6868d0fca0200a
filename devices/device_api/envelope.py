"""What the device API's two servers share around a request, whatever carries it.

The WSGI workers (``wsgi.py``) and the ASGI server (``asgi.py``) differ in how they read a
request (``wsgi.input`` or ASGI messages) and send an answer; everything else is here, once:
the ``DeviceRequest`` with the client a trusted proxy names, the body limits and how they are
refused, the 500 answer, HEAD, the status line and the per-request database connection hygiene.
Free of either server's machinery (Django settings and connections only).

These run on every device request: no work here that a request does not need.
"""

import logging
from http import HTTPStatus

from django.db import connections

from core.proxies import client_address, client_certificate, client_scheme
from devices.device_api.protocol import STREAMED_UPLOAD_PATH, DeviceRequest, DeviceResponse, text

# One name for both servers' failures (the log line says which request path failed).
logger = logging.getLogger("devices.device_api")
# "404 Not Found": built once, not per response.
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def device_request(
    method: str, path: str, query: bytes, headers: dict[str, str], body: bytes, peer: str, scheme: str,
    body_stream=None, body_length: int | None = None,
) -> DeviceRequest:  # fmt: skip
    """A request as the handlers take it, from what a server parsed (``method`` upper-case,
    ``headers`` with lower-case names, ``peer`` the address of the connection and ``scheme``
    its own). From a trusted proxy (``TRUSTED_PROXIES``), the client's address, scheme and TLS
    client certificate are the ones it forwards; from anyone else those headers count for
    nothing."""
    return DeviceRequest(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        client_ip=client_address(peer, headers.get("x-forwarded-for"), headers.get("x-real-ip")),
        scheme=client_scheme(peer, scheme, headers.get("x-forwarded-proto")),
        peer=peer,
        client_certificate=client_certificate(peer, headers.get("x-ssl-client-cert")),
        body_stream=body_stream,
        body_length=body_length,
    )


def streams_body(method: str, path: str) -> bool:
    """Whether the handler reads this request's body as a stream (content uploads, up to
    ``CONTENT_MAX_BYTES``) rather than in one piece (up to ``DEVICE_API_MAX_BODY``)."""
    return path == STREAMED_UPLOAD_PATH and method == "POST"


def declared_length(raw: str | None, limit: int) -> int | None | DeviceResponse:
    """The body length ``Content-Length`` announces (None without the header), or the answer
    refusing it: 400 when it is not a number, 413 past ``limit`` bytes."""
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isdigit() and raw.isascii()):  # "²" is a digit to str.isdigit, not to int()
        return text(400, "bad Content-Length")
    length = int(raw)
    if length > limit:
        return body_too_large()
    return length


def body_too_large() -> DeviceResponse:
    return text(413, "request body too large")


def length_required() -> DeviceResponse:
    """A streamed upload whose end the server cannot tell (no length, not chunked)."""
    return text(411, "Content-Length required")


def internal_error() -> DeviceResponse:
    """The answer to a request whose handling raised (call it in the ``except`` block): the
    traceback goes to the log, a plain 500 to the device."""
    logger.exception("device API error")
    return text(500, "internal error")


def sends_body(method: str) -> bool:
    """HEAD gets the status and headers a GET would (its Content-Length too), no body."""
    return method != "HEAD"


def status_line(status: int) -> str:
    """``"404 Not Found"``: the reason phrase of ``http.HTTPStatus``, "Unknown" for a code it lacks."""
    line = _STATUS_LINES.get(status)
    return f"{status} Unknown" if line is None else line


def close_old_connections() -> None:
    """Django's per-request connection hygiene (``django.db.close_old_connections``), sparing a
    connection inside a transaction: between requests a server thread never holds one, but a
    test that calls the WSGI application from inside its transaction does, and closing the
    connection would abort that transaction (Django's test client disconnects the same hook)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def fresh_connections(func, *args):
    """``func(*args)`` between two rounds of ``close_old_connections``, as Django does around a
    request: a connection that broke or outlived ``CONN_MAX_AGE`` is not used, or kept."""
    close_old_connections()
    try:
        return func(*args)
    finally:
        close_old_connections()
