"""Checking people's passwords: throttled against guessing, and cheap for scripts.

:func:`credentials_verify` is the one place an e-mail address and password are checked, for the
web log-in, the back office's log-in, HTTP Basic on the management API and invitations to an
existing account (through :class:`EmailBackend`, Django's authentication backend, or directly).

- **Throttling** (``core.throttle``): at most ``LOGIN_FAILURES_PER_ACCOUNT`` wrong passwords
  per account and ``LOGIN_FAILURES_PER_ADDRESS`` per client address in each window of
  ``LOGIN_FAILURE_WINDOW`` seconds. Past that, every attempt is refused without looking at the
  password (the right one included, so a lockout is no oracle) until the window ends.
- **Verified credentials are remembered** for ``LOGIN_CACHE_SECONDS``: scripts calling the API
  with ``curl -u email:password`` in a loop would otherwise pay the deliberately slow password
  hash on every request. The cache holds a keyed hash (HMAC, key derived from ``SECRET_KEY``) of
  the address and password, never either of them, and a keyed hash of the account's password
  hash; an entry counts only while the account is active, has the same address and the same
  password hash, so changing the password or deactivating the account ends it at once, in
  every process.
"""

import logging
import math

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import User
from core.proxies import client_address
from core.throttle import Throttle, address_key, record_failure, retry_after

logger = logging.getLogger(__name__)
_SALT = "accounts.backends.verified-credentials"


class LoginThrottled(Exception):
    """Too many wrong passwords for this account or from this address: try again later."""

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return f"Too many failed log-ins for this account or from your address. Try again in {wait}."


def _throttles() -> tuple[Throttle, Throttle]:
    window = settings.LOGIN_FAILURE_WINDOW
    return (
        Throttle("login-account", limit=settings.LOGIN_FAILURES_PER_ACCOUNT, window=window),
        Throttle("login-address", limit=settings.LOGIN_FAILURES_PER_ADDRESS, window=window),
    )


def request_address(request) -> str | None:
    """The client's address (through trusted proxies only), or ``None`` without a request."""
    if request is None:
        return None
    meta = request.META
    return client_address(
        meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), meta.get("HTTP_X_REAL_IP")
    )


def credentials_verify(*, email: str, password: str, address: str | None) -> User | None:
    """The active account with this e-mail address and password, or ``None``.

    Raises :class:`LoginThrottled` while the account or the address has had too many failures.
    """
    account_throttle, address_throttle = _throttles()
    account = email.lower()
    checks = [(account_throttle, account)]
    if address:
        checks.append((address_throttle, address_key(address)))
    wait = _without_cache_if_down(retry_after, *checks, default=0)
    if wait:
        raise LoginThrottled(wait)
    user = _remembered(account, password)
    if user is not None:
        return user
    user = _check_password(email, password)
    if user is None:
        _without_cache_if_down(record_failure, *checks)
        return None
    _remember(account, password, user)
    return user


def _without_cache_if_down(operation, *args, default=None, **kwargs):
    # With the cache (Redis) away, log-ins go on unthrottled and uncached, with a warning:
    # refusing everyone would be worse, and the password hash still makes each guess slow.
    try:
        return operation(*args, **kwargs)
    except Exception as error:
        logger.warning("log-in: the cache failed, going on without it: %s", error)
        return default


def _check_password(email: str, password: str) -> User | None:
    if "\x00" in email:  # names nobody (and PostgreSQL refuses NUL even in a lookup)
        User().set_password(password)  # as slow as a real check, like an unknown address
        return None
    return ModelBackend().authenticate(None, username=email, password=password)


def _credentials_key(account: str, password: str) -> str:
    value = f"{len(account)}:{account}:{password}"
    return "login-ok:" + salted_hmac(_SALT, value, algorithm="sha256").hexdigest()


def _fingerprint(user: User) -> str:
    return salted_hmac(_SALT + ".password", user.password, algorithm="sha256").hexdigest()


def _remembered(account: str, password: str) -> User | None:
    if settings.LOGIN_CACHE_SECONDS <= 0:
        return None
    entry = _without_cache_if_down(caches["default"].get, _credentials_key(account, password))
    if not entry:
        return None
    user_id, fingerprint = entry
    user = User._default_manager.filter(pk=user_id).first()
    if (
        user is None
        or not user.is_active
        or user.email.lower() != account
        or not constant_time_compare(_fingerprint(user), fingerprint)
    ):
        return None
    return user


def _remember(account: str, password: str, user: User) -> None:
    if settings.LOGIN_CACHE_SECONDS > 0:
        _without_cache_if_down(
            caches["default"].set,
            _credentials_key(account, password),
            (user.pk, _fingerprint(user)),
            timeout=settings.LOGIN_CACHE_SECONDS,
        )


def _flag(request, retry_after: int) -> None:
    if request is not None:
        request.login_retry_after = retry_after


def login_retry_after(request) -> int:
    """Seconds a refused log-in must wait when :class:`EmailBackend` refused it for too many
    failures (0 when it was refused for a wrong password, or not refused)."""
    return getattr(request, "login_retry_after", 0)


class EmailBackend(ModelBackend):
    """Django's backend over :func:`credentials_verify`: every ``authenticate()`` — the log-in
    forms, DRF's Basic authentication — is throttled and uses the verified-credentials cache.

    A throttled attempt stops authentication (``PermissionDenied``) and marks the request (see
    :func:`login_retry_after`), so a caller that does not look still just sees a failed log-in.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            return credentials_verify(email=username, password=password, address=request_address(request))
        except LoginThrottled as throttled:
            _flag(request, throttled.retry_after)
            raise PermissionDenied(throttled.message) from None

    async def aauthenticate(self, request, username=None, password=None, **kwargs):
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)
