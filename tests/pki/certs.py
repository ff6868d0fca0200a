"""Certificates for the PKI tests, made with ``cryptography``: CAs, device certificates (good,
expired, from another CA, for the wrong purpose), CSRs (and a tampered one)."""

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes as PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def header(self) -> str:
        """As nginx forwards it (``$ssl_client_escaped_cert``): the PEM, URL-escaped."""
        return quote(self.pem, safe="")

    def write(self, directory: Path, name: str) -> tuple[str, str]:
        """``(certificate file, key file)`` for a TLS client."""
        certificate, key = directory / f"{name}.pem", directory / f"{name}.key"
        certificate.write_text(self.pem)
        key.write_text(self.key_pem)
        return str(certificate), str(key)


def _name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])


def _builder(
    cn: str | None, key, issuer: Issued | None, starts: float, ends: float
) -> x509.CertificateBuilder:
    """A certificate for ``key`` named ``cn``, issued by ``issuer`` (self-signed without one),
    valid from ``starts`` to ``ends`` days from now."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.certificate.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=starts))
        .not_valid_after(NOW + dt.timedelta(days=ends))
    )


def _signed(builder: x509.CertificateBuilder, key, issuer: Issued | None) -> Issued:
    return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


def make_ca(cn: str = "Test device CA", *, days: int = 365, is_ca: bool = True, issuer: Issued | None = None,
            key_cert_sign: bool = True, key: PrivateKey | None = None) -> Issued:  # fmt: skip
    """A CA (self-signed, or an intermediate signed by ``issuer``); ``key``: its private key (a new
    P-256 key without one), for key types and sizes the platform refuses."""
    key = ec.generate_private_key(ec.SECP256R1()) if key is None else key
    builder = (
        _builder(cn, key, issuer, -1, days)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not key_cert_sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=key_cert_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    )
    return _signed(builder, key, issuer)


def make_leaf(cn: str | None, *, issuer: Issued | None = None, starts: float = -1, ends: float = 30,
              usage=None, san: list | None = None) -> Issued:  # fmt: skip
    """A device (or server) certificate: self-signed without ``issuer``; ``starts``/``ends`` in
    days from now; ``usage``: extended key usages."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(cn, key, issuer, starts, ends)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return _signed(builder, key, issuer)


def make_server_certificate(issuer: Issued) -> Issued:
    """nginx's certificate: 127.0.0.1 and *.devices.localhost."""
    return make_leaf(
        "localhost",
        issuer=issuer,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        san=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("*.devices.localhost"),
        ],
    )


def make_csr(cn: str | None) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A CSR (PEM) and the private key that signed it."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(cn)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def tampered_csr(cn: str) -> str:
    """A CSR whose signature no longer matches its content (its last signature byte changed)."""
    pem, _ = make_csr(cn)
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def with_key(certificate_pem: str, key) -> Issued:
    return Issued(x509.load_pem_x509_certificate(certificate_pem.encode()), key)
