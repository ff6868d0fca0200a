"""Throttles of the portal: claim attempts and end users' log-ins (``core.throttle``).

Claim codes are short secrets printed on boxes, so guessing them must be slow. Every refused
claim (unknown code, expired, owned by others) counts one failure against the end user and one
against the client address; past ``CLAIM_FAILURES_PER_USER`` / ``CLAIM_FAILURES_PER_ADDRESS``
failures in ``CLAIM_WINDOW`` seconds, claims are refused with ``429`` and ``Retry-After`` until
the window ends. A ceiling on all attempts per user (``CLAIM_ATTEMPTS_PER_USER``, successes
included) stops someone with many codes of their own from probing between them.

Wrong portal passwords count per connector and e-mail address and per client address, on the
platform's log-in limits (``LOGIN_FAILURES_PER_ACCOUNT`` / ``LOGIN_FAILURES_PER_ADDRESS`` in
``LOGIN_FAILURE_WINDOW``), as the platform's own log-ins do.
"""

from django.conf import settings

from core.throttle import Check, Throttle, address_key, record_failure, retry_after


def _claim_failures(user_id: int, ip: str) -> list[Check]:
    window = settings.CLAIM_WINDOW
    return [
        (Throttle("claim-user", limit=settings.CLAIM_FAILURES_PER_USER, window=window), str(user_id)),
        (Throttle("claim-address", limit=settings.CLAIM_FAILURES_PER_ADDRESS, window=window),
         address_key(ip or "-")),
    ]  # fmt: skip


def _claim_attempts(user_id: int) -> Check:
    throttle = Throttle(
        "claim-attempts", limit=settings.CLAIM_ATTEMPTS_PER_USER, window=settings.CLAIM_WINDOW
    )
    return throttle, str(user_id)


def claim_retry_after(*, user_id: int, ip: str) -> int:
    """Seconds before this user may claim again from this address; 0: now."""
    return retry_after(*_claim_failures(user_id, ip), _claim_attempts(user_id))


def claim_attempted(*, user_id: int, ip: str, failed: bool) -> None:
    """Count one claim attempt (and one failure when it was refused)."""
    checks = [_claim_attempts(user_id)]
    if failed:
        checks += _claim_failures(user_id, ip)
    record_failure(*checks)


def _login_failures(connector_id: str, email: str, ip: str) -> list[Check]:
    window = settings.LOGIN_FAILURE_WINDOW
    return [
        (Throttle("portal-login-account", limit=settings.LOGIN_FAILURES_PER_ACCOUNT, window=window),
         f"{connector_id}:{email.strip().lower()}"),
        (Throttle("portal-login-address", limit=settings.LOGIN_FAILURES_PER_ADDRESS, window=window),
         address_key(ip or "-")),
    ]  # fmt: skip


def login_retry_after(*, connector_id: str, email: str, ip: str) -> int:
    """Seconds before this address may try a password for this portal account again; 0: now."""
    return retry_after(*_login_failures(connector_id, email, ip))


def login_failed(*, connector_id: str, email: str, ip: str) -> None:
    record_failure(*_login_failures(connector_id, email, ip))
