"""What the device API's two servers share around a request (``devices/device_api/envelope.py``),
seen on the wire of each: how a body's announced length is refused, HEAD, and status lines."""

import asyncio
import io

import pytest

from devices.device_api.envelope import status_line

UPLOAD = "/provision/upload"
# The servers tidy the database connections of their thread around every request: an xdist
# worker that opened one in an earlier test must be allowed to touch it.
pytestmark = pytest.mark.django_db


def wsgi_call(method: str, path: str, *, content_length: str | None = None, body: bytes = b"", **extra):
    """``(status line, headers, body)`` of the WSGI application for a request made by hand:
    what a server puts in ``environ`` (httpx would fix a wrong Content-Length itself)."""
    from murano.wsgi import application

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "REMOTE_ADDR": "203.0.113.7", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "HTTP_HOST": "testserver", **extra,
    }  # fmt: skip
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    started = {}
    chunks = application(environ, lambda status, headers: started.update(status=status, headers=headers))
    return started["status"], dict(started["headers"]), b"".join(chunks)


def asgi_call(method: str, path: str, headers: list[tuple[bytes, bytes]] = (), body: bytes = b""):
    """``(status, headers with lower-case names, body)`` of the ASGI application."""
    from murano.asgi import application

    scope = {
        "type": "http", "method": method, "path": path, "query_string": b"", "scheme": "http",
        "headers": [(b"host", b"testserver"), *headers], "client": ("203.0.113.7", 40000),
        "http_version": "1.1", "asgi": {"version": "3.0"},
    }  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = sent[0]
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, answer


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "²"])  # "²" is a digit to str.isdigit
def test_a_content_length_that_is_not_a_number_is_400_on_wsgi(length):
    assert wsgi_call("POST", "/onep:v1/stack/alias", content_length=length, body=b"temp=1") == (
        "400 Bad Request",
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "18"},
        b"bad Content-Length",
    )


def test_an_upload_whose_end_cannot_be_told_is_411_on_wsgi():
    status, _, body = wsgi_call("POST", UPLOAD)  # no Content-Length, not chunked
    assert (status, body) == ("411 Length Required", b"Content-Length required")


def test_an_upload_announcing_a_content_length_that_is_not_a_number_is_400_on_asgi():
    status, _, body = asgi_call("POST", UPLOAD, [(b"content-length", b"12ab")])
    assert (status, body) == (400, b"bad Content-Length")


def test_head_gets_the_headers_of_a_get_without_the_body_on_both_servers():
    wsgi_status, wsgi_headers, wsgi_body = wsgi_call("HEAD", "/timestamp")
    asgi_status, asgi_headers, asgi_body = asgi_call("HEAD", "/timestamp")
    _, get_headers, get_body = asgi_call("GET", "/timestamp")
    assert (wsgi_status, wsgi_body, asgi_status, asgi_body) == ("200 OK", b"", 200, b"")
    assert wsgi_headers["Content-Length"] == asgi_headers["content-length"] == str(len(get_body))
    assert get_headers["content-length"] == str(len(get_body)) and get_body


def test_a_head_request_refused_before_its_handler_has_no_body_either(settings):
    settings.DEVICE_API_MAX_BODY = 10
    status, headers, body = asgi_call("HEAD", "/timestamp", body=b"x" * 11)
    assert (status, body) == (413, b"")
    assert headers["content-length"] == str(len(b"request body too large"))


def test_status_lines_carry_the_standard_reason_phrase_or_unknown():
    assert status_line(204) == "204 No Content"
    assert status_line(429) == "429 Too Many Requests"
    assert status_line(599) == "599 Unknown"
