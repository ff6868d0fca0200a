"""Extra host names of connectors: the one spelling a name is stored in, and the names no
connector may claim.

A device request is routed by its ``Host`` header (``connectors.runtime``): a name a tenant
could claim for its connector would divert every request that arrives under that name. So the
platform's own names are never claimable: IP literals (and names a browser or resolver would
read as IPv4, such as ``127.1`` or ``0x7f.1``), ``localhost`` and its sub-domains, and every
domain the platform answers on with its sub-domains: ``DEVICE_API_DOMAIN`` (whose sub-domains
are the connectors' canonical ``<connector-id>.<domain>`` names), the web host names of
``ALLOWED_HOSTS`` that are not wildcards, and ``MURANO_URL``'s host.

Names are stored in one spelling so that two spellings of one name cannot both be claimed:
lower case, without the trailing dot of a fully qualified name, internationalised names as
their ASCII (punycode, IDNA 2008 with UTS #46 mapping) form; an ASCII ``xn--`` label must be
the canonical punycode of its Unicode form.
"""

import re
from urllib.parse import urlsplit

import idna
from django.conf import settings

from core.proxies import is_ip_address

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)({_LABEL})(\.{_LABEL})*$")
# WHATWG URL parsing reads a host whose last label is a number (decimal, 0x-hex) as IPv4.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")

# The one sentence for every name a connector cannot have, whether the platform reserves it or
# another connector (perhaps another tenant's) uses it: which of the two is not revealed.
NOT_AVAILABLE = "is not available"


class HostnameRefused(ValueError):
    """A host name that cannot be a connector's; ``message`` reads after the name."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _split_port(text: str) -> tuple[str, str | None]:
    """``(host, port or None)`` of ``name``, ``name:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, (rest[1:] if rest.startswith(":") else rest or None)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


def _ascii(name: str) -> str:
    """The canonical ASCII spelling of a host name, or ``HostnameRefused``."""
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    try:
        ascii_name = idna.encode(name, uts46=True, transitional=False).decode("ascii")
        # An xn-- label given in ASCII is accepted only as the punycode of its Unicode form.
        if "xn--" in ascii_name and idna.encode(idna.decode(ascii_name)).decode("ascii") != ascii_name:
            raise idna.IDNAError("not canonical")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise HostnameRefused("is not a valid host name") from None
    return ascii_name


def platform_domains() -> set[str]:
    """The domains the platform itself answers on (their sub-domains are reserved too)."""
    names = {
        settings.DEVICE_API_DOMAIN,
        settings.PORTAL_DOMAIN,
        urlsplit(settings.MURANO_URL or "").hostname or "",
    }
    names.update(host for host in settings.ALLOWED_HOSTS if "*" not in host)
    domains = set()
    for name in names:
        name = name.strip().lstrip(".")
        if not name or is_ip_address(name.strip("[]")):
            continue  # IP addresses are refused whatever they are
        try:
            domains.add(_ascii(name))
        except HostnameRefused:
            domains.add(name.lower().rstrip("."))
    return domains


def hostname_reserved(name: str) -> bool:
    """Whether ``name`` (a canonical name, or a ``Host`` header's host) belongs to the platform:
    no connector may route requests that arrive under it."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") or ":" in name or is_ip_address(name):
        return True
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        return True
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return any(name == domain or name.endswith("." + domain) for domain in platform_domains())


def hostname_clean(text: str) -> str:
    """The stored spelling of a host name someone wants for a connector, or ``HostnameRefused``:
    "not available" for the platform's own names, "not a valid host name" otherwise."""
    raw = str(text).strip()
    host, port = _split_port(raw)
    if is_ip_address(host):
        raise HostnameRefused(NOT_AVAILABLE)
    if raw.startswith("["):
        raise HostnameRefused("is not a valid host name")
    name = _ascii(host)
    if hostname_reserved(name):
        raise HostnameRefused(NOT_AVAILABLE)
    if port is not None:
        raise HostnameRefused("is not a valid host name (give it without a port)")
    if not _HOSTNAME.match(name):
        raise HostnameRefused("is not a valid host name")
    return name
