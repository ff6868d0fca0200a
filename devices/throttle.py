"""Throttling of device password guesses, per identity and per client address.

The device side of ``core.throttle`` (the one throttle for password guessing): a device that
authenticates with a wrong password (``Authorization: Basic``), or whose activation is denied on
a password connector, counts one failure against its identity (within its connector) and one
against its address. Once either has ``DEVICE_PASSWORD_FAILURES_PER_IDENTITY`` /
``DEVICE_PASSWORD_FAILURES_PER_ADDRESS`` failures in its window of
``DEVICE_PASSWORD_FAILURE_WINDOW`` seconds, every password attempt of that identity or from that
address is refused with ``429`` and ``Retry-After`` until the window ends, before any password
is hashed, the right one included (so a throttled answer tells nothing, and costs nothing).

If the cache fails, attempts go through with a warning: an outage of Redis must not lock every
password device out; the password hash still makes each guess slow.
"""

import logging

from django.conf import settings

from core.throttle import Throttle, address_key, record_failure, retry_after
from devices.errors import DeviceError

logger = logging.getLogger(__name__)
TOO_MANY_ATTEMPTS = "too many failed password attempts; try again later"


class Throttled(DeviceError):
    """``429`` with ``Retry-After``: the identity or the address failed too often lately."""

    def __init__(self, retry_after: int):
        super().__init__(TOO_MANY_ATTEMPTS, status=429, reason="too_many_attempts")
        self.retry_after = retry_after


def _checks(connector_id: str, identity: str | None, ip: str) -> list:
    window = settings.DEVICE_PASSWORD_FAILURE_WINDOW
    checks = [
        (Throttle("device-address", limit=settings.DEVICE_PASSWORD_FAILURES_PER_ADDRESS, window=window),
         address_key(ip or "-")),
    ]  # fmt: skip
    if identity:
        identity_throttle = Throttle(
            "device-identity", limit=settings.DEVICE_PASSWORD_FAILURES_PER_IDENTITY, window=window
        )
        checks.append((identity_throttle, f"{connector_id}\0{identity}"))
    return checks


def password_attempt_check(*, connector_id: str, identity: str | None, ip: str) -> None:
    """Raise ``Throttled`` while ``identity`` (of the connector) or ``ip`` has used up its
    failures; before the password is looked at."""
    try:
        wait = retry_after(*_checks(connector_id, identity, ip))
    except Exception as error:  # the cache is away: let the attempt through
        logger.warning("device password throttle: reading the cache failed: %s", error)
        return
    if wait:
        raise Throttled(wait)


def password_failure_record(*, connector_id: str, identity: str | None, ip: str) -> None:
    """Count one failed password attempt against ``identity`` (when one was named) and ``ip``."""
    try:
        record_failure(*_checks(connector_id, identity, ip))
    except Exception as error:
        logger.warning("device password throttle: counting a failure failed: %s", error)
