"""Device password authentication: throttled per identity and per address (429 + Retry-After),
and as costly for an identity that does not exist as for one that does."""

import base64
import time

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from connectors.services import connector_update
from tests.devices.conftest import activate
from tests.factories import make_resource
from tests.live import free_port

ALIAS = "/onep:v1/stack/alias"
PASSWORD = "the-right-password-of-this-device"
WRONG = "not-the-password-of-this-device"


def basic(identity: str, password: str, *, padding: bool = True) -> dict:
    encoded = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": "Basic " + (encoded if padding else encoded.rstrip("="))}


@pytest.fixture
def password_connector(connector):
    connector = connector_update(connector=connector, changes={"auth_type": "password"})
    make_resource(connector=connector, alias="temp", format="integer")
    return connector


@pytest.fixture
def password_device(device_client, password_connector):
    assert activate(device_client, "abc", PASSWORD).status_code == 204
    return "abc"


@pytest.fixture
def limits(settings):
    def set_limits(*, identity: int = 100, address: int = 100, window: int = 900):
        settings.DEVICE_PASSWORD_FAILURES_PER_IDENTITY = identity
        settings.DEVICE_PASSWORD_FAILURES_PER_ADDRESS = address
        settings.DEVICE_PASSWORD_FAILURE_WINDOW = window

    return set_limits


def write(client, identity: str, password: str, **kwargs):
    return client.post(ALIAS, content="temp=1", headers=basic(identity, password, **kwargs))


def reasons(events, type: str) -> list[str]:
    return [e["payload"]["reason"] for e in events(type)]


# --- throttling -----------------------------------------------------------------------------


def test_wrong_passwords_for_one_identity_are_refused_with_429_past_the_limit(
    device_client, password_device, limits, events
):
    limits(identity=3)
    assert [write(device_client, password_device, WRONG).status_code for _ in range(3)] == [401] * 3
    # Past the limit even the right password is refused, without being looked at.
    throttled = write(device_client, password_device, PASSWORD)
    assert throttled.status_code == 429
    assert throttled.headers["content-type"].startswith("text/plain")
    assert throttled.text == "too many failed password attempts; try again later"
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    assert reasons(events, "auth_failed") == ["bad_password"] * 3 + ["too_many_attempts"]


def test_one_identity_being_throttled_leaves_the_others_alone(device_client, password_device, limits):
    limits(identity=2)
    assert activate(device_client, "other", PASSWORD).status_code == 204
    for _ in range(2):
        write(device_client, password_device, WRONG)
    assert write(device_client, password_device, PASSWORD).status_code == 429
    assert write(device_client, "other", PASSWORD).status_code == 204


def test_wrong_passwords_from_one_address_are_throttled_for_every_identity_from_it(
    device_client, password_device, password_connector, limits, wsgi_client_from
):
    limits(address=3)
    guesses = [write(device_client, f"guess-{n}", WRONG).status_code for n in range(3)]
    assert guesses == [401] * 3
    assert write(device_client, password_device, PASSWORD).status_code == 429
    elsewhere = wsgi_client_from(password_connector, ip="198.51.100.9")
    assert write(elsewhere, password_device, PASSWORD).status_code == 204


def test_a_throttled_identity_may_try_again_once_its_window_is_over(
    device_client, password_device, limits, monkeypatch
):
    from core import throttle

    limits(identity=2, window=60)
    for _ in range(2):
        write(device_client, password_device, WRONG)
    assert write(device_client, password_device, PASSWORD).status_code == 429
    later = time.time() + 61
    monkeypatch.setattr(throttle, "_clock", lambda: later)
    assert write(device_client, password_device, PASSWORD).status_code == 204


def test_denied_activations_on_a_password_connector_are_throttled(
    device_client, password_device, limits, events
):
    limits(identity=2)
    denied = [activate(device_client, password_device, WRONG).status_code for _ in range(2)]
    assert denied == [409, 409]
    throttled = activate(device_client, password_device, PASSWORD)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert reasons(events, "provision_denied") == ["already_provisioned"] * 2 + ["too_many_attempts"]


def test_activations_on_a_token_connector_are_not_throttled(device_client, token_device, limits):
    limits(identity=1, address=1)
    assert [activate(device_client, token_device.identity).status_code for _ in range(3)] == [409] * 3


def test_password_checks_go_on_when_the_cache_is_away(device_client, password_device, limits, settings):
    # Nothing listens on this port: every cache call fails. Devices are not locked out.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    limits(identity=1)
    assert write(device_client, password_device, WRONG).status_code == 401
    assert write(device_client, password_device, PASSWORD).status_code == 204


# --- what a refusal's timing tells -----------------------------------------------------------


@pytest.fixture
def password_checks(monkeypatch):
    """How many times the PBKDF2 hasher checked a password (the real hasher, counted)."""
    calls = []
    verify = PBKDF2PasswordHasher.verify

    def counted(self, password, encoded):
        calls.append(password)
        return verify(self, password, encoded)

    monkeypatch.setattr(PBKDF2PasswordHasher, "verify", counted)
    return calls


def test_a_wrong_password_for_an_unknown_identity_costs_a_password_check_like_a_real_one(
    device_client, password_device, password_checks
):
    assert write(device_client, password_device, WRONG).status_code == 401
    assert password_checks == [WRONG]
    assert write(device_client, "nobody-is-called-this", WRONG).status_code == 401
    assert password_checks == [WRONG, WRONG]


def test_password_credentials_of_a_token_device_cost_a_password_check(
    device_client, password_checks, token_device
):
    assert write(device_client, token_device.identity, WRONG).status_code == 401
    assert password_checks == [WRONG]


# --- tolerated -------------------------------------------------------------------------------


def test_basic_credentials_without_base64_padding_are_accepted(device_client, password_device):
    assert base64.b64encode(f"{password_device}:{PASSWORD}".encode()).endswith(b"=")
    assert write(device_client, password_device, PASSWORD, padding=False).status_code == 204
