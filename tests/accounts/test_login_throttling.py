"""Wrong passwords are throttled (issue #11, item 4): per account and per client address, on the
web log-in, the back office's log-in, HTTP Basic on the API and invitations to an account, with
a 429 and a clear message, for a bounded window."""

import base64

import pytest
from rest_framework.test import APIClient

from core import throttle
from tests.factories import PASSWORD
from tests.web.conftest import page_text

BUSINESSES = "/api/v1/businesses/"
WINDOW = 900  # LOGIN_FAILURE_WINDOW's default


def basic(email: str, password: str, address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, to step past a window without waiting for it."""
    now = {"t": 1_900_000_000.0}
    monkeypatch.setattr(throttle, "_clock", lambda: now["t"])

    def advance(seconds: float) -> None:
        now["t"] += seconds

    return advance


def fail_basic(email: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert basic(email, "not-the-password", address).get(BUSINESSES).status_code == 401


def test_basic_auth_is_refused_after_ten_wrong_passwords_even_with_the_right_one(owner, clock):
    fail_basic(owner.email, 10)

    response = basic(owner.email, PASSWORD).get(BUSINESSES)

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Too many failed log-ins for this account or from your address. Try again in 15 minutes."
    }
    assert 0 < int(response["Retry-After"]) <= WINDOW


def test_the_right_password_works_again_once_the_window_is_over(owner, clock):
    fail_basic(owner.email, 10)
    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 429

    clock(WINDOW)

    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 200


def test_an_account_is_throttled_from_every_address(owner, clock):
    for n in range(10):
        fail_basic(owner.email, 1, address=f"198.51.100.{n}")

    assert basic(owner.email, PASSWORD, address="203.0.113.9").get(BUSINESSES).status_code == 429


def test_one_address_trying_many_accounts_is_throttled(owner, outsider, clock):
    for n in range(30):
        fail_basic(f"guess{n}@example.com", 1, address="198.51.100.7")

    from_there = basic(owner.email, PASSWORD, address="198.51.100.7").get(BUSINESSES)
    from_elsewhere = basic(owner.email, PASSWORD, address="203.0.113.9").get(BUSINESSES)

    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 200


def test_an_ipv6_client_is_counted_by_its_64(owner, clock):
    for n in range(30):
        fail_basic(f"guess{n}@example.com", 1, address=f"2001:db8:1:2::{n + 1:x}")

    assert basic(owner.email, PASSWORD, address="2001:db8:1:2::ffff").get(BUSINESSES).status_code == 429
    assert basic(owner.email, PASSWORD, address="2001:db8:1:3::1").get(BUSINESSES).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled(owner, settings, clock):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for n in range(30):
        client = basic(f"guess{n}@example.com", "nope", address="10.0.0.2")
        assert client.get(BUSINESSES, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 401

    proxied = basic(owner.email, PASSWORD, address="10.0.0.2")
    assert proxied.get(BUSINESSES, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert proxied.get(BUSINESSES, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200


def test_an_unknown_address_is_throttled_like_an_account(db, clock):
    answers = [basic("nobody@example.com", "x").get(BUSINESSES).status_code for _ in range(11)]

    assert answers == [401] * 10 + [429]


def test_api_tokens_are_not_throttled_by_wrong_passwords(owner, clock):
    from accounts.services import api_token_create

    key = api_token_create(user=owner)[1]
    fail_basic(owner.email, 10)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert client.get(BUSINESSES).status_code == 200


# --- web log-in and back office ---------------------------------------------------------------


def test_the_web_log_in_says_so_and_answers_429(web, owner, clock):
    client = web()
    for _ in range(10):
        response = client.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct e-mail address and password." in page_text(response)

    refused = client.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= WINDOW
    assert (
        "Too many failed log-ins for this account or from your address. Try again in 15 minutes."
        in page_text(refused)
    )
    assert client.get("/connectors/").status_code == 302  # not logged in
    clock(WINDOW)
    assert client.post("/accounts/login/", {"username": owner.email, "password": PASSWORD}).status_code == 302
    assert client.get("/connectors/").status_code == 200


def test_web_and_api_failures_count_together(web, owner, clock):
    client = web()
    for _ in range(5):
        client.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
    fail_basic(owner.email, 5)

    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 429


def test_the_back_office_log_in_is_throttled_too(db, web, clock):
    from accounts.models import User

    User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client = web()
    for _ in range(10):
        client.post("/admin/login/", {"username": "root@example.com", "password": "wrong"})

    refused = client.post("/admin/login/", {"username": "root@example.com", "password": PASSWORD})

    assert "Too many failed log-ins" in page_text(refused)
    assert client.get("/admin/").status_code == 302


# --- invitations to an existing account -------------------------------------------------------


def test_guessing_an_accounts_password_through_an_invitation_is_throttled(
    api, owner, business, outsider, clock
):
    members = f"/api/v1/businesses/{business.pk}/members/"
    token = api(owner).post(members, {"email": outsider.email}).json()["invitation"]["token"]
    accept = "/api/v1/invitations/accept/"
    for _ in range(10):
        assert APIClient().post(accept, {"token": token, "password": "guess-1234-abcd"}).status_code == 400

    refused = APIClient().post(accept, {"token": token, "password": PASSWORD})

    assert refused.status_code == 429
    assert "Too many failed log-ins" in refused.json()["detail"] and refused["Retry-After"]
    assert basic(outsider.email, PASSWORD).get(BUSINESSES).status_code == 429


def test_with_the_cache_away_log_ins_go_on_unthrottled(owner, settings, caplog):
    # Nothing listens on port 1: every cache call fails at once.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 200
    assert basic(owner.email, "not-the-password").get(BUSINESSES).status_code == 401
    assert "the cache failed" in caplog.text
