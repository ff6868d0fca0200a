"""A self-signed server certificate for local TLS: ``make run-tls`` (nginx in front of the app)
and ``make run``'s MQTT listener (devices/mqtt). Not for production, where real certificates
take its place (``MQTT_TLS_CERT``, deploy/nginx)."""

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Renewed when it would expire within this time.
_RENEW_BEFORE = dt.timedelta(days=7)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(subject: str, key, *, issuer=None, issuer_key=None, days: int, ca: bool, names=()):
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(names)), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def server_certificate_ensure(directory: Path, *, domain: str) -> dict[str, Path]:
    """A local CA (``server-ca.pem``: what clients trust) and the server certificate it signed
    (``server.pem``/``server.key``) for 127.0.0.1, localhost and ``*.<domain>``, made once and
    renewed before they expire."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "ca": directory / "server-ca.pem",
        "certificate": directory / "server.pem",
        "key": directory / "server.key",
    }
    if all(p.exists() for p in paths.values()):
        current = x509.load_pem_x509_certificate(paths["certificate"].read_bytes())
        if current.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE:
            return paths
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Murano local TLS CA", ca_key, days=825, ca=True)
    names = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName(domain),
        x509.DNSName(f"*.{domain}"),
    ]
    certificate = _certificate(
        "localhost", key, issuer=ca, issuer_key=ca_key, days=365, ca=False, names=names
    )
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["certificate"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths["key"].touch(mode=0o600)
    paths["key"].write_bytes(_key_pem(key))
    return paths
