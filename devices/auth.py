"""Device authentication: may this device talk, decided in one place for every protocol.

A device names itself with a token (``X-Exosite-CIK``), an identity and password (HTTP Basic;
an MQTT username and password), or a TLS client certificate forwarded by a trusted proxy. The
server adapter reads them into a ``DeviceCredentials`` and calls ``device_authenticate``, which
answers the device or raises ``DeviceError`` with the status and message the device gets. Every
refusal is an event in Logs: ``auth_failed`` with its reason, ``locked_denied``, or activation's
``provision_denied`` when a certificate's first request cannot provision.

The rules applied here are defined once in ``devices.services.provisioning``: "may talk now"
(``talk_refusal``: lock, then TLS, then the connector's transports) for every authenticated
request, and "may activate now" (``activation_refusal``) for a certificate's first request.
Framework-free: no request object, only values.
"""

from dataclasses import dataclass

from connectors import pki
from connectors.identity import IDENTITY_MAX_LENGTH, IdentityFormat
from connectors.models import AuthType
from devices import credentials as device_credentials
from devices import services, throttle
from devices.errors import DeviceError, ProvisionDenied
from devices.events import EventType, event_emit
from devices.models import Device, Lifecycle
from devices.selectors import connector_find, device_find, device_for_token, devices_find


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a device request brings to prove who it is, and where it comes from.

    At most one credential is used, in this order: ``token``, then ``basic``, then
    ``client_certificate``. ``unreadable``: the request carried a password credential that could
    not be read (e.g. ``malformed_authorization``), the reason of the ``auth_failed`` event.
    """

    connector_id: str
    ip: str
    token: str | None = None
    # "<identity>:<password>" (identities may contain colons: every split is tried).
    basic: str | None = None
    # The client certificate chain (PEM) a trusted proxy forwarded.
    client_certificate: str | None = None
    unreadable: str = ""
    # The request came over a transport without TLS (accepted only by connectors in devmode).
    insecure: bool = False
    connection_id: str = ""
    protocol: str = "http"


def device_authenticate(credentials: DeviceCredentials) -> Device:
    """The device behind ``credentials``, allowed to talk now (not locked, over TLS unless its
    connector is in developer mode, over a transport its connector allows), its sighting
    recorded. A client certificate's first request provisions the device. Raises
    ``DeviceError`` (``throttle.Throttled`` for password guessing)."""
    device, _ = _authenticate(credentials, ())
    return device


def device_authenticate_for_read(
    credentials: DeviceCredentials, read_aliases: list[str]
) -> tuple[Device, dict | None]:
    """``device_authenticate``, and the state rows of ``read_aliases`` when the token lookup
    loaded them with the device (else None: ``selectors.device_read`` loads them), which saves
    a round trip on every device read."""
    return _authenticate(credentials, read_aliases)


def _authenticate(credentials: DeviceCredentials, read_aliases) -> tuple[Device, dict | None]:
    states = None
    if credentials.token is not None:
        token = credentials.token.strip()
        if not device_credentials.token_is_well_formed(token):
            raise _auth_failed(credentials, "malformed_token")
        device, states = device_for_token(device_credentials.token_hash(token), read_aliases=read_aliases)
        if device is None or device.connector_id != credentials.connector_id:
            raise _auth_failed(credentials, "unknown_token")
    elif credentials.unreadable:
        raise _auth_failed(credentials, credentials.unreadable)
    elif credentials.basic is not None:
        device, identity = _password_device(credentials, credentials.basic)
        if device is None:
            raise _auth_failed(credentials, "bad_password", identity)
    elif credentials.client_certificate is not None:
        device = _certificate_device(credentials)
    else:
        raise _auth_failed(credentials, "no_credentials")
    device_may_talk(device, credentials)
    services.device_seen(device, ip=credentials.ip, insecure=credentials.insecure)
    return device, states if read_aliases else None


def token_connector(token: str) -> str | None:
    """The connector of the device holding ``token``, or None (a connection that named no
    connector: an MQTT connection without a TLS server name)."""
    token = token.strip()
    if not device_credentials.token_is_well_formed(token):
        return None
    device, _ = device_for_token(device_credentials.token_hash(token))
    return device.connector_id if device is not None else None


def device_may_talk(device: Device, credentials: DeviceCredentials) -> None:
    """The rule "may talk now" (``services.talk_refusal``) for an identified device: raises
    ``DeviceError`` with its event in Logs (``locked_denied``, or ``auth_failed`` saying how it
    came: plain HTTP, a transport its connector does not allow). Also what a long-lived
    connection (MQTT) re-checks while it lasts."""
    refusal = services.talk_refusal(device, insecure=credentials.insecure, protocol=credentials.protocol)
    if refusal == services.LOCKED:
        event_emit(
            connector_id=device.connector_id, type=EventType.LOCKED_DENIED, identity=device.identity,
            ip=credentials.ip, protocol=credentials.protocol, connection_id=credentials.connection_id,
        )  # fmt: skip
        raise DeviceError(refusal.message, status=refusal.status, reason=refusal.reason)
    if refusal is not None:
        # Not the device's credentials but how it came (plain HTTP, a transport its connector
        # does not allow): an ``auth_failed`` event all the same, so that Logs says why.
        raise _auth_failed(
            credentials, refusal.reason, device.identity,
            DeviceError(refusal.message, status=refusal.status, reason=refusal.reason),
        )  # fmt: skip


def _auth_failed(
    credentials: DeviceCredentials, reason: str, identity: str = "", error: DeviceError | None = None
) -> DeviceError:
    """An ``auth_failed`` event saying why, and the error to raise (``401`` unless given)."""
    event_emit(
        connector_id=credentials.connector_id, type=EventType.AUTH_FAILED, identity=identity,
        ip=credentials.ip, protocol=credentials.protocol, connection_id=credentials.connection_id,
        payload={"reason": reason},
    )  # fmt: skip
    return error or DeviceError("unauthorized", status=401)


def _password_device(credentials: DeviceCredentials, basic: str) -> tuple[Device | None, str]:
    """The device named by ``<identity>:<password>`` if its password matches, and the identity
    the request named (for the Logs).

    Identities may contain colons (``mac:colon``, opaque ones), so every colon is a possible
    split; only identities that exist in the connector are tried, longest first. Throttled
    (``devices.throttle``) per identity and address before any hashing; an identity that does
    not exist costs a hash all the same, so that the time of a refusal does not tell.
    """
    connector_id, ip = credentials.connector_id, credentials.ip
    splits = {}
    # No identity is longer than IDENTITY_MAX_LENGTH or contains a NUL (which the database
    # would refuse even in a query).
    head = basic[: IDENTITY_MAX_LENGTH + 1].partition("\x00")[0]
    for index, char in enumerate(head):
        if char == ":" and index:
            splits[basic[:index]] = basic[index + 1 :]
    candidates = sorted(
        devices_find(connector_id=connector_id, identities=list(splits)), key=lambda d: -len(d.identity)
    )
    named = candidates[0].identity if candidates else basic.partition(":")[0]
    try:
        throttle.password_attempt_check(connector_id=connector_id, identity=named, ip=ip)
    except throttle.Throttled as exc:
        raise _auth_failed(credentials, exc.reason, named, exc) from None
    for device in candidates:
        if device_credentials.password_matches(
            device_id=device.pk, password=splits[device.identity], stored_hash=device.password_hash
        ):
            return device, device.identity
    if not candidates:
        device_credentials.password_check_dummy(basic.partition(":")[2])
    throttle.password_failure_record(connector_id=connector_id, identity=named, ip=ip)
    return None, named


def _certificate_device(credentials: DeviceCredentials) -> Device:
    """The device named by the TLS client certificate a trusted proxy forwarded: identity = the
    subject's CN, in the connector's identity format. The certificate is checked here, whatever
    the proxy thought of it: validity dates, usable for client authentication, and with PKI on,
    a chain to the connector's CA. A provisioned device must present its pinned certificate; any
    other device provisions with this one (``services.device_certificate_provision``)."""

    def refuse(problem: pki.CertificateProblem, identity: str = "", status: int = 401) -> DeviceError:
        return services.certificate_refused(
            connector_id=credentials.connector_id, identity=identity, ip=credentials.ip,
            connection_id=credentials.connection_id, reason=problem.reason,
            message=f"client certificate {problem.message}", status=status, protocol=credentials.protocol,
        )  # fmt: skip

    try:
        chain = pki.client_chain_load(credentials.client_certificate)
    except pki.CertificateProblem as problem:
        raise refuse(problem, status=400) from None
    leaf = chain[0]
    identity = pki.common_name(leaf) or ""
    # Any connector's rules first (length, characters): only then may it reach the database.
    unfit = IdentityFormat().check(identity) if identity else "is missing (it must be the identity)"
    if unfit:
        raise refuse(
            pki.CertificateProblem("identity_format", f"CN: {unfit}"), identity[:IDENTITY_MAX_LENGTH]
        )
    device = device_find(connector_id=credentials.connector_id, identity=identity)
    connector = device.connector if device else connector_find(credentials.connector_id)
    if connector is None:
        raise DeviceError("unknown connector host", status=404)
    # The connector's format decides which identities may provision; a device provisioned under
    # an earlier format keeps working, as token and password devices do.
    provisioned = device is not None and device.lifecycle == Lifecycle.PROVISIONED
    unfit = None if provisioned else connector.identity_format.check(identity)
    if unfit:
        raise refuse(pki.CertificateProblem("identity_format", f"CN: {unfit}"), identity)
    try:
        pki.client_certificate_verify(
            chain, ca_certificate=connector.pki_ca_certificate if connector.pki_enabled else ""
        )
    except pki.CertificateProblem as problem:
        raise refuse(problem, identity) from None
    fingerprint = pki.fingerprint(leaf)
    if provisioned:
        if device.auth_type != AuthType.CERTIFICATE:
            raise refuse(
                pki.CertificateProblem("auth_type_mismatch", "is not how this device authenticates"), identity
            )
        if device.certificate_fingerprint != fingerprint:
            raise refuse(
                pki.CertificateProblem("certificate_mismatch", "is not the device's pinned certificate"),
                identity,
            )
        return device
    return services.device_certificate_provision(
        connector=connector, identity=identity, certificate=pki.certificate_pem(leaf),
        fingerprint=fingerprint, ip=credentials.ip, connection_id=credentials.connection_id,
        protocol=credentials.protocol, insecure=credentials.insecure,
    )  # fmt: skip


def device_activate_request(
    *, connector_id: str, identity: str | None, password: str | None, ip: str, insecure: bool,
    connection_id: str = "", protocol: str = "http",
) -> tuple[Device, str | None]:  # fmt: skip
    """A device asks to activate (``POST /provision/activate``): ``services.device_activate``
    for the connector, throttled on a password connector like wrong passwords, since denied
    activations are how one learns which identities exist and where they stand. The device and
    its new token (None for a password). Raises ``DeviceError`` (404 for an unknown connector),
    ``ProvisionDenied`` or ``throttle.Throttled`` (a ``provision_denied`` event either way)."""
    connector = connector_find(connector_id)
    if connector is None:
        raise DeviceError("unknown connector host", status=404)
    guarded = connector.auth_type == AuthType.PASSWORD
    if guarded:
        try:
            throttle.password_attempt_check(connector_id=connector.pk, identity=identity, ip=ip)
        except throttle.Throttled as exc:
            event_emit(
                connector_id=connector.pk, type=EventType.PROVISION_DENIED, identity=identity or "",
                ip=ip, protocol=protocol, connection_id=connection_id,
                payload={"reason": exc.reason, "message": exc.message},
            )  # fmt: skip
            raise
    # The transport and a missing id are the service's to judge: denials with their events
    # (unless the connector generates identities).
    try:
        return services.device_activate(
            connector=connector, identity=identity, password=password, ip=ip,
            connection_id=connection_id, protocol=protocol, insecure=insecure,
        )  # fmt: skip
    except ProvisionDenied:
        if guarded:
            throttle.password_failure_record(connector_id=connector.pk, identity=identity, ip=ip)
        raise
