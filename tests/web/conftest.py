"""Fixtures for the web UI: browsers logged in as each role (Django's test client)."""

import pytest
from django.test import Client


@pytest.fixture
def web():
    """``web(user)`` → a test client with ``user`` logged in (anonymous without one)."""

    def make(user=None, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        if user is not None:
            client.force_login(user)
        return client

    return make


def page_text(response) -> str:
    """The response's HTML as text, for ``in`` checks."""
    return response.content.decode()
