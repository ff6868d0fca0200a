"""Fixtures for the content store: a private media directory, uploads through the API, and
what is left in storage (to check that refused uploads leave nothing behind)."""

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

# The device API fixtures: a provisioned device, other devices' clients, the recent events.
from tests.devices.conftest import (  # noqa: F401
    events,
    token_device,
    wsgi_client_from,
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Content lands in this test's own directory (local file storage)."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def stored_files(media_root):
    """``stored_files()`` → the relative paths of every file in storage."""

    def files() -> list[str]:
        if not media_root.exists():
            return []
        return sorted(
            str(Path(folder, name).relative_to(media_root))
            for folder, _, names in os.walk(media_root)
            for name in names
        )

    return files


@pytest.fixture
def owner_api(api, owner):
    return api(owner)


def firmware_bytes(size: int = 300_000) -> bytes:
    """Bytes that differ at every position, so a wrong range or offset shows."""
    return bytes((i * 7 + i // 256) % 256 for i in range(size))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def upload(owner_api, connector):
    """``upload(content_id, data, **fields)`` → the management API's response to an upload."""

    def send(content_id: str | None, data: bytes, *, name: str = "firmware.bin", client=None, **fields):
        body = {
            "file": SimpleUploadedFile(
                name, data, content_type=fields.pop("file_type", "application/octet-stream")
            )
        }
        if content_id is not None:
            body["id"] = content_id
        body.update(fields)
        return (client or owner_api).post(
            f"/api/v1/connectors/{connector.pk}/content/", body, format="multipart"
        )

    return send


class _ChunkedInput:
    """A WSGI server that ends ``wsgi.input`` itself and passes no Content-Length (gunicorn,
    for a chunked request body)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)


@pytest.fixture
def chunked_device_client(connector):
    """The device client over a WSGI server that streams chunked request bodies."""
    from murano.wsgi import application
    from tests.conftest import device_host

    transport = httpx.WSGITransport(app=_ChunkedInput(application), remote_addr="203.0.113.7")
    with httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}") as client:
        yield client
