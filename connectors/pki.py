"""Public key infrastructure of a connector: its client CA, device certificates, CSR signing.

Everything here is certificate handling with ``cryptography`` and nothing else (no database, no
events): parsing what people upload and what nginx forwards, checking a client CA, verifying a
device's certificate against it (``cryptography.x509.verification``), and issuing device
certificates for CSRs through a small signer interface.

Problems come back as ``CertificateProblem`` with a machine-readable ``reason`` (for the Logs)
and a sentence for people; callers turn them into a 400 (management API) or a 401 (device API).
"""

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A forwarded client certificate: nginx sends the leaf only, other proxies may add a short chain.
# Real ones are 1-3 KB each; anything past this is refused before it is parsed.
CLIENT_CERTIFICATE_MAX_CHARS = 16 * 1024
CLIENT_CHAIN_MAX = 4
# What people upload or submit (a certificate, a key, a CSR) is one PEM block of this size at most.
PEM_MAX_CHARS = 64 * 1024
CA_DAYS = 3650
DEVICE_CERTIFICATE_DAYS = 365
# Issued certificates start a little in the past: a device's clock (or ours) may lag behind.
BACKDATE = dt.timedelta(minutes=5)
RSA_MIN_BITS = 2048
# The upper bound of a subject's CN (RFC 5280's ub-common-name), counted as ``cryptography``
# counts it: in UTF-8 bytes, so 64 ASCII characters but only 21 three-byte ones.
CN_MAX_BYTES = 64
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_CONTROL_OR_SPACES = re.compile(r"[\x00-\x1f\x7f\s]+")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_SAFE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_CLIENT_USAGES = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


class CertificateProblem(Exception):
    """A certificate, key or CSR that cannot be used: ``reason`` for machines, ``message`` for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class SigningUnavailable(Exception):
    """The connector cannot sign CSRs (signing off, no CA, no CA private key)."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- reading PEM ------------------------------------------------------------------------------


def _pem_blocks(text: str) -> list[str]:
    if len(text) > PEM_MAX_CHARS:
        raise CertificateProblem("too_large", f"is larger than {PEM_MAX_CHARS // 1024} KB")
    return _PEM_BLOCK.findall(text)


def certificate_load(text: str) -> x509.Certificate:
    """Exactly one PEM certificate (a private key or a second block next to it is refused, so a
    key pasted by mistake is never stored). Messages read after the field's name."""
    blocks = _pem_blocks(text)
    if any("PRIVATE KEY" in block for block in blocks):
        raise CertificateProblem("private_key", "holds a private key; give the certificate only")
    if len(blocks) > 1:
        raise CertificateProblem(
            "several_certificates", "holds more than one PEM block; give one certificate"
        )
    try:
        return x509.load_pem_x509_certificate(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateProblem("malformed_certificate", "is not a PEM certificate") from None


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex: how a pinned certificate is recognised (the bulk CSV
    import stores the same)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class CertificateSummary:
    """What people are shown of a stored certificate (a connector's CA, a device's pinned one)."""

    subject: str
    common_name: str | None
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str

    @property
    def expired(self) -> bool:
        return self.not_after < now()

    @property
    def not_yet_valid(self) -> bool:
        return self.not_before > now()


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:  # an attribute that does not parse
        return "(unreadable name)"


def certificate_summary(text: str) -> CertificateSummary | None:
    """Subject, issuer, validity and fingerprint of a stored PEM certificate; None when there is
    none (or what is stored no longer parses: it is shown as missing, not as an error page)."""
    if not text or not text.strip():
        return None
    try:
        certificate = x509.load_pem_x509_certificate(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return CertificateSummary(
        subject=_name_text(certificate.subject),
        common_name=common_name(certificate),
        issuer=_name_text(certificate.issuer),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        fingerprint=fingerprint(certificate),
    )


def common_name(certificate: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The subject's single CN, or None (no CN, several, not text, or a subject that does not
    parse)."""
    try:
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    if len(names) != 1 or not isinstance(names[0].value, str):
        return None
    return names[0].value


def _public_key(certificate):
    """The public key of a certificate or CSR, refused when we cannot use it."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateProblem(
            "weak_key", "has a key type that is not supported (use RSA, ECDSA or EdDSA)"
        ) from None
    _check_public_key(key)
    return key


def _check_public_key(key) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise CertificateProblem(
                "weak_key", f"has a {key.key_size}-bit RSA key; use {RSA_MIN_BITS} bits or more"
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)):
            raise CertificateProblem(
                "weak_key", f"uses the curve {key.curve.name}; use P-256, P-384 or P-521"
            )
        return
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return
    raise CertificateProblem("weak_key", "has a key type that is not supported (use RSA, ECDSA or EdDSA)")


# --- the connector's client CA ---------------------------------------------------------------


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def ca_certificate_clean(text: str) -> str:
    """A client CA as uploaded, checked: one PEM certificate of a CA (basicConstraints CA=true,
    allowed to sign certificates), not expired, with a key type we verify. Normalised PEM."""
    certificate = certificate_load(text)
    try:
        is_ca = _is_ca(certificate)
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    except ValueError:  # extensions that do not parse (or one given twice)
        raise CertificateProblem("malformed_certificate", "has malformed extensions") from None
    if not is_ca:
        raise CertificateProblem("not_a_ca", "is not a CA certificate")
    if usage is not None and not usage.key_cert_sign:
        raise CertificateProblem("not_a_ca", "is a CA certificate that may not sign certificates (keyUsage)")
    if certificate.not_valid_after_utc < now():
        raise CertificateProblem("expired", "has expired")
    _public_key(certificate)
    return certificate_pem(certificate)


def private_key_load(text: str):
    """A PEM private key without passphrase, of a type we can sign with."""
    blocks = _pem_blocks(text)
    if len(blocks) != 1 or "PRIVATE KEY" not in blocks[0]:
        raise CertificateProblem("malformed_key", "is not a PEM private key")
    try:
        key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except TypeError:
        raise CertificateProblem(
            "encrypted_key", "is protected by a passphrase; upload it without one"
        ) from None
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise CertificateProblem("malformed_key", "is not a PEM private key") from None
    _check_public_key(key.public_key())
    return key


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches_certificate(key, certificate_text: str) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(certificate_text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    return _spki(key.public_key()) == _spki(certificate.public_key())


def ca_private_key_clean(text: str, *, ca_certificate: str) -> str:
    """The CA's private key as uploaded, checked (a key, no passphrase, the CA certificate's own
    key when there is one): PKCS#8 PEM, ready to be encrypted at rest."""
    key = private_key_load(text)
    if ca_certificate and not key_matches_certificate(key, ca_certificate):
        raise CertificateProblem("key_mismatch", "does not belong to the CA certificate")
    return _key_pem(key)


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _key_usage(*, certificate_authority: bool, key_encipherment: bool = False) -> x509.KeyUsage:
    """A CA signs certificates (and CRLs); a device's key signs its TLS handshakes."""
    return x509.KeyUsage(
        digital_signature=not certificate_authority,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def utf8_bytes(text: str) -> int | None:
    """How many bytes ``text`` takes in UTF-8; None when it is not text UTF-8 can encode (a lone
    surrogate, which JSON's ``\\ud800`` escapes can produce)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def name_value_fit(text: str, max_bytes: int = CN_MAX_BYTES) -> str:
    """``text`` made into something a subject attribute can hold: control characters and runs of
    white space become one space, what UTF-8 cannot encode becomes "?", and the rest is cut to
    ``max_bytes`` UTF-8 bytes on a character boundary (never inside a multi-byte character)."""
    text = _CONTROL_OR_SPACES.sub(" ", text).strip()
    encoded = text.encode("utf-8", errors="replace")
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip()


def ca_default_common_name(*, connector_name: str, connector_id: str) -> str:
    """The CN of a connector's generated CA: its name (shortened to fit) and id,
    ``"<name> device CA (<id>)"``; the id alone when no name is left."""
    suffix = f"device CA ({connector_id})"
    room = CN_MAX_BYTES - len(suffix.encode("utf-8")) - 1
    name = name_value_fit(connector_name, max_bytes=room)
    if name != _CONTROL_OR_SPACES.sub(" ", connector_name).strip():
        name = name_value_fit(name, max_bytes=room - len("…".encode())) + "…"
    return f"{name} {suffix}" if name.strip("…") else suffix


def ca_generate(*, common_name: str, days: int = CA_DAYS) -> tuple[str, str]:
    """A new client CA (ECDSA P-256, may sign device certificates only): ``(certificate, key)``
    as PEM. ``common_name`` is cut to what a CN may hold (``name_value_fit``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name_value_fit(common_name) or "device CA")])
    start = now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(certificate_authority=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate_pem(certificate), _key_pem(key)


# --- device certificates ---------------------------------------------------------------------


@lru_cache(maxsize=1024)
def client_chain_load(text: str) -> tuple[x509.Certificate, ...]:
    """The certificates a trusted proxy forwarded (PEM, already URL-unescaped), leaf first.
    Cached: a device presents the same certificate on every request."""
    if len(text) > CLIENT_CERTIFICATE_MAX_CHARS:
        raise CertificateProblem(
            "certificate_too_large", f"is larger than {CLIENT_CERTIFICATE_MAX_CHARS} bytes"
        )
    try:
        chain = tuple(x509.load_pem_x509_certificates(text.strip().encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        raise CertificateProblem("malformed_certificate", "is not a PEM certificate") from None
    if len(chain) > CLIENT_CHAIN_MAX:
        raise CertificateProblem(
            "certificate_too_large", f"is a chain of more than {CLIENT_CHAIN_MAX} certificates"
        )
    return chain


def _client_auth_usage(policy, certificate, extension) -> None:
    # An extendedKeyUsage that does not allow client authentication (a server certificate, say)
    # must not log a device in; no extension at all is fine (the seeds' openssl recipe has none).
    if extension is not None and not _CLIENT_USAGES & set(extension):
        raise ValueError("has an extended key usage that does not allow client authentication")


def _ca_signing_usage(policy, certificate, extension) -> None:
    if extension is not None and not extension.key_cert_sign:
        raise ValueError("the CA's key usage does not allow signing certificates")


def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    """What a device chain must satisfy besides signatures and dates. Looser than the Web PKI
    profile (which wants key identifiers and SANs that customers' CAs and the seeds' openssl
    recipe don't produce), strict where it matters: every issuer is a CA allowed to sign, and the
    leaf is usable for client authentication."""
    criticality = verification.Criticality.AGNOSTIC
    ca_policy = (
        verification.ExtensionPolicy.permit_all()
        .require_present(x509.BasicConstraints, criticality, None)
        .may_be_present(x509.KeyUsage, criticality, _ca_signing_usage)
    )
    leaf_policy = verification.ExtensionPolicy.permit_all().may_be_present(
        x509.ExtendedKeyUsage, criticality, _client_auth_usage
    )
    return ca_policy, leaf_policy


@lru_cache(maxsize=256)
def _ca_store(ca_certificate: str) -> verification.Store:
    return verification.Store(x509.load_pem_x509_certificates(ca_certificate.encode("ascii")))


def client_certificate_verify(
    chain: Sequence[x509.Certificate], *, ca_certificate: str = "", at: dt.datetime | None = None
) -> None:
    """Raise ``CertificateProblem`` unless the leaf ``chain[0]`` is within its validity dates,
    usable for client authentication and, with ``ca_certificate``, chains to that CA (with the
    rest of ``chain`` as intermediates) with every certificate valid at ``at``."""
    at = at or now()
    leaf = chain[0]
    if at < leaf.not_valid_before_utc:
        raise CertificateProblem("certificate_not_yet_valid", "is not valid yet")
    if at > leaf.not_valid_after_utc:
        raise CertificateProblem("certificate_expired", "has expired")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    except ValueError:  # an extension that does not parse
        raise CertificateProblem("malformed_certificate", "has malformed extensions") from None
    try:
        _client_auth_usage(None, leaf, usage)
    except ValueError as exc:
        raise CertificateProblem("not_for_client_auth", str(exc)) from None
    if not ca_certificate:
        return
    ca_policy, leaf_policy = _policies()
    verifier = (
        verification.PolicyBuilder()
        .store(_ca_store(ca_certificate))
        .time(at)
        .max_chain_depth(CLIENT_CHAIN_MAX)
        .extension_policies(ca_policy=ca_policy, ee_policy=leaf_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, list(chain[1:]))
    except (verification.VerificationError, ValueError) as exc:
        detail = str(exc).split(" (encountered processing", 1)[0]
        raise CertificateProblem(
            "untrusted_certificate", f"is not verified by the connector's CA: {detail}"
        ) from None


def device_certificate_clean(text: str, *, identity: str, ca_certificate: str = "") -> tuple[str, str]:
    """A device certificate given when whitelisting (``auth.key``): one PEM certificate whose CN
    is ``identity``, valid now, verified by ``ca_certificate`` when the connector has one.
    ``(pem, fingerprint)``."""
    certificate = certificate_load(text)
    cn = common_name(certificate)
    if cn != identity:
        raise CertificateProblem(
            "identity_mismatch",
            f"has the CN {cn!r}, not the identity {identity!r}"
            if cn
            else "has no CN (it must be the identity)",
        )
    client_certificate_verify([certificate], ca_certificate=ca_certificate)
    return certificate_pem(certificate), fingerprint(certificate)


# --- CSR signing ------------------------------------------------------------------------------


def csr_load(text: str, *, identity: str) -> x509.CertificateSigningRequest:
    """A CSR submitted for ``identity``: one PEM CSR, its self-signature valid (proof that the
    requester holds the key), a key type we accept, subject CN = ``identity``."""
    blocks = _pem_blocks(text)
    if any("PRIVATE KEY" in block for block in blocks):
        raise CertificateProblem(
            "private_key", "holds a private key; send the certificate signing request only"
        )
    if len(blocks) != 1:
        raise CertificateProblem("malformed_csr", "is not a PEM certificate signing request (CSR)")
    try:
        csr = x509.load_pem_x509_csr(text.strip().encode("ascii"))
        signature_valid = csr.is_signature_valid
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise CertificateProblem("malformed_csr", "is not a PEM certificate signing request (CSR)") from None
    if not signature_valid:
        raise CertificateProblem("bad_csr_signature", "is a CSR whose signature does not verify with its key")
    if (utf8_bytes(identity) or 0) > CN_MAX_BYTES:
        # The issued certificate's CN must be the identity (devices are known by it), and a CN
        # holds at most 64 bytes: such an identity cannot have a certificate.
        raise CertificateProblem(
            "identity_too_long",
            f"cannot be signed: the identity is longer than the {CN_MAX_BYTES} bytes a certificate's CN "
            "may hold (certificate devices need a shorter identity)",
        )
    _public_key(csr)
    cn = common_name(csr)
    if cn != identity:
        raise CertificateProblem(
            "identity_mismatch",
            f"is a CSR for the CN {cn!r}, not for the identity {identity!r}"
            if cn
            else "is a CSR without a CN (it must be the identity)",
        )
    return csr


class CsrSigner(Protocol):
    """Issues a device certificate for a checked CSR. ``ConnectorCaSigner`` (the connector's own
    CA) is the one implementation here; an external PKI vendor (the seeds name DigiCert)
    implements ``sign`` by calling its API and is returned by ``csr_signer``."""

    def sign(self, *, connector, identity: str, csr: x509.CertificateSigningRequest) -> x509.Certificate: ...


def _signature_hash(key):
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()


def subject_alternative_names(*, connector_id: str, identity: str) -> list[x509.GeneralName]:
    """A URI naming the device (``urn:murano:device:<connector>:<identity>``, any identity) and,
    when the identity is DNS-safe, the identity as a DNS name."""
    names: list[x509.GeneralName] = []
    if _DNS_SAFE.match(identity):
        names.append(x509.DNSName(identity))
    names.append(
        x509.UniformResourceIdentifier(f"urn:murano:device:{connector_id}:{quote(identity, safe='')}")
    )
    return names


@dataclass(frozen=True)
class ConnectorCaSigner:
    """Signs with the connector's CA (its private key is decrypted for the signature only)."""

    days: int = DEVICE_CERTIFICATE_DAYS

    def sign(self, *, connector, identity: str, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        from core.crypto import decrypt_secret

        if not (connector.pki_ca_certificate and connector.pki_ca_private_key_encrypted):
            raise SigningUnavailable("the connector has no CA private key to sign with")
        ca = x509.load_pem_x509_certificate(connector.pki_ca_certificate.encode("ascii"))
        try:
            ca_key = serialization.load_pem_private_key(
                decrypt_secret(connector.pki_ca_private_key_encrypted).encode("ascii"), password=None
            )
        except ValueError:
            # Encrypted with a key no longer in SECRETS_ENCRYPTION_KEYS: upload it again.
            raise SigningUnavailable(
                "the CA private key cannot be decrypted with the configured keys"
            ) from None
        start = now()
        end = min(start + dt.timedelta(days=self.days), ca.not_valid_after_utc)
        if end <= start:
            raise SigningUnavailable("the connector's CA has expired")
        public_key = csr.public_key()
        try:
            issuer_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            )
        except x509.ExtensionNotFound:
            issuer_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(start - BACKDATE, ca.not_valid_before_utc))
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(
                    certificate_authority=False, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    subject_alternative_names(connector_id=connector.pk, identity=identity)
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(issuer_key_id, critical=False)
        )
        return builder.sign(ca_key, _signature_hash(ca_key))


def csr_signer(connector) -> CsrSigner:
    """The signer of ``connector``'s CSRs. Only the connector's own CA for now; the place to
    choose a vendor's signer once a connector can name one."""
    return ConnectorCaSigner()


def csr_signing_enabled(connector) -> bool:
    """Whether whitelisting with a CSR (``auth.type = "csr"``) gets a certificate issued. The
    connector's settings make sure a CA and its private key are there when signing is on."""
    return bool(connector.pki_enabled and connector.pki_sign_csr)


def csr_sign(*, connector, identity: str, csr_text: str) -> x509.Certificate:
    """Check a CSR for ``identity`` and have the connector's signer issue its certificate.
    ``SigningUnavailable`` when the connector does not sign CSRs."""
    if not csr_signing_enabled(connector):
        raise SigningUnavailable("CSR signing is not enabled on this connector")
    csr = csr_load(csr_text, identity=identity)
    return csr_signer(connector).sign(connector=connector, identity=identity, csr=csr)
