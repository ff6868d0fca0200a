"""Bounded windows of failures in Django's cache: the one throttle for password guessing.

A :class:`Throttle` counts failures per key (an account, an address, a device identity) in a
window of ``window`` seconds that starts with the key's first failure. Once a key has ``limit``
failures in its window it is refused until the window ends, then it starts afresh: an attacker
can keep a real person out for at most one window at a time, never for good.

The counters live in ``caches["default"]``: Redis when ``REDIS_URL`` is set, so every process
of a deployment shares them; files under ``MURANO_VAR_DIR`` on the embedded default. Keys are
hashed before they reach the cache, so it holds no e-mail addresses or identities.

Usage::

    ACCOUNT = Throttle("login-account", limit=10, window=900)
    wait = retry_after((ACCOUNT, email), (ADDRESS, ip))   # one cache round trip
    if wait:
        ...  # answer 429 with Retry-After: wait, without checking the password
    if not password_ok:
        record_failure((ACCOUNT, email), (ADDRESS, ip))
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.core.cache import caches


def _clock() -> float:
    # One indirection so tests can step past a window without waiting for it.
    return time.time()


@dataclass(frozen=True)
class Throttle:
    """At most ``limit`` failures per key in a window of ``window`` seconds from its first one."""

    scope: str
    limit: int
    window: int

    def cache_keys(self, key: str) -> tuple[str, str]:
        """The cache keys of ``key``'s failure count and of the time its window started."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        base = f"throttle:{self.scope}:{digest}"
        return f"{base}:count", f"{base}:since"

    def seconds_left(self, since: float, now: float) -> int:
        return max(1, math.ceil(since + self.window - now))


Check = tuple[Throttle, str]


def retry_after(*checks: Check) -> int:
    """Seconds to wait before trying again: 0 if no key has reached its throttle's limit."""
    now = _clock()
    keys = [(throttle, *throttle.cache_keys(key)) for throttle, key in checks]
    values = caches["default"].get_many([k for _, count, since in keys for k in (count, since)])
    waits = [
        throttle.seconds_left(values[since], now)
        for throttle, count, since in keys
        if values.get(count, 0) >= throttle.limit
        and values.get(since, now - throttle.window) > now - throttle.window
    ]
    return max(waits, default=0)


def record_failure(*checks: Check) -> None:
    """Count one failure for each key; its first failure starts its window."""
    cache = caches["default"]
    now = _clock()
    for throttle, key in checks:
        count_key, since_key = throttle.cache_keys(key)
        since = cache.get(since_key)
        if since is None or since <= now - throttle.window:
            if since is not None:  # outlived its window (a coarse expiry): start afresh
                cache.delete_many([count_key, since_key])
            since = (
                now if cache.add(since_key, now, timeout=throttle.window + 1) else cache.get(since_key, now)
            )
        ttl = throttle.seconds_left(since, now) + 1
        if not cache.add(count_key, 1, timeout=ttl):
            try:
                cache.incr(count_key)
            except ValueError:  # expired meanwhile: this failure opens a new count
                cache.add(count_key, 1, timeout=ttl)
            # Redis keeps a key's expiry on INCR, but the file and database caches write the
            # value back with the default timeout: give the count its window's end again.
            cache.touch(count_key, timeout=ttl)


def address_key(address: str) -> str:
    """The throttling key of a client address: IPv6 clients usually hold a whole /64, so their
    addresses are counted by /64; IPv4 addresses one by one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
