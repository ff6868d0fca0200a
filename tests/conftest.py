"""Shared fixtures: an owner, a teammate of each role and an outsider; a connector; clients
that speak to the real WSGI and ASGI applications."""

import base64
import os
import tempfile

import httpx
import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_connector, make_member

# The claiming connector, its portal clients and end users (tests/claiming, tests/portal).
pytest_plugins = ["tests.portal_fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _embedded_redis():
    """On the embedded stack (no ``REDIS_URL``), a private Redis for this test process, as
    ``runplatform`` starts one for the platform: pushes, wakes and the event buffer take the same
    path as with an operator's Redis. Processes that tests start inherit its socket."""
    from django.conf import settings

    if settings.REDIS_URL:
        yield
        return
    from channels.layers import channel_layers

    from murano import embedded_redis

    socket_path = os.path.join(tempfile.mkdtemp(prefix="murano-redis-"), "redis.sock")
    process = embedded_redis.start(socket_path)
    settings.EMBEDDED_REDIS_SOCKET = socket_path
    settings.PUBSUB_URL = f"unix://{socket_path}"
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [settings.PUBSUB_URL]
    channel_layers.backends.clear()
    os.environ["EMBEDDED_REDIS_SOCKET"] = socket_path
    try:
        yield
    finally:
        embedded_redis.stop(process, socket_path)
        os.rmdir(os.path.dirname(socket_path))


@pytest.fixture(autouse=True)
def _fast_user_passwords(settings):
    # People's passwords use Django's slow default hasher; tests don't need that cost.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Tests look at a device's last seen/IP right after its request; tests/devices/test_seen.py
    # covers the batched writer.
    settings.DEVICE_SEEN_BATCH_SECONDS = 0


@pytest.fixture(autouse=True)
def _own_cache(settings, tmp_path_factory):
    """Each test gets a cache of its own (login throttling, verified credentials): tests run in
    parallel on one Redis or one directory, and one test's failed log-ins must not lock out the
    next test's users. Redis: a key prefix per test (entries expire on their own); files: a
    directory per test."""
    import uuid

    cache = dict(settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    if cache["BACKEND"].endswith("FileBasedCache"):
        cache["LOCATION"] = str(tmp_path_factory.mktemp("cache"))
    settings.CACHES = {**settings.CACHES, "default": cache}


@pytest.fixture
def owner(db):
    return make_member(business_name="Acme", role="admin").user


@pytest.fixture
def business(owner):
    return owner.businesses.get()


@pytest.fixture
def developer(business):
    return make_member(business_name=business.name, role="developer").user


@pytest.fixture
def viewer(business):
    return make_member(business_name=business.name, role="viewer").user


@pytest.fixture
def outsider(db):
    return make_member(business_name="Globex", role="admin").user


@pytest.fixture
def connector(business):
    """A connector that accepts plain HTTP (devmode), like local firmware development."""
    return make_connector(business=business, devmode=True)


def basic_auth(user) -> dict:
    raw = base64.b64encode(f"{user.email}:{PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


@pytest.fixture
def api():
    """``api(user)`` → a DRF client that authenticates with HTTP Basic, as scripts do."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.credentials(**basic_auth(user))
        return client

    return make


@pytest.fixture
def web():
    """``web(user)`` → a Django test client with ``user`` logged in (anonymous without one), as
    a browser uses the web UI."""
    from django.test import Client

    def make(user=None, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        if user is not None:
            client.force_login(user)
        return client

    return make


def device_host(connector) -> str:
    from django.conf import settings

    return f"{connector.pk}.{settings.DEVICE_API_DOMAIN}"


@pytest.fixture
def device_client(connector):
    """An HTTP client talking to the WSGI application at the connector's device host."""
    from murano.wsgi import application

    transport = httpx.WSGITransport(app=application, remote_addr="203.0.113.7")
    with httpx.Client(transport=transport, base_url=f"http://{device_host(connector)}") as client:
        yield client


@pytest.fixture
def asgi_device_client(connector):
    """An async HTTP client talking to the ASGI application (long polls) at the device host."""
    from murano.asgi import application

    transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{device_host(connector)}")


@pytest.fixture
def handler_threads_do_not_keep_connections(monkeypatch):
    """ASGI handlers and consumers run in thread pools whose threads would keep their database
    connections open (CONN_MAX_AGE), which keeps PostgreSQL from dropping the test database."""
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
