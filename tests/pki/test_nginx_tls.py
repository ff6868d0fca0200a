"""Certificate devices end to end: a real nginx terminating TLS (``ssl_verify_client
optional_no_ca``, the local template of ``make run-tls``) in front of a real Daphne server with
a database of its own, driven over real TLS handshakes with client certificates.

The connector verifies device certificates against its CA and signs CSRs. The app, not nginx,
decides: expired certificates, other CAs, CNs outside the identity format and certificates that
differ from the pinned one are all refused with 401; the header sent straight to the app by a
peer that is not the proxy is ignored.
"""

import os
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from murano.localtls import nginx_binary, nginx_config_write
from tests import live
from tests.pki.certs import make_ca, make_csr, make_leaf, make_server_certificate, with_key

EMAIL, PASSWORD = "pm@example.com", "tls-test-password-1"
DOMAIN = "devices.localhost"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def app_server(workdir):
    """Daphne on a free port with its own database; it trusts 127.0.0.1 (nginx) as its proxy."""
    env = {
        **os.environ,
        "MURANO_VAR_DIR": str(workdir / "var"),
        "DJANGO_SETTINGS_MODULE": "murano.settings",
        "PYTHONPATH": str(live.ROOT),
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "DEVICE_API_DOMAIN": DOMAIN,
        "CHANNEL_PREFIX": f"tls{uuid.uuid4().hex[:8]}",
    }
    if not os.environ.get("DATABASE_URL"):
        env.pop("REDIS_URL", None)
    with live.own_database(env, "tls", workdir / "tls.sqlite3"):
        live.migrate_and_create_admin(env, EMAIL, PASSWORD, "TLS")
        log = workdir / "daphne.log"
        url, process = live.start_daphne(env, log)
        try:
            live.wait_until_up(url + "/healthz", process, log)
            yield url
        finally:
            live.stop(process)


@pytest.fixture(scope="module")
def server_ca():
    return make_ca("Test server CA")


@pytest.fixture(scope="module")
def nginx(workdir, app_server, server_ca):
    """nginx on a free port, TLS with a server certificate of ``server_ca``, in front of Daphne."""
    binary = nginx_binary()
    assert binary, "these tests need nginx (Debian: apt-get install nginx; .ci/run installs it)"
    prefix = workdir / "nginx"
    prefix.mkdir()
    server = make_server_certificate(server_ca)
    certificate, key = server.write(workdir, "server")
    port = live.free_port()
    config = nginx_config_write(
        prefix, listen=f"127.0.0.1:{port}", upstream=app_server.removeprefix("http://"),
        certificate=Path(certificate), key=Path(key),
    )  # fmt: skip
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    try:
        live.wait_for(listening, "nginx", process)
        yield f"https://127.0.0.1:{port}"
    finally:
        live.stop(process)


@pytest.fixture(scope="module")
def tls(workdir, server_ca):
    """``tls(certificate=None)`` → an SSL context trusting nginx, presenting ``certificate``."""
    ca_file = workdir / "server-ca.pem"
    ca_file.write_text(server_ca.pem)

    def context(certificate=None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ca_file))
        if certificate is not None:
            cert_file, key_file = certificate.write(workdir, f"client-{uuid.uuid4().hex[:8]}")
            ctx.load_cert_chain(cert_file, key_file)
        return ctx

    return context


@pytest.fixture(scope="module")
def device_ca():
    return make_ca("Acme device CA")


@pytest.fixture(scope="module")
def manager(nginx, tls):
    """The product manager's API client, through nginx."""
    with httpx.Client(base_url=nginx, verify=tls(), auth=(EMAIL, PASSWORD), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def connector_id(manager, device_ca) -> str:
    """A certificate connector whose identities start with ``dev-``, verifying device
    certificates against ``device_ca`` and signing CSRs with it."""
    created = manager.post(
        "/api/v1/connectors/",
        json={
            "name": "TLS sensors",
            "identity_format": {"prefix": "dev-"},
            "provisioning": {"auth_type": "certificate"},
            "pki": {"enabled": True, "ca_certificate": device_ca.pem, "ca_private_key": device_ca.key_pem,
                    "sign_csr": True},
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    connector_id = created.json()["id"]
    resource = manager.post(
        f"/api/v1/connectors/{connector_id}/resources/", json={"alias": "temp", "format": "number"}
    )
    assert resource.status_code == 201, resource.text
    return connector_id


@pytest.fixture
def device(nginx, tls, connector_id):
    """``device(certificate)`` → a client speaking to the device API through nginx over TLS,
    presenting ``certificate`` (None: no client certificate)."""
    clients = []

    def make(certificate) -> httpx.Client:
        client = httpx.Client(
            base_url=nginx, verify=tls(certificate), timeout=30, headers={"Host": f"{connector_id}.{DOMAIN}"}
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def device_status(manager, connector_id, identity) -> str | None:
    response = manager.get(f"/api/v1/connectors/{connector_id}/devices/{identity}/")
    return response.json()["status"] if response.status_code == 200 else None


def test_a_ca_signed_certificate_provisions_and_writes(device, manager, connector_id, device_ca):
    client = device(make_leaf("dev-001", issuer=device_ca))

    written = client.post("/onep:v1/stack/alias", data={"temp": "21.5"})
    read = client.get("/onep:v1/stack/alias?temp")

    assert written.status_code == 204
    assert (read.status_code, read.text) == (200, "temp=21.5")
    assert device_status(manager, connector_id, "dev-001") == "provisioned"
    state = manager.get(f"/api/v1/connectors/{connector_id}/devices/dev-001/state/").json()
    assert state["temp"]["reported"] == "21.5"


@pytest.mark.parametrize(
    "make_certificate",
    [
        lambda ca: make_leaf("dev-002", issuer=make_ca("Someone else's CA")),
        lambda ca: make_leaf("dev-003", issuer=ca, starts=-30, ends=-1),
        lambda ca: make_leaf("dev-004"),
        lambda ca: make_leaf("sensor-005", issuer=ca),
    ],
    ids=["another-ca", "expired", "self-signed", "cn-outside-the-identity-format"],
)
def test_certificates_the_connector_does_not_accept_are_refused(
    device, manager, connector_id, device_ca, make_certificate
):
    certificate = make_certificate(device_ca)

    response = device(certificate).post("/onep:v1/stack/alias", data={"temp": "1"})

    assert (response.status_code, response.text) == (401, "unauthorized")
    identity = certificate.certificate.subject.rfc4514_string().removeprefix("CN=")
    assert device_status(manager, connector_id, identity) is None


def test_a_certificate_that_differs_from_the_pinned_one_is_refused(device, manager, connector_id, device_ca):
    assert (
        device(make_leaf("dev-006", issuer=device_ca))
        .post("/onep:v1/stack/alias", data={"temp": "1"})
        .status_code
        == 204
    )

    other = device(make_leaf("dev-006", issuer=device_ca)).post("/onep:v1/stack/alias", data={"temp": "666"})

    assert other.status_code == 401
    state = manager.get(f"/api/v1/connectors/{connector_id}/devices/dev-006/state/").json()
    assert state["temp"]["reported"] == "1"


def test_the_header_sent_straight_to_the_app_by_another_peer_is_ignored(
    app_server, connector_id, device_ca, manager
):
    certificate = make_leaf("dev-007", issuer=device_ca)
    # 127.0.0.2 is this machine too, but not the trusted proxy (127.0.0.1/32).
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    headers = {
        "Host": f"{connector_id}.{DOMAIN}",
        "X-SSL-Client-Cert": certificate.header,
        "X-Forwarded-Proto": "https",
    }
    with httpx.Client(base_url=app_server, transport=transport, headers=headers, timeout=30) as forger:
        response = forger.post("/onep:v1/stack/alias", data={"temp": "1"})

    assert response.status_code == 401
    assert device_status(manager, connector_id, "dev-007") is None


def test_a_header_a_client_sends_through_nginx_is_replaced(device, manager, connector_id, device_ca):
    forged = make_leaf("dev-008", issuer=device_ca)

    response = device(None).post(
        "/onep:v1/stack/alias", data={"temp": "1"}, headers={"X-SSL-Client-Cert": forged.header}
    )

    assert response.status_code == 401
    assert device_status(manager, connector_id, "dev-008") is None


def test_a_csr_is_signed_and_the_issued_certificate_then_works(device, manager, connector_id):
    csr, key = make_csr("dev-009")

    issued = manager.post(
        f"/api/v1/connectors/{connector_id}/devices/",
        json={"identity": "dev-009", "auth": {"type": "csr", "key": csr}},
    )
    assert issued.status_code == 201, issued.text
    certificate = with_key(issued.json()["certificate"], key)
    response = device(certificate).post("/onep:v1/stack/alias", data={"temp": "7"})

    assert response.status_code == 204
    assert device_status(manager, connector_id, "dev-009") == "provisioned"


def test_a_revoked_device_is_refused(device, manager, connector_id, device_ca):
    client = device(make_leaf("dev-010", issuer=device_ca))
    assert client.post("/onep:v1/stack/alias", data={"temp": "1"}).status_code == 204

    revoked = manager.patch(
        f"/api/v1/connectors/{connector_id}/devices/dev-010/", json={"auth": {"expire": 0}}
    )
    response = client.post("/onep:v1/stack/alias", data={"temp": "2"})

    assert revoked.json()["status"] == "reprovision"
    assert response.status_code == 401


def test_the_shipped_nginx_configs_pass_nginx_t():
    checked = subprocess.run(
        ["sh", str(live.ROOT / "deploy" / "nginx" / "check.sh")],
        capture_output=True, text=True, env={**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin"},
    )  # fmt: skip

    assert checked.returncode == 0, checked.stderr
    # murano.conf, the local TLS template and the MQTT stream config.
    assert checked.stderr.count("test is successful") == 3
