"""Scripts calling the API with HTTP Basic pay the password hash once, not on every request
(issue #11, item 17); a changed password or a deactivated account is refused at once."""

import base64
import pathlib

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import caches
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PASSWORD

BUSINESSES = "/api/v1/businesses/"
NEW_PASSWORD = "a-brand-new-passphrase-88"


class CountingHasher(MD5PasswordHasher):
    """The tests' password hasher, counting how often a password is checked against a hash."""

    checks = 0

    def verify(self, password, encoded):
        CountingHasher.checks += 1
        return super().verify(password, encoded)


@pytest.fixture
def hash_checks(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.checks = 0
    return lambda: CountingHasher.checks


def basic(email: str, password: str) -> APIClient:
    client = APIClient()
    raw = base64.b64encode(f"{email}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


def test_a_script_pays_the_password_hash_once(owner, hash_checks):
    answers = [basic(owner.email, PASSWORD).get(BUSINESSES).status_code for _ in range(5)]

    assert answers == [200] * 5
    assert hash_checks() == 1


def test_the_address_is_remembered_whatever_its_case(owner, hash_checks):
    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 200
    assert basic(owner.email.upper(), PASSWORD).get(BUSINESSES).status_code == 200

    assert hash_checks() == 1


def test_a_wrong_password_is_always_checked(owner, hash_checks):
    basic(owner.email, PASSWORD).get(BUSINESSES)

    assert basic(owner.email, PASSWORD + "x").get(BUSINESSES).status_code == 401
    assert basic(owner.email, PASSWORD + "x").get(BUSINESSES).status_code == 401
    assert hash_checks() == 3


def test_a_changed_password_ends_the_remembered_one_at_once(web, owner, hash_checks):
    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 200
    web(owner).post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 401
    assert basic(owner.email, NEW_PASSWORD).get(BUSINESSES).status_code == 200


def test_a_deactivated_account_is_refused_at_once(owner, hash_checks):
    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 200
    User.objects.filter(pk=owner.pk).update(is_active=False)

    assert basic(owner.email, PASSWORD).get(BUSINESSES).status_code == 401


def test_a_changed_address_ends_the_remembered_login(owner, hash_checks):
    old_email = owner.email
    assert basic(old_email, PASSWORD).get(BUSINESSES).status_code == 200
    User.objects.filter(pk=owner.pk).update(email="renamed@example.com")

    assert basic(old_email, PASSWORD).get(BUSINESSES).status_code == 401
    assert basic("renamed@example.com", PASSWORD).get(BUSINESSES).status_code == 200


def test_nothing_is_remembered_when_switched_off(owner, hash_checks, settings):
    settings.LOGIN_CACHE_SECONDS = 0

    for _ in range(3):
        basic(owner.email, PASSWORD).get(BUSINESSES)

    assert hash_checks() == 3


def test_the_cache_holds_neither_the_password_nor_the_address(owner, settings):
    basic(owner.email, PASSWORD).get(BUSINESSES)
    basic(owner.email, "a-wrong-guess-123").get(BUSINESSES)

    cache = caches["default"]
    config = settings.CACHES["default"]
    if config["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client()
        keys = list(client.scan_iter(match=f"{config['KEY_PREFIX']}:*"))
        stored = b"".join(keys) + b"".join(client.get(key) or b"" for key in keys)
    else:
        stored = b"".join(path.read_bytes() for path in pathlib.Path(config["LOCATION"]).iterdir())
    assert stored  # something is remembered: the verified login and the failure count
    for secret in [PASSWORD, "a-wrong-guess-123", owner.email]:
        assert secret.encode() not in stored
