"""Helpers for the web UI's tests; the ``web`` fixture (a browser logged in as a user, Django's
test client) is in tests/conftest.py."""


def page_text(response) -> str:
    """The response's HTML as text, for ``in`` checks."""
    return response.content.decode()
