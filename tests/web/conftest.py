"""Helpers for the web UI's tests; the ``web`` fixture (a browser logged in as a user, Django's
test client) is in tests/conftest.py."""

import pytest

from tests.factories import make_device, make_resource


def page_text(response) -> str:
    """The response's HTML as text, for ``in`` checks (a streamed one read to its end)."""
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.fixture
def fleet(connector):
    """The connector with a settable ``mode`` resource and the device ``dev-1`` (tagged
    ``site=paris``): what a connector's pages show and change."""
    make_resource(connector=connector, alias="mode", format="string", settable=True)
    make_device(connector=connector, identity="dev-1", tags=[{"name": "site", "value": "paris"}])
    return connector
