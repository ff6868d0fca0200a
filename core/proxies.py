"""Who is really asking: client address, scheme and TLS client certificate, honouring only
trusted proxies."""

import ipaddress
from functools import lru_cache
from urllib.parse import unquote

from django.conf import settings


def _is_trusted(address: str) -> bool:
    return _in_networks(address, tuple(settings.TRUSTED_PROXIES))


@lru_cache(maxsize=4096)
def _in_networks(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def peer_is_trusted_proxy(peer: str) -> bool:
    return bool(settings.TRUSTED_PROXIES) and _is_trusted(peer)


def client_address(peer: str, forwarded_for: str | None, real_ip: str | None) -> str:
    """The client's address: the peer, or what a trusted proxy says it is.

    With ``X-Forwarded-For``, the right-most address that is not itself a trusted proxy wins
    (addresses further left could have been written by the client).
    """
    if not peer_is_trusted_proxy(peer):
        return peer
    if forwarded_for:
        for candidate in reversed([p.strip() for p in forwarded_for.split(",") if p.strip()]):
            if not _is_trusted(candidate):
                return candidate if is_ip_address(candidate) else peer
    if real_ip and is_ip_address(real_ip.strip()):
        return real_ip.strip()
    return peer


def client_scheme(peer: str, scheme: str, forwarded_proto: str | None) -> str:
    if forwarded_proto and peer_is_trusted_proxy(peer):
        return forwarded_proto.split(",")[0].strip().lower()
    return scheme


def client_certificate(peer: str, forwarded_certificate: str | None) -> str | None:
    """The TLS client certificate (PEM) a trusted proxy forwarded in ``X-SSL-Client-Cert``
    (nginx's ``$ssl_client_escaped_cert``: URL-escaped), or None.

    From any other peer the header is ignored: anyone could send one, and a device would then be
    whoever's certificate it names. The certificate is only a claim even from the proxy: the
    device API verifies it itself (``connectors.pki``)."""
    if not forwarded_certificate or not peer_is_trusted_proxy(peer):
        return None
    # unquote, not unquote_plus: nginx escapes "+" (base64) as %2B, and a proxy that does not
    # escape at all sends PEM whose "+" must stay one.
    return unquote(forwarded_certificate)


def is_ip_address(address: str) -> bool:
    """Whether ``address`` is an IPv4 or IPv6 address (no brackets, no port)."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
