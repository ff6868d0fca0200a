"""Portal sessions of end users: log in (throttled like the platform's log-ins), log out, and the
user of a session key. Keys are hashed at rest (``claiming.models.key_hash``)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from claiming import throttle
from claiming.models import (
    SESSION_TOKEN_PREFIX,
    EndUser,
    EndUserSession,
    key_hash,
    key_new,
)
from claiming.services.claims import Refused
from connectors.models import Connector

_SESSION_TOUCH_SECONDS = 60


class SessionRefused(Refused):
    """A portal log-in that did not happen: 401 wrong credentials, 403 blocked or not verified,
    429 too many wrong passwords."""


# --- portal sessions -------------------------------------------------------------------------

_DUMMY_PASSWORD_HASH = None


def _dummy_check(password: str) -> None:
    # An unknown address costs what a wrong password costs, so timing tells nothing.
    global _DUMMY_PASSWORD_HASH
    if _DUMMY_PASSWORD_HASH is None:
        _DUMMY_PASSWORD_HASH = make_password("not a password of anyone")
    check_password(password, _DUMMY_PASSWORD_HASH)


@transaction.atomic
def session_start(*, connector: Connector, email: str, password: str, ip: str = "") -> str:
    """Log an end user in on ``connector``'s portal: a new session key (``Authorization: Token
    <key>``). ``SessionRefused``: 401 wrong address or password, 403 blocked or not verified
    (said only to someone who knows the password), 429 too many wrong passwords."""
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    wait = throttle.login_retry_after(connector_id=connector.pk, email=email, ip=ip)
    if wait:
        raise SessionRefused(
            429, "Too many failed log-ins; try again later.", reason="throttled", retry_after=wait
        )
    user = EndUser.objects.filter(connector=connector, email__iexact=email).first() if email else None
    if user is None or not user.password_hash:
        _dummy_check(password)
        ok = False
    else:
        ok = check_password(password, user.password_hash)
    if not ok:
        throttle.login_failed(connector_id=connector.pk, email=email, ip=ip)
        raise SessionRefused(401, "Wrong e-mail address or password.", reason="wrong_credentials")
    if user.blocked:
        raise SessionRefused(403, "This account is blocked.", reason="blocked")
    if not user.verified:
        raise SessionRefused(
            403, "Confirm your e-mail address first (see the welcome e-mail).", reason="not_verified"
        )
    return session_create(user=user)


def session_create(*, user: EndUser) -> str:
    """A new session of ``user`` (already authenticated: by their password, or by a one-time
    link they just used on the portal's pages); its key."""
    key = key_new(SESSION_TOKEN_PREFIX)
    now = timezone.now()
    EndUserSession.objects.create(
        user=user,
        key_hash=key_hash(key),
        last_used_at=now,
        expires_at=now + timedelta(seconds=settings.PORTAL_SESSION_SECONDS),
    )
    EndUser.objects.filter(pk=user.pk).update(last_login=now)
    return key


def session_end(*, key: str) -> None:
    """Log out: the session of ``key`` ends (nothing happens for an unknown key)."""
    EndUserSession.objects.filter(key_hash=key_hash(key or "")).delete()


def sessions_end_all(*, user: EndUser) -> None:
    """Log out everywhere: every session of ``user`` ends."""
    EndUserSession.objects.filter(user=user).delete()


def session_user(key: str) -> EndUser | None:
    """The end user of a live session key (with their connector), or None: unknown, expired
    (then deleted) or blocked. Notes the session's use at most once a minute."""
    if not key or not key.startswith(SESSION_TOKEN_PREFIX):
        return None
    session = EndUserSession.objects.select_related("user__connector").filter(key_hash=key_hash(key)).first()
    if session is None:
        return None
    now = timezone.now()
    if session.expires_at <= now:
        session.delete()
        return None
    if session.user.blocked:
        return None
    if session.last_used_at is None or (now - session.last_used_at).total_seconds() >= _SESSION_TOUCH_SECONDS:
        EndUserSession.objects.filter(pk=session.pk).update(last_used_at=now)
    return session.user
