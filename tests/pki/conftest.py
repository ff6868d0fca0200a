"""Fixtures for TLS client certificates: a trusted proxy in front of the WSGI application, a
certificate connector, a client CA, and device clients presenting certificates as nginx
forwards them."""

import ipaddress

import httpx
import pytest

from connectors.services import connector_update
from devices.events import events_recent
from tests.conftest import device_host
from tests.factories import make_connector, make_resource
from tests.pki.certs import Issued, make_ca

PROXY = "127.0.0.1"


@pytest.fixture
def trusted_proxy(settings):
    """The app sits behind a proxy at 127.0.0.1 (TRUSTED_PROXIES=127.0.0.1/32)."""
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(f"{PROXY}/32")]


@pytest.fixture
def ca():
    return make_ca()


@pytest.fixture
def cert_connector(business):
    """A connector whose devices authenticate with TLS client certificates (HTTPS only), with a
    number resource ``temp``."""
    connector = make_connector(business=business, name="Secure sensor", auth_type="certificate")
    make_resource(connector=connector, alias="temp", format="number")
    return connector


@pytest.fixture
def pki_connector(cert_connector, ca):
    """The certificate connector with its client CA (and the CA's key: it signs CSRs)."""
    return connector_update(
        connector=cert_connector,
        changes={
            "pki_enabled": True,
            "pki_ca_certificate": ca.pem,
            "pki_ca_private_key": ca.key_pem,
            "pki_sign_csr": True,
        },
    )


@pytest.fixture
def device_with(trusted_proxy):
    """``device_with(connector, certificate)`` → an HTTP client whose requests reach the WSGI
    application as nginx would send them: from the proxy, over HTTPS, with the certificate
    (an ``Issued``, or the raw header value) in ``X-SSL-Client-Cert``. ``peer`` and ``proto``
    change where the request comes from and what the proxy says of the transport."""
    from murano.wsgi import application

    clients = []

    def make(connector, certificate: Issued | str | None, *, peer: str = PROXY, proto: str | None = "https"):
        headers = {}
        if proto:
            headers["X-Forwarded-Proto"] = proto
        if certificate is not None:
            headers["X-SSL-Client-Cert"] = (
                certificate.header if isinstance(certificate, Issued) else certificate
            )
        transport = httpx.WSGITransport(app=application, remote_addr=peer)
        client = httpx.Client(
            transport=transport, base_url=f"http://{device_host(connector)}", headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def write(client: httpx.Client, body: str = "temp=21.5") -> httpx.Response:
    return client.post("/onep:v1/stack/alias", content=body)


def events_of(connector, *types: str) -> list[dict]:
    """The connector's recent events (oldest first), of the given types if any are named."""
    return [e for e in events_recent(connector.pk) if not types or e["type"] in types]


def reasons(connector, type: str) -> list[str]:
    return [e["payload"]["reason"] for e in events_of(connector, type)]
