"""How devices come to talk: activation (token or password), first-request provisioning with a
client certificate, and the rules they go by.

The rules "may activate now" and "may talk now" are defined here once (``activatable_sql`` /
``activation_refusal``, ``talk_refusal``); ``devices.auth`` applies them to every device
request, whatever its protocol.
"""

import ipaddress
from contextlib import nullcontext
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from connectors.models import AuthType, Connector
from devices import credentials, hooks, seen
from devices.errors import DeviceError, ProvisionDenied
from devices.events import EventType, event_emit
from devices.models import Device, Lifecycle
from devices.services.whitelist import identity_generate

# A device's last_seen/last_ip are rewritten at most this often (seconds) under steady traffic.
_SEEN_RESOLUTION = 1.0

INSECURE_TRANSPORT_MESSAGE = "HTTPS is required (developer mode is off)"


class Refusal(NamedTuple):
    """Why a device may not do what it asks: the status it gets, a machine-readable reason (in
    the event Logs shows) and the message. A ``401`` says the credential itself is not accepted
    (an ``auth_failed`` event, ``unauthorized``); any other status is a denial."""

    status: int
    reason: str
    message: str


LOCKED = Refusal(403, "locked", "device is locked")
INSECURE_TRANSPORT = Refusal(403, "insecure_transport", INSECURE_TRANSPORT_MESSAGE)
ALREADY_PROVISIONED = Refusal(409, "already_provisioned", "device is already provisioned")
EXPIRED = Refusal(409, "expired", "activation window has expired")


def transport_allowed(connector: Connector, *, insecure: bool) -> bool:
    """Plain HTTP is accepted only by connectors in developer mode."""
    return connector.devmode or not insecure


def protocol_refusal(connector: Connector, *, protocol: str) -> Refusal | None:
    """The connector's ``transports`` setting: its devices may use only the transports it lists
    (``http``, ``mqtt``); any other ``protocol`` is refused."""
    if protocol in connector.transports:
        return None
    return Refusal(403, "transport_not_allowed", f"{protocol} is not allowed for this connector's devices")


def talk_refusal(device: Device, *, insecure: bool, protocol: str = "http") -> Refusal | None:
    """The rule "may talk now", for every request of an authenticated device whatever its
    credentials or protocol: not locked, over TLS unless its connector is in developer mode, and
    over a transport its connector allows (in this order: a locked device hears that it is
    locked)."""
    if device.locked:
        return LOCKED
    if not transport_allowed(device.connector, insecure=insecure):
        return INSECURE_TRANSPORT
    return protocol_refusal(device.connector, protocol=protocol)


def activatable_sql(qn, now) -> tuple[str, list]:
    """The rule "may activate now" as a SQL condition (and its parameters) on the device's row,
    for the one-statement activation (``_activate_at_once``). It is ``activation_refusal``
    without a certificate, the same rule: not locked, not provisioned, not a whitelisted
    identity whose window has passed (``Device.is_expired``), and not a whitelisted device
    with a pinned certificate (which provisions with that certificate only). Change both."""
    sql = (
        f"NOT {qn('locked')} AND {qn('lifecycle')} <> %s AND NOT ({qn('lifecycle')} = %s "
        f"AND {qn('activation_deadline')} IS NOT NULL AND {qn('activation_deadline')} < %s)"
        f" AND NOT ({qn('lifecycle')} = %s AND {qn('certificate_fingerprint')} <> '')"
    )
    return sql, [Lifecycle.PROVISIONED, Lifecycle.WHITELISTED, now, Lifecycle.WHITELISTED]


def activation_refusal(device: Device, *, fingerprint: str | None = None) -> Refusal | None:
    """The rule "may activate now" in Python, naming the reason of a denial; ``activatable_sql``
    is the same rule for the one-statement path. Change both.

    ``fingerprint``: the client certificate the device provisions with. Its pinned certificate
    is then the credential: a whitelisted device provisions with that one only, and a revoked
    device (``reprovision``) never with the revoked one (``401`` refusals). A
    provisioned device is ``ALREADY_PROVISIONED`` either way; the certificate path tells a
    racing first request with the same certificate from a mismatch itself.
    """
    if device.locked:
        return LOCKED
    if device.lifecycle == Lifecycle.PROVISIONED:
        return ALREADY_PROVISIONED
    pinned = device.certificate_fingerprint
    if fingerprint is not None:
        if device.lifecycle == Lifecycle.REPROVISION and pinned == fingerprint:
            return Refusal(401, "certificate_revoked", "this certificate was revoked")
        if device.lifecycle == Lifecycle.WHITELISTED and pinned and pinned != fingerprint:
            return Refusal(
                401, "certificate_mismatch", "the certificate is not the one whitelisted for the device"
            )
    if device.is_expired:
        return EXPIRED
    if fingerprint is None and device.lifecycle == Lifecycle.WHITELISTED and pinned:
        return Refusal(415, "auth_type_mismatch", "this device authenticates with its TLS client certificate")
    return None


def _deny(connector: Connector, *, identity: str, ip: str, connection_id: str, protocol: str,
          status: int, reason: str, message: str) -> ProvisionDenied:  # fmt: skip
    event_emit(
        connector_id=connector.pk, type=EventType.PROVISION_DENIED, identity=identity, ip=ip,
        protocol=protocol, connection_id=connection_id, payload={"reason": reason, "message": message},
    )  # fmt: skip
    return ProvisionDenied(message, status=status, reason=reason)


def _ip_allowed(connector: Connector, ip: str) -> bool:
    if not connector.ip_whitelisting_enabled:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in connector.ip_whitelist:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def device_activate(
    *, connector: Connector, identity: str | None, password: str | None, ip: str,
    connection_id: str = "", protocol: str = "http", insecure: bool = False,
) -> tuple[Device, str | None]:  # fmt: skip
    """Provision credentials for a device (``POST /provision/activate``).

    Returns the device and its new token (None for password auth). Raises ``ProvisionDenied``
    with the status of the provisioning table; every denial is a ``provision_denied`` event.
    ``insecure``: the request came over a transport without TLS (allowed only in devmode).
    """
    deny = lambda status, reason, message: _deny(  # noqa: E731
        connector, identity=identity or "", ip=ip, connection_id=connection_id, protocol=protocol,
        status=status, reason=reason, message=message,
    )  # fmt: skip
    if not transport_allowed(connector, insecure=insecure):
        raise deny(*INSECURE_TRANSPORT)
    if refusal := protocol_refusal(connector, protocol=protocol):
        raise deny(*refusal)
    auth_type = connector.auth_type
    if auth_type == AuthType.CERTIFICATE:
        raise deny(415, "auth_type_mismatch", "this connector authenticates devices by certificate")
    if password is not None and auth_type != AuthType.PASSWORD:
        raise deny(415, "auth_type_mismatch", "this connector does not use password authentication")
    if password is None and auth_type == AuthType.PASSWORD:
        raise deny(415, "auth_type_mismatch", "this connector needs a password to activate")
    if password is not None and len(password.encode()) < credentials.PASSWORD_MIN_BYTES:
        raise deny(415, "password_too_short", "password must be at least 20 bytes")
    if not identity:
        if not connector.generate_identity:
            raise deny(400, "missing_identity", "id is required")
        identity = identity_generate(connector)
    problem = connector.identity_format.check(identity)
    if problem:
        raise deny(404, "identity_format", problem)
    if not connector.provisioning_enabled:
        raise deny(403, "provisioning_disabled", "provisioning is disabled on this connector")

    now = timezone.now()
    issued = {
        "auth_type": auth_type,
        "lifecycle": Lifecycle.PROVISIONED,
        "activation_deadline": None,
        "provisioned_at": now,
        "last_ip": ip or None,
        "last_seen": now,
    }
    token = credentials.token_new() if auth_type == AuthType.TOKEN else None
    device = None
    if token is not None and _ip_allowed(connector, ip):
        # Passwords take the careful path: their hash costs more than the round trips saved,
        # and is computed only once the device may activate.
        issued.update(token_hash=credentials.token_hash(token), password_hash="")
        device = _activate_at_once(connector, identity, issued, insecure=insecure)
    if device is None:
        device = _activate_or_deny(
            connector, identity, issued, token=token, password=password, insecure=insecure,
            deny=deny, ip=ip,
        )  # fmt: skip
    event_emit(
        connector_id=connector.pk, type=EventType.PROVISIONED, identity=identity, ip=ip,
        protocol=protocol, connection_id=connection_id, payload={"auth_type": auth_type},
    )  # fmt: skip
    return device, token


def _activate_at_once(connector: Connector, identity: str, issued: dict, *, insecure: bool) -> Device | None:
    """The usual activation in one statement, with no transaction around it: an UPDATE of a
    whitelisted (or reprovision) identity, or an INSERT … ON CONFLICT DO NOTHING of a presented
    one. Both are atomic by themselves, so racing activations of one identity cannot both win.
    None when neither applies: ``_activate_or_deny`` then decides (and explains a denial).
    Both apply the rule "may activate now" (``activatable_sql`` here, ``activation_refusal``
    there)."""
    qn = connection.ops.quote_name
    meta = Device._meta
    table = qn(meta.db_table)

    def prep(name, value):
        return meta.get_field(name).get_db_prep_save(value, connection)

    now = prep("provisioned_at", issued["provisioned_at"])
    assignments = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in issued)
    params = [prep(name, value) for name, value in issued.items()]
    activatable, activatable_params = activatable_sql(qn, now)
    sql = (
        f"UPDATE {table} SET {assignments}, {qn('devmode')} = ({qn('devmode')} OR %s) "
        f"WHERE {qn('connector_id')} = %s AND {qn('identity')} = %s AND {activatable} "
        f"RETURNING {qn('id')}"
    )
    params += [bool(insecure), connector.pk, identity, *activatable_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None and (connector.presenter_identity or connector.generate_identity):
            device = Device(connector=connector, identity=identity, devmode=bool(insecure), **issued)
            fields = [f for f in meta.concrete_fields if not f.primary_key]
            columns = ", ".join(qn(f.column) for f in fields)
            values = [f.get_db_prep_save(f.pre_save(device, add=True), connection) for f in fields]
            # A new device: its receivers (a claiming connector's default claim code) write with
            # it, in one transaction; other connectors keep the single statement.
            with transaction.atomic() if connector.claiming_enabled else nullcontext():
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
                    f"ON CONFLICT ({qn('connector_id')}, {qn('identity')}) DO NOTHING RETURNING {qn('id')}",
                    values,
                )
                row = cursor.fetchone()
                if row is not None:
                    device.pk = row[0]
                    hooks.devices_added.send(connector=connector, devices=[device])
    if row is None:
        return None
    return Device(pk=row[0], connector=connector, identity=identity, **issued)


def _presented_device(connector: Connector, identity: str) -> Device:
    """A new device for an identity presented by a device (inside a transaction), locked; when
    a racing first request created it first, that row. A device created here is "added"
    (``devices.hooks.devices_added``, in the caller's transaction)."""
    device = Device(connector=connector, identity=identity)
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError:
        return Device.objects.select_for_update().get(connector=connector, identity=identity)
    hooks.devices_added.send(connector=connector, devices=[device])
    return device


def _activate_or_deny(connector: Connector, identity: str, issued: dict, *, token: str | None,
                      password: str | None, insecure: bool, deny, ip: str) -> Device:  # fmt: skip
    """Activation with the device locked, checking each condition in turn so that a denial
    names its reason (and a racing first activation of a presented identity is settled)."""
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(connector=connector, identity=identity).first()
        if device is None:
            if not (connector.presenter_identity or connector.generate_identity):
                raise deny(404, "not_whitelisted", "identity is not whitelisted")
            device = _presented_device(connector, identity)
        refusal = activation_refusal(device)
        if refusal is not None:
            raise deny(*refusal)
        if not _ip_allowed(connector, ip):
            raise deny(403, "ip_not_allowed", f"{ip} is not in the connector's IP whitelist")
        if token is not None:
            issued.update(token_hash=credentials.token_hash(token), password_hash="")
        else:
            issued.update(token_hash=None, password_hash=credentials.password_hash(password))
        for name, value in issued.items():
            setattr(device, name, value)
        # Credentials issued over plain HTTP are not secure: flag the device (devmode).
        device.devmode = device.devmode or insecure
        device.save(update_fields=[*issued, "devmode"])
    return device


def certificate_refused(*, connector_id: str, identity: str, ip: str, connection_id: str, reason: str,
                        message: str, status: int = 401, protocol: str = "http") -> DeviceError:  # fmt: skip
    """A device's client certificate is not accepted: an ``auth_failed`` event saying why (for
    Logs), and the error to raise (``401 unauthorized`` unless ``status`` says otherwise)."""
    event_emit(
        connector_id=connector_id, type=EventType.AUTH_FAILED, identity=identity, ip=ip,
        protocol=protocol, connection_id=connection_id, payload={"reason": reason, "message": message},
    )  # fmt: skip
    return DeviceError("unauthorized" if status == 401 else message, status=status, reason=reason)


def device_certificate_provision(
    *, connector: Connector, identity: str, certificate: str, fingerprint: str, ip: str,
    connection_id: str = "", protocol: str = "http", insecure: bool = False,
) -> Device:  # fmt: skip
    """Provision ``identity`` with the TLS client certificate it presented. Certificate devices
    make no activation call: their first request provisions them (a ``provisioned`` event; the
    request's own event follows) and pins the certificate, which later requests must present.

    The caller has checked the certificate itself (CN = ``identity`` in the connector's format,
    validity dates, the connector's CA when PKI is on). Here the device decides: a whitelisted
    one provisions with its pinned certificate only (set when whitelisting or by the bulk CSV),
    or with any when none is pinned; a new identity needs presenter identity and a certificate
    connector; a revoked device (``reprovision``) may come back with another certificate, never
    with the revoked one. Refusals are activation's (``provision_denied``, with the statuses of
    the provisioning table) or ``401`` (``auth_failed``) for the wrong certificate.
    """
    deny = lambda status, reason, message: _deny(  # noqa: E731
        connector, identity=identity, ip=ip, connection_id=connection_id, protocol=protocol,
        status=status, reason=reason, message=message,
    )  # fmt: skip
    refuse = lambda reason, message: certificate_refused(  # noqa: E731
        connector_id=connector.pk, identity=identity, ip=ip, connection_id=connection_id,
        reason=reason, message=message, protocol=protocol,
    )  # fmt: skip
    if not transport_allowed(connector, insecure=insecure):
        raise deny(*INSECURE_TRANSPORT)
    if refusal := protocol_refusal(connector, protocol=protocol):
        raise deny(*refusal)
    if not connector.provisioning_enabled:
        raise deny(403, "provisioning_disabled", "provisioning is disabled on this connector")
    with transaction.atomic():
        # Locked, so that of two first requests with different certificates one pins and the
        # other is refused.
        device = Device.objects.select_for_update().filter(connector=connector, identity=identity).first()
        if device is None:
            if not connector.presenter_identity:
                raise deny(404, "not_whitelisted", "identity is not whitelisted")
            if connector.auth_type != AuthType.CERTIFICATE:
                raise deny(
                    415, "auth_type_mismatch", "this connector does not use certificate authentication"
                )
            device = _presented_device(connector, identity)
        device.connector = connector
        pinned = device.certificate_fingerprint
        refusal = activation_refusal(device, fingerprint=fingerprint)
        if refusal is ALREADY_PROVISIONED:
            if device.auth_type == AuthType.CERTIFICATE and pinned == fingerprint:
                return device  # a concurrent first request with this certificate provisioned it
            raise refuse("certificate_mismatch", "the device is provisioned with other credentials")
        if refusal is not None:
            raise refuse(refusal.reason, refusal.message) if refusal.status == 401 else deny(*refusal)
        if not pinned and AuthType.CERTIFICATE not in (device.auth_type, connector.auth_type):
            raise deny(415, "auth_type_mismatch", "this device does not use certificate authentication")
        if not _ip_allowed(connector, ip):
            raise deny(403, "ip_not_allowed", f"{ip} is not in the connector's IP whitelist")
        now = timezone.now()
        issued = {
            "auth_type": AuthType.CERTIFICATE, "lifecycle": Lifecycle.PROVISIONED,
            "certificate": certificate, "certificate_fingerprint": fingerprint, "token_hash": None,
            "password_hash": "", "activation_deadline": None, "provisioned_at": now,
            "last_ip": ip or None, "last_seen": now, "devmode": device.devmode or insecure,
        }  # fmt: skip
        for name, value in issued.items():
            setattr(device, name, value)
        device.save(update_fields=list(issued))
    event_emit(
        connector_id=connector.pk, type=EventType.PROVISIONED, identity=identity, ip=ip,
        protocol=protocol, connection_id=connection_id,
        payload={"auth_type": AuthType.CERTIFICATE.value, "fingerprint": fingerprint},
    )  # fmt: skip
    return device


def device_seen(device: Device, *, ip: str, insecure: bool) -> None:
    """Note where and when an authenticated device was last seen (and devmode use).

    Last seen/IP go through the batching recorder (``devices.seen``); devmode, a security flag
    people act on, is written at once."""
    if insecure and not device.devmode:
        Device.objects.filter(pk=device.pk).update(devmode=True)
        device.devmode = True
    now = timezone.now()
    moved = bool(ip) and device.last_ip != ip
    if moved or device.last_seen is None or (now - device.last_seen).total_seconds() >= _SEEN_RESOLUTION:
        seen.recorder.record(device.pk, now, ip or None)
        device.last_seen = now
        if moved:
            device.last_ip = ip
