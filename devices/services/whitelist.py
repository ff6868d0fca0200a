"""Every change to devices, their credentials, tags and state goes through these functions.

The device API, the management API, the Device2 routes, the admin and the CLI all call them, so
each rule (activation, value validation, set/reported, revocation) lives here once.
"""

import ipaddress
import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone

from connectors import pki
from connectors.identity import IdentityType
from connectors.models import AuthType, Connector
from connectors.values import ResourceRules
from devices import credentials, hooks, seen
from devices.errors import DeviceError, DuplicateTimestamps, ProvisionDenied, ValueRejected
from devices.events import EventType, device_wake, event_emit, now_us
from devices.models import Device, DeviceState, DeviceTag, Lifecycle, ValuePoint

# A device's last_seen/last_ip are rewritten at most this often (seconds) under steady traffic.
_SEEN_RESOLUTION = 1.0


def _deny(connector: Connector, *, identity: str, ip: str, connection_id: str, status: int,
          reason: str, message: str) -> ProvisionDenied:  # fmt: skip
    event_emit(
        connector_id=connector.pk, type=EventType.PROVISION_DENIED, identity=identity, ip=ip,
        connection_id=connection_id, payload={"reason": reason, "message": message},
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


def identity_generate(connector: Connector) -> str:
    """A fresh identity in the connector's format (for ``generate_identity``)."""
    fmt = connector.identity_format
    hexdigits = "0123456789abcdef"
    length = fmt.length
    if fmt.type == IdentityType.UUID_V4:
        rest = str(uuid.uuid4())
    elif fmt.type.startswith("mac:"):
        octets = [secrets.choice(hexdigits) + secrets.choice(hexdigits) for _ in range(6)]
        rest = {"mac:colon": ":", "mac:dash": "-", "mac:none": ""}[fmt.type].join(octets)
    elif fmt.type == IdentityType.BASE10:
        rest = "".join(secrets.choice(string.digits) for _ in range(length or 16))
    else:
        rest = "".join(secrets.choice(hexdigits) for _ in range(length or 24))
    rest = rest.upper() if fmt.casing == "upper" else rest
    return fmt.prefix + rest


# The last µs timestamp a date can hold (9999-12-31T23:59:59Z).
MAX_TIMESTAMP_US = 253_402_300_799_000_000


def activation_deadline(connector: Connector, expire_us: int | None):
    if expire_us:
        if not 0 < expire_us <= MAX_TIMESTAMP_US:
            raise ValidationError({"auth": "expire must be a µs timestamp before the year 10000"})
        return datetime.fromtimestamp(expire_us / 1_000_000, tz=UTC)
    return timezone.now() + timedelta(hours=connector.activation_window_hours)


def _check_identity(connector: Connector, identity: str) -> None:
    problem = connector.identity_format.check(identity)
    if problem:
        raise ValidationError({"identity": problem})


def tags_clean(tags) -> list[tuple[str, str]]:
    """``[{"name", "value"}, …]`` as unique (name, value) pairs, trimmed to their columns."""
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise ValidationError({"tags": 'must be a list of {"name", "value"} objects'})
    cleaned = []
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"].strip():
            raise ValidationError({"tags": 'each tag needs a non-empty "name"'})
        value = tag.get("value", "")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValidationError({"tags": f"tag {tag['name']!r}: value must be a string"})
        name, value = tag["name"].strip()[:100], str(value)[:255]
        if (name, value) not in cleaned:
            cleaned.append((name, value))
    return cleaned


def _already_whitelisted() -> ValidationError:
    # A conflict with what exists, not bad input: the APIs answer 409 (core.api.CONFLICT).
    message = "this identity is already whitelisted"
    return ValidationError({"identity": ValidationError(message, code="conflict")})


# ``auth.type`` of a whitelisting that sends a CSR for the connector to sign (Murano's spelling).
CSR = "csr"


def _apply_credentials(device: Device, *, auth_type: str, key: str) -> None:
    """Give ``device`` known credentials (set by a manufacturing process). A token or password
    provisions it; a certificate is pinned instead, and the device provisions on its first
    request with it (a ``provisioned`` event, as with any certificate device)."""
    if auth_type in (AuthType.CERTIFICATE, CSR):
        _pin_certificate(device, auth_type=auth_type, key=key)
        return
    if auth_type == AuthType.TOKEN:
        if not credentials.token_is_well_formed(key):
            raise ValidationError({"auth": "key must be a 40-character hexadecimal token"})
        device.token_hash = credentials.token_hash(key)
        device.password_hash = ""
    elif auth_type == AuthType.PASSWORD:
        if len(key.encode()) < credentials.PASSWORD_MIN_BYTES:
            raise ValidationError({"auth": "password must be at least 20 bytes"})
        device.password_hash = credentials.password_hash(key)
        device.token_hash = None
    else:
        raise ValidationError({"auth": f"type must be one of {', '.join([*AuthType.values, CSR])}"})
    device.auth_type = auth_type
    device.lifecycle = Lifecycle.PROVISIONED
    device.provisioned_at = timezone.now()
    device.activation_deadline = None


def certificate_error(problem: pki.CertificateProblem) -> ValidationError:
    """A certificate given as ``auth.key`` that cannot be pinned, as the ``auth`` error the APIs
    answer ("key has expired"). ``problem`` is kept in the error's params, so that a page can
    say it after the name of its own field."""
    return ValidationError(
        {"auth": ValidationError("key %(problem)s", code=problem.reason, params={"problem": problem.message})}
    )


def _pin_certificate(device: Device, *, auth_type: str, key: str) -> None:
    """Pin the device's certificate: the PEM given (CN = identity, valid, verified by the
    connector's CA when PKI is on), or the one the connector's signer issues for a CSR."""
    connector = device.connector
    try:
        if auth_type == CSR:
            # Refused before anything is signed: no certificate is issued for a whitelisting
            # that cannot happen.
            if Device.objects.filter(connector=connector, identity=device.identity).exists():
                raise _already_whitelisted()
            certificate = pki.csr_sign(connector=connector, identity=device.identity, csr_text=key)
            pem, fingerprint = pki.certificate_pem(certificate), pki.fingerprint(certificate)
        else:
            ca = connector.pki_ca_certificate if connector.pki_enabled else ""
            pem, fingerprint = pki.device_certificate_clean(key, identity=device.identity, ca_certificate=ca)
    except pki.CertificateProblem as exc:
        raise certificate_error(exc) from None
    except pki.SigningUnavailable as exc:
        raise ValidationError({"auth": f"{str(exc)[:1].upper()}{str(exc)[1:]}."}) from None
    device.certificate, device.certificate_fingerprint = pem, fingerprint
    device.auth_type = AuthType.CERTIFICATE


@transaction.atomic
def device_whitelist(
    *,
    connector: Connector,
    identity: str,
    auth_type: str | None = None,
    key: str | None = None,
    expire_us: int | None = None,
    locked: bool = False,
    tags=None,
) -> Device:
    """Whitelist an identity so it may activate within its window (default: the connector's).

    With ``key`` (a known 40-hex token, or a password) the device is provisioned at once. With a
    certificate (``auth_type`` ``certificate``, or ``csr``: a CSR the connector signs) it is
    pinned, and the device provisions within its window on its first request with it.
    """
    _check_identity(connector, identity)
    if auth_type is not None and auth_type not in (*AuthType.values, CSR):
        raise ValidationError({"auth": f"type must be one of {', '.join([*AuthType.values, CSR])}"})
    if auth_type == CSR and not key:
        raise ValidationError({"auth": "key must hold the CSR (PEM) to sign"})
    tag_pairs = tags_clean(tags)
    device = Device(
        connector=connector,
        identity=identity,
        locked=bool(locked),
        activation_deadline=activation_deadline(connector, expire_us),
    )
    if key:
        _apply_credentials(device, auth_type=auth_type or connector.auth_type, key=key)
    elif auth_type:
        # Remembered for the device page; activation follows the connector's auth type.
        device.auth_type = auth_type
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError:
        if Device.objects.filter(connector=connector, identity=identity).exists():
            raise _already_whitelisted() from None
        raise ValidationError({"auth": "this token is already in use"}) from None
    if tag_pairs:
        DeviceTag.objects.bulk_create([DeviceTag.of(device, n, v) for n, v in tag_pairs])
    return device


INSECURE_TRANSPORT_MESSAGE = "HTTPS is required (developer mode is off)"


def transport_allowed(connector: Connector, *, insecure: bool) -> bool:
    """Plain HTTP is accepted only by connectors in developer mode."""
    return connector.devmode or not insecure


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
        connector, identity=identity or "", ip=ip, connection_id=connection_id,
        status=status, reason=reason, message=message,
    )  # fmt: skip
    if not transport_allowed(connector, insecure=insecure):
        raise deny(403, "insecure_transport", INSECURE_TRANSPORT_MESSAGE)
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


def _activatable_sql(qn) -> str:
    """The rule "may activate now", as SQL for the one-statement path: not locked, not
    provisioned, and not a whitelisted identity whose window has passed (``Device.is_expired``).
    ``_activate_or_deny`` states the same rule in Python, to tell a denied device why."""
    return (
        f"NOT {qn('locked')} AND {qn('lifecycle')} <> %s AND NOT ({qn('lifecycle')} = %s "
        f"AND {qn('activation_deadline')} IS NOT NULL AND {qn('activation_deadline')} < %s)"
        # A whitelisted device with a pinned certificate provisions with that certificate only.
        f" AND NOT ({qn('lifecycle')} = '{Lifecycle.WHITELISTED.value}' "
        f"AND {qn('certificate_fingerprint')} <> '')"
    )


def _activate_at_once(connector: Connector, identity: str, issued: dict, *, insecure: bool) -> Device | None:
    """The usual activation in one statement, with no transaction around it: an UPDATE of a
    whitelisted (or reprovision) identity, or an INSERT … ON CONFLICT DO NOTHING of a presented
    one. Both are atomic by themselves, so racing activations of one identity cannot both win.
    None when neither applies: ``_activate_or_deny`` then decides (and explains a denial)."""
    qn = connection.ops.quote_name
    meta = Device._meta
    table = qn(meta.db_table)

    def prep(name, value):
        return meta.get_field(name).get_db_prep_save(value, connection)

    now = prep("provisioned_at", issued["provisioned_at"])
    assignments = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in issued)
    params = [prep(name, value) for name, value in issued.items()]
    sql = (
        f"UPDATE {table} SET {assignments}, {qn('devmode')} = ({qn('devmode')} OR %s) "
        f"WHERE {qn('connector_id')} = %s AND {qn('identity')} = %s AND {_activatable_sql(qn)} "
        f"RETURNING {qn('id')}"
    )
    params += [bool(insecure), connector.pk, identity, Lifecycle.PROVISIONED, Lifecycle.WHITELISTED, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None and (connector.presenter_identity or connector.generate_identity):
            device = Device(connector=connector, identity=identity, devmode=bool(insecure), **issued)
            fields = [f for f in meta.concrete_fields if not f.primary_key]
            columns = ", ".join(qn(f.column) for f in fields)
            values = [f.get_db_prep_save(f.pre_save(device, add=True), connection) for f in fields]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
                f"ON CONFLICT ({qn('connector_id')}, {qn('identity')}) DO NOTHING RETURNING {qn('id')}",
                values,
            )
            row = cursor.fetchone()
    if row is None:
        return None
    return Device(pk=row[0], connector=connector, identity=identity, **issued)


def _presented_device(connector: Connector, identity: str) -> Device:
    """A new device for an identity presented by a device (inside a transaction), locked; when
    a racing first request created it first, that row."""
    device = Device(connector=connector, identity=identity)
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError:
        device = Device.objects.select_for_update().get(connector=connector, identity=identity)
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
        if device.locked:
            raise deny(403, "locked", "device is locked")
        if device.lifecycle == Lifecycle.PROVISIONED:
            raise deny(409, "already_provisioned", "device is already provisioned")
        if device.is_expired:
            raise deny(409, "expired", "activation window has expired")
        if device.lifecycle == Lifecycle.WHITELISTED and device.certificate_fingerprint:
            raise deny(415, "auth_type_mismatch", "this device authenticates with its TLS client certificate")
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
        connector, identity=identity, ip=ip, connection_id=connection_id,
        status=status, reason=reason, message=message,
    )  # fmt: skip
    refuse = lambda reason, message: certificate_refused(  # noqa: E731
        connector_id=connector.pk, identity=identity, ip=ip, connection_id=connection_id,
        reason=reason, message=message, protocol=protocol,
    )  # fmt: skip
    if not transport_allowed(connector, insecure=insecure):
        raise deny(403, "insecure_transport", INSECURE_TRANSPORT_MESSAGE)
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
        if device.locked:
            raise deny(403, "locked", "device is locked")
        if device.lifecycle == Lifecycle.PROVISIONED:
            if device.auth_type == AuthType.CERTIFICATE and pinned == fingerprint:
                return device  # a concurrent first request with this certificate provisioned it
            raise refuse("certificate_mismatch", "the device is provisioned with other credentials")
        if device.lifecycle == Lifecycle.REPROVISION and pinned == fingerprint:
            raise refuse("certificate_revoked", "this certificate was revoked")
        if device.lifecycle == Lifecycle.WHITELISTED and pinned and pinned != fingerprint:
            raise refuse("certificate_mismatch", "the certificate is not the one whitelisted for the device")
        if device.is_expired:
            raise deny(409, "expired", "activation window has expired")
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


def _check_values(values: dict[str, str], rules: dict[str, ResourceRules]) -> None:
    for alias, value in values.items():
        rule = rules.get(alias)
        if rule is not None:
            problem = rule.check(value)
            if problem:
                raise ValueRejected(problem, reason="invalid_value")


_STATE_TABLE = DeviceState._meta.db_table


def _upsert_sql(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int,
                only_if_newer: bool) -> tuple[str, list]:  # fmt: skip
    """One INSERT … ON CONFLICT statement for device-reported values.

    ``rows`` are (alias, value, keeps_pending_set). ``reported`` takes the value. ``set`` takes
    it too, unless the alias keeps a pending cloud set (a settable, synced resource whose set
    differs from reported). One statement, so concurrent cloud sets and device writes cannot
    lose each other's updates.
    """
    t = _STATE_TABLE
    params: list = []
    for alias, value, _ in rows:
        params += [device_id, alias, value, value, timestamp]
    pending_aliases = [alias for alias, _, keeps in rows if keeps]
    if pending_aliases:
        params += pending_aliases
        in_list = ", ".join(["%s"] * len(pending_aliases))
        set_expr = (
            f'CASE WHEN excluded.alias IN ({in_list}) AND {t}."set" IS NOT NULL AND '
            f'({t}.reported IS NULL OR {t}."set" <> {t}.reported) THEN {t}."set" ELSE excluded."set" END'
        )
    else:
        set_expr = 'excluded."set"'
    newer = f" WHERE excluded.timestamp > {t}.timestamp" if only_if_newer else ""
    values_sql = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f'INSERT INTO {t} (device_id, alias, reported, "set", timestamp) VALUES {values_sql} '
        f"ON CONFLICT (device_id, alias) DO UPDATE SET reported = excluded.reported, "
        f'"set" = {set_expr}, timestamp = excluded.timestamp{newer}'
    )
    return sql, params


def _upsert_reported(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int,
                     *, only_if_newer: bool = False) -> None:  # fmt: skip
    if rows:
        sql, params = _upsert_sql(device_id, rows, timestamp, only_if_newer)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


_HISTORY_TABLE = ValuePoint._meta.db_table


def _store_write(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int) -> None:
    """Store a device write: state upsert and history points, all or nothing.

    On PostgreSQL both go in one statement (a data-modifying CTE), which is atomic by itself and
    saves the BEGIN/COMMIT round trips on the device API's hottest path.
    """
    if connection.vendor == "postgresql":
        upsert, params = _upsert_sql(device_id, rows, timestamp, only_if_newer=False)
        history = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        for alias, value, _ in rows:
            params += [device_id, alias, timestamp, value]
        sql = (
            f"WITH upsert AS ({upsert}) INSERT INTO {_HISTORY_TABLE} "
            f"(device_id, alias, timestamp, value) VALUES {history}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    with transaction.atomic():
        _upsert_reported(device_id, rows, timestamp)
        ValuePoint.objects.bulk_create(
            [ValuePoint(device_id=device_id, alias=a, timestamp=timestamp, value=v) for a, v, _ in rows]
        )


def device_write(
    *, device: Device, values: dict[str, str], rules: dict[str, ResourceRules], ip: str = "",
    connection_id: str = "", protocol: str = "http",
) -> None:  # fmt: skip
    """A device writes values. Defined aliases are validated (all or nothing) and stored;
    undefined ones are only reported in the ``data_in`` event."""
    connector_id = device.connector_id
    try:
        _check_values(values, rules)
    except ValueRejected as exc:
        event_emit(
            connector_id=connector_id, type=EventType.WRITE_REJECTED, identity=device.identity,
            ip=ip, protocol=protocol, connection_id=connection_id,
            payload={"reason": exc.message, "values": _preview(values)},
        )  # fmt: skip
        raise
    timestamp = now_us()
    rows = [
        (alias, value, rules[alias].pushes_cloud_values) for alias, value in values.items() if alias in rules
    ]
    if rows:
        _store_write(device.pk, rows, timestamp)
    event_emit(
        connector_id=connector_id, type=EventType.DATA_IN, identity=device.identity, ip=ip,
        protocol=protocol, connection_id=connection_id,
        payload=[{"timestamp": timestamp, "values": _preview(values)}],
        wake_device_id=device.pk if rows else None,
    )  # fmt: skip
    for alias in hooks.value_written.keys & values.keys():
        if alias in rules:  # a defined resource (firmware's otau_in, claiming's pdaas_*)
            hooks.value_written.send(alias, device=device, value=values[alias])


def _preview(values: dict[str, str], limit: int = 1024) -> dict[str, str]:
    # Events are for people watching Logs: long values are cut, not the stored ones.
    return {k: (v if len(v) <= limit else v[:limit] + "…") for k, v in values.items()}


def device_record(
    *, device: Device, series: list[tuple[str, list[tuple[int, str]]]],
    rules: dict[str, ResourceRules], ip: str = "", connection_id: str = "", protocol: str = "http",
) -> None:  # fmt: skip
    """A device records timestamped points (``/onep:v1/stack/record``).

    Every point of a defined alias lands in history; ``reported`` moves only to a point newer
    than the current one. Timestamps repeated within one alias are refused (409).
    """
    merged: dict[str, list[tuple[int, str]]] = {}
    for alias, points in series:
        merged.setdefault(alias, []).extend(points)
    duplicates = {}
    for alias, points in merged.items():
        seen, dup = set(), []
        for ts, _ in points:
            if ts in seen and ts not in dup:
                dup.append(ts)
            seen.add(ts)
        if dup:
            duplicates[alias] = dup
    if duplicates:
        body = "&".join(
            f"{quote(alias, safe='')}=" + ",".join(_format_ts(ts) for ts in stamps)
            for alias, stamps in duplicates.items()
        )
        event_emit(
            connector_id=device.connector_id, type=EventType.WRITE_REJECTED,
            identity=device.identity, ip=ip, protocol=protocol, connection_id=connection_id,
            payload={"reason": f"duplicate timestamps: {body}"},
        )  # fmt: skip
        raise DuplicateTimestamps(body, reason="duplicate_timestamps")
    for alias, points in merged.items():
        rule = rules.get(alias)
        if rule is None:
            continue
        for _, value in points:
            problem = rule.check(value)
            if problem:
                event_emit(
                    connector_id=device.connector_id, type=EventType.WRITE_REJECTED,
                    identity=device.identity, ip=ip, protocol=protocol,
                    connection_id=connection_id, payload={"reason": problem},
                )  # fmt: skip
                raise ValueRejected(problem, reason="invalid_value")
    stored = {a: p for a, p in merged.items() if a in rules and p}
    if stored:
        with transaction.atomic():
            ValuePoint.objects.bulk_create(
                [
                    ValuePoint(device_id=device.pk, alias=alias, timestamp=ts, value=value)
                    for alias, points in stored.items()
                    for ts, value in points
                ],
                batch_size=500,
            )
            for alias, points in stored.items():
                ts, value = max(points, key=lambda p: p[0])
                _upsert_reported(
                    device.pk, [(alias, value, rules[alias].pushes_cloud_values)], ts,
                    only_if_newer=True,
                )  # fmt: skip
    payload = [
        {"timestamp": ts, "values": {alias: value[:1024]}}
        for alias, points in merged.items()
        for ts, value in points[:100]
    ]
    event_emit(
        connector_id=device.connector_id, type=EventType.RECORD, identity=device.identity, ip=ip,
        protocol=protocol, connection_id=connection_id, payload=payload,
        wake_device_id=device.pk if stored else None,
    )  # fmt: skip


def _format_ts(ts_us: int) -> str:
    seconds, micros = divmod(ts_us, 1_000_000)
    return str(seconds) if not micros else f"{seconds}.{micros:06d}".rstrip("0")


def _lock_device(device: Device) -> None:
    """Lock the device's row until the transaction ends, so that a change meeting a delete of
    the device or of its connector (between the caller's lookup and this write) is a "No such
    device" (404), not a write to a row that is gone."""
    if Device.objects.select_for_update().filter(pk=device.pk).values_list("pk", flat=True).first() is None:
        raise Http404("No such device.")


@transaction.atomic
def device_state_set(*, device: Device, values: dict, rules: dict[str, ResourceRules]) -> None:
    """Cloud values for a device (management API, portal). Validated as device writes are.

    Only ``set`` changes for settable, synced resources (the device is expected to acknowledge by
    writing); with ``sync`` off, ``reported`` follows at once. Long polls are woken.
    """
    from connectors.values import cloud_value_to_text

    _lock_device(device)
    if not isinstance(values, dict) or not values:
        raise ValidationError({"detail": "send an object of {alias: value}"})
    texts = {}
    for alias, raw in values.items():
        rule = rules.get(alias)
        if rule is None:
            raise ValidationError({alias: "no such resource"})
        if not rule.settable:
            raise ValidationError({alias: "this resource cannot be set from the cloud"})
        try:
            text = cloud_value_to_text(raw)
        except ValueError as exc:
            raise ValidationError({alias: str(exc)}) from None
        problem = rule.check(text)
        if problem:
            raise ValidationError({alias: problem})
        texts[alias] = text
    timestamp = now_us()
    for alias, text in texts.items():
        if rules[alias].sync:
            DeviceState.objects.update_or_create(
                device=device, alias=alias, defaults={"set": text, "timestamp": timestamp}
            )
        else:
            DeviceState.objects.update_or_create(
                device=device, alias=alias,
                defaults={"set": text, "reported": text, "timestamp": timestamp},
            )  # fmt: skip
            ValuePoint.objects.create(device=device, alias=alias, timestamp=timestamp, value=text)
    transaction.on_commit(lambda: device_wake(device.pk))


@transaction.atomic
def device_update(
    *, device: Device, locked: bool | None = None, expire_us: int | None = None, tags=None,
    certificate: str | None = None,
) -> Device:  # fmt: skip
    """Lock/unlock, move the activation deadline (``expire_us``; 0 revokes), replace tags, pin
    a certificate (``certificate``: a PEM) or clear the pinned one (``certificate=""``); see
    ``_certificate_change``."""
    _lock_device(device)
    fields = []
    if certificate is not None:
        fields += _certificate_change(device, certificate)
    if locked is not None and bool(locked) != device.locked:
        device.locked = bool(locked)
        fields.append("locked")
    if expire_us is not None:
        if expire_us == 0:
            _revoke(device)
            fields += ["lifecycle", "token_hash", "password_hash", "activation_deadline"]
        elif device.lifecycle != Lifecycle.PROVISIONED:
            device.activation_deadline = activation_deadline(device.connector, expire_us)
            fields.append("activation_deadline")
    if fields:
        device.save(update_fields=sorted(set(fields)))
    if tags is not None:
        device_tags_replace(device=device, tags=tags)
    return device


_CERTIFICATE_FIELDS = ["certificate", "certificate_fingerprint", "auth_type"]


def certificate_change_refusal(device: Device, *, clearing: bool = False) -> str | None:
    """Why a certificate cannot be pinned on ``device`` now (or, with ``clearing``, its pinned
    one cleared), or None when it can. Pages ask it to offer only what ``device_update`` does."""
    if device.lifecycle == Lifecycle.PROVISIONED and device.auth_type != AuthType.CERTIFICATE:
        return f"the device is provisioned with a {device.auth_type or 'token'}: revoke its credentials first"
    if clearing and device.lifecycle == Lifecycle.PROVISIONED:
        return "the device is provisioned with this certificate: revoke its credentials instead"
    if clearing and device.lifecycle == Lifecycle.REPROVISION:
        return "this certificate was revoked; it stays pinned so that it cannot provision again"
    return None


def _certificate_change(device: Device, certificate: str) -> list[str]:
    """Pin ``certificate`` on an existing device, replacing the pinned one, or clear the pin
    (``""``). The fields changed.

    Pinning checks the certificate as whitelisting with one does (CN = identity, valid, the
    connector's CA when PKI is on). A whitelisted device then provisions with it only; a
    provisioned certificate device must present it from its next request on; a revoked device
    (``reprovision``) is whitelisted again, within the connector's activation window, for this
    certificate only. A device provisioned with a token or a password is refused: revoking its
    credentials comes first, so that the switch is deliberate.

    Clearing applies to whitelisted devices only: a provisioned device's pin is its credential
    (revoke it instead), and a revoked device's is kept so that the revoked certificate cannot
    provision again.
    """
    # Locked and read again: a first request with a certificate may be provisioning it now.
    device.refresh_from_db(
        from_queryset=Device.objects.select_for_update(),
        fields=["lifecycle", "auth_type", "certificate", "certificate_fingerprint", "activation_deadline"],
    )
    clearing = not certificate.strip()
    if clearing and not device.certificate_fingerprint:
        return []
    refusal = certificate_change_refusal(device, clearing=clearing)
    if refusal:
        raise ValidationError({"auth": refusal})
    if clearing:
        device.certificate, device.certificate_fingerprint = "", ""
        return ["certificate", "certificate_fingerprint"]
    _pin_certificate(device, auth_type=AuthType.CERTIFICATE, key=certificate)
    if device.lifecycle == Lifecycle.REPROVISION:
        device.lifecycle = Lifecycle.WHITELISTED
        device.activation_deadline = activation_deadline(device.connector, None)
        return [*_CERTIFICATE_FIELDS, "lifecycle", "activation_deadline"]
    return _CERTIFICATE_FIELDS


def _revoke(device: Device) -> None:
    device.lifecycle = Lifecycle.REPROVISION
    device.token_hash = None
    device.password_hash = ""
    device.activation_deadline = None


@transaction.atomic
def device_revoke(*, device: Device) -> Device:
    """Revoke the device's credentials; it may activate again (status ``reprovision``)."""
    _revoke(device)
    device.save(update_fields=["lifecycle", "token_hash", "password_hash", "activation_deadline"])
    return device


@transaction.atomic
def device_tags_replace(*, device: Device, tags) -> None:
    pairs = tags_clean(tags)
    DeviceTag.objects.filter(device=device).delete()
    DeviceTag.objects.bulk_create([DeviceTag.of(device, n, v) for n, v in pairs])


def devices_lock(*, connector: Connector) -> None:
    """Lock every device of ``connector`` until the transaction ends, as a delete of the
    connector does first: a change to one of them in flight (``_lock_device``) then commits before
    their rows are collected, and one that comes later finds its device gone. SQLite's
    transactions (``BEGIN IMMEDIATE``) are one at a time already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {Device._meta.db_table} WHERE connector_id = %s "
                "FOR UPDATE) AS locked",
                [connector.pk],
            )


def device_delete(*, device: Device) -> None:
    """Remove a device with its state and history (a ``deleted`` event in Logs)."""
    connector_id, identity = device.connector_id, device.identity
    with transaction.atomic():
        _lock_device(device)
        device.delete()
    event_emit(connector_id=connector_id, type=EventType.DELETED, identity=identity)
