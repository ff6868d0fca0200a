"""A browser on a portal host for the pages' tests (tests/portal/test_pages_*.py)."""

from django.test import Client, TestCase

from tests.portal_fixtures import PORTAL_PASSWORD

HOST = "acme.portal.localhost"


class PageClient(Client):
    """``django.test.Client`` on the portal host. Work a request queues for after its commit (the
    e-mails' tasks, eager in tests) runs when the request ends, as on a server: the tests run
    inside a transaction that never commits."""

    def __init__(self, host: str = HOST, **defaults):
        super().__init__(HTTP_HOST=host, **defaults)

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def log_in(client: Client, email: str, password: str = PORTAL_PASSWORD, next_path: str = ""):
    return client.post("/login/", {"email": email, "password": password, "next": next_path})
