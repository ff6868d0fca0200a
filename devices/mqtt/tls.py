"""TLS for the MQTT listener: the server certificate, and the connector chosen by SNI.

The server name a device sends (``<connector-id>.<DEVICE_API_DOMAIN>`` or an extra hostname)
chooses its connector, as ``Host`` does over HTTP. A connector with PKI on (a CA) gets a TLS
context of its own that asks for a client certificate and verifies it against that CA in the
handshake; the others share one context, where a client certificate cannot be verified.

The choice happens in OpenSSL's server-name callback, on the event loop: it must not touch the
database. So the names and contexts are a snapshot, refreshed in the thread pool every
``DEVICE_API_CACHE_SECONDS`` (``Contexts.refresh``) and whenever a name is not in it.
"""

import contextvars
import logging
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from connectors.hostnames import hostname_reserved
from connectors.models import Connector, ConnectorHostname
from connectors.runtime import connector_label

logger = logging.getLogger(__name__)

# asyncio gives each TLS connection a read buffer of this size (256 KiB by default, zero-filled:
# resident memory). A TLS record carries at most 16 KiB, so a smaller buffer costs no throughput and
# lets one process hold its thousands of idle device connections.
TLS_READ_BUFFER = 16 * 1024


def server_certificate() -> tuple[str, str]:
    """The server certificate and key files: ``MQTT_TLS_CERT`` / ``MQTT_TLS_KEY``, or a
    self-signed pair made once under ``VAR_DIR/tls`` (for ``make run``; its CA is
    ``server-ca.pem`` there, what device tests trust)."""
    if settings.MQTT_TLS_CERT:
        return settings.MQTT_TLS_CERT, settings.MQTT_TLS_KEY or settings.MQTT_TLS_CERT
    from core.selfsigned import server_certificate_ensure

    paths = server_certificate_ensure(Path(settings.VAR_DIR) / "tls", domain=settings.DEVICE_API_DOMAIN)
    return str(paths["certificate"]), str(paths["key"])


# The TLS objects made while a connection's handshake starts (``handshake_objects``): asyncio
# makes the connection's TLS object in a callback that runs in a copy of the connection task's
# context, so a list put there by the task before ``start_tls`` receives it.
_made = contextvars.ContextVar("murano_mqtt_tls_objects")


class _ListeningContext(ssl.SSLContext):
    """The listening context, which hands each TLS object it makes to the connection whose
    handshake made it (the server name it asked for, even when the handshake then fails)."""

    def wrap_bio(self, *args, **kwargs):
        sslobj = super().wrap_bio(*args, **kwargs)
        made = _made.get(None)
        if made is not None:
            made.append(sslobj)
        return sslobj


def handshake_objects() -> list:
    """Call in a connection's task before its ``start_tls``: the list its TLS object goes to."""
    made: list = []
    _made.set(made)
    return made


def _context(certfile: str, keyfile: str, ca_pem: str = "", *, listening: bool = False) -> ssl.SSLContext:
    context = (_ListeningContext if listening else ssl.SSLContext)(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    # The verify mode of the listening context is the one OpenSSL applies, whatever context the
    # server-name callback switches to: ask every client for a certificate, not require one.
    context.verify_mode = ssl.CERT_OPTIONAL
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    else:
        # No CA to verify against: load an empty store by asking for nothing.
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Snapshot:
    versions: dict[str, object] = field(default_factory=dict)  # connector id → updated_at
    hostnames: dict[str, str] = field(default_factory=dict)  # extra hostname → connector id
    contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)  # connectors with a CA


class Contexts:
    """The listening context and the per-connector ones, switched in by server name."""

    def __init__(self, certfile: str, keyfile: str):
        self.certfile, self.keyfile = certfile, keyfile
        self.listening = _context(certfile, keyfile, listening=True)
        # Asks for a client certificate (verified by the connector's context, when switched to).
        self.listening.verify_mode = ssl.CERT_OPTIONAL
        # Clients without a server name, or naming no connector, are verified against no CA.
        self.listening.load_verify_locations(cadata=_placeholder_ca())
        self.listening.sni_callback = self._server_name
        self.snapshot = Snapshot()
        self.missed: set[str] = set()  # names not in the snapshot: the next refresh looks

    def refresh(self) -> None:
        """Re-read the connectors' names and CAs (in the thread pool). Contexts are rebuilt only
        for connectors whose settings changed."""
        old = self.snapshot
        new = Snapshot(
            versions=dict(Connector.objects.values_list("id", "updated_at")),
            hostnames=dict(ConnectorHostname.objects.values_list("hostname", "connector_id")),
        )
        changed = [c for c, version in new.versions.items() if old.versions.get(c) != version]
        new.contexts = {c: ctx for c, ctx in old.contexts.items() if c in new.versions and c not in changed}
        for connector in Connector.objects.filter(pk__in=changed, pki_enabled=True).exclude(
            pki_ca_certificate=""
        ):
            try:
                new.contexts[connector.pk] = _context(
                    self.certfile, self.keyfile, connector.pki_ca_certificate
                )
            except (ssl.SSLError, ValueError) as error:
                logger.warning("connector %s: its CA cannot be loaded for MQTT TLS: %s", connector.pk, error)
        self.snapshot, self.missed = new, set()

    def connector_for(self, server_name: str) -> str | None:
        """The connector a server name chooses, from the snapshot (no database)."""
        name = server_name.lower().rstrip(".")
        if self.under_device_domain(name):
            label = connector_label(name)
            if label is not None and label in self.snapshot.versions:
                return label
        elif name in self.snapshot.hostnames:
            return self.snapshot.hostnames[name]
        elif hostname_reserved(name):
            return None
        self.missed.add(name)  # a connector (or host name) newer than the snapshot, or none
        return None

    @staticmethod
    def under_device_domain(server_name: str) -> bool:
        return server_name.lower().rstrip(".").endswith("." + settings.DEVICE_API_DOMAIN)

    def _server_name(self, sslobj, server_name: str | None, _context) -> int | None:
        # Noted on the TLS object for the connection (``murano_server_name``, and the connector
        # when the snapshot knows it); a name it does not know is looked up once the handshake
        # is over, in the thread pool.
        try:
            sslobj.murano_server_name = server_name
            connector_id = self.connector_for(server_name) if server_name else None
            sslobj.murano_connector = connector_id
            context = self.snapshot.contexts.get(connector_id) if connector_id else None
            if context is not None:
                sslobj.context = context
        except Exception:  # OpenSSL would only say "callback failed"
            logger.exception("MQTT TLS: choosing the connector of %r failed", server_name)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None


_PLACEHOLDER_CA: str | None = None


def _placeholder_ca() -> str:
    """A CA nobody holds the key of: the listening context's trust store, so that a certificate
    sent without a connector CA to check it is refused, never accepted on its own say-so."""
    global _PLACEHOLDER_CA
    if _PLACEHOLDER_CA is None:
        from core.selfsigned import server_certificate_ensure

        with tempfile.TemporaryDirectory() as directory:
            paths = server_certificate_ensure(Path(directory), domain="placeholder.invalid")
            _PLACEHOLDER_CA = paths["ca"].read_text()
    return _PLACEHOLDER_CA
