"""Whitelisting and the device record people manage: identities, credentials set by a
manufacturing process, pinned certificates, lock, activation window, tags, revocation, deletion.

The management API, the Device2 routes, the UI, the admin, the CLI and the CSV import all call
these, so each rule lives here once.
"""

import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from connectors import pki
from connectors.identity import IdentityType
from connectors.models import AuthType, Connector
from core.db import row_lock
from devices import credentials, hooks
from devices.events import EventType, event_emit
from devices.models import Device, DeviceState, DeviceTag, Lifecycle
from devices.services.history import history_forget_devices


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
    hooks.devices_added.send(connector=connector, devices=[device])
    return device


def devices_add_external(
    *, connector: Connector, devices: list[tuple[str, list[tuple[str, str]]]], auth_type: str,
    states: dict[str, str] | None = None,
) -> list[Device]:  # fmt: skip
    """Devices that stand for things another system reaches (an integration's assets): created
    provisioned, with no device credentials (``auth_type`` says why), so no one can activate
    them; ``devices`` is ``[(identity, [(tag name, value), …])]``, identities checked against the
    connector's format by the caller. ``states`` are cloud values (``set``) their first state
    takes. Identities that exist already are left alone (another writer got there first);
    returns the devices created, which are "added" (``devices.hooks.devices_added``)."""
    if not devices:
        return []
    identities = [identity for identity, _ in devices]
    before = set(
        Device.objects.filter(connector=connector, identity__in=identities).values_list("identity", flat=True)
    )
    now = timezone.now()
    with transaction.atomic():
        Device.objects.bulk_create(
            [
                Device(
                    connector=connector,
                    identity=identity,
                    auth_type=auth_type,
                    lifecycle=Lifecycle.PROVISIONED,
                    provisioned_at=now,
                    activation_deadline=None,
                )  # fmt: skip
                for identity in identities
                if identity not in before
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        created = list(
            Device.objects.filter(
                connector=connector, identity__in=[i for i in identities if i not in before]
            ).filter(provisioned_at=now, auth_type=auth_type)
        )
        by_identity = {device.identity: device for device in created}
        tags = [
            DeviceTag.of(by_identity[identity], name, value)
            for identity, pairs in devices
            if identity in by_identity
            for name, value in pairs
        ]
        DeviceTag.objects.bulk_create(tags, batch_size=2000, ignore_conflicts=True)
        if states:
            device_states_initialise(devices=created, values=states)
        if created:
            hooks.devices_added.send(connector=connector, devices=created)
    return created


def device_states_initialise(*, devices: list[Device], values: dict[str, str]) -> None:
    """Give ``devices`` these cloud values (``set``) for the aliases they have no state of yet
    (an integration's ``config_io``); a state a device already has, even an empty one, is left as
    it is. No wake: the devices are not listening for values they never had."""
    stamp = int(timezone.now().timestamp() * 1_000_000)
    DeviceState.objects.bulk_create(
        [
            DeviceState(device=device, alias=alias, set=value, timestamp=stamp)
            for device in devices
            for alias, value in values.items()
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )


def device_row_lock(device: Device) -> None:
    """Lock the device's row until the transaction ends, so that a change meeting a delete of
    the device or of its connector (between the caller's lookup and this write) is a "No such
    device" (404), not a write to a row that is gone."""
    row_lock(device, missing="No such device.")


@transaction.atomic
def device_update(
    *, device: Device, locked: bool | None = None, expire_us: int | None = None, tags=None,
    certificate: str | None = None,
) -> Device:  # fmt: skip
    """Lock/unlock, move the activation deadline (``expire_us``; 0 revokes), replace tags, pin
    a certificate (``certificate``: a PEM) or clear the pinned one (``certificate=""``); see
    ``_certificate_change``."""
    device_row_lock(device)
    fields = []
    if certificate is not None:
        fields += _certificate_change(device, certificate)
    if locked is not None and bool(locked) != device.locked:
        device.locked = bool(locked)
        fields.append("locked")
    if expire_us is not None:
        if expire_us == 0:
            _revoke(device)
            fields += list(REVOKED)
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


# What revoking a device's credentials sets (status ``reprovision``: it may activate again): one
# device's (``device_revoke``) or many at once (``devices.services.bulk``).
REVOKED = {
    "lifecycle": Lifecycle.REPROVISION,
    "token_hash": None,
    "password_hash": "",
    "activation_deadline": None,
}


def _revoke(device: Device) -> None:
    for field, value in REVOKED.items():
        setattr(device, field, value)


@transaction.atomic
def device_revoke(*, device: Device) -> Device:
    """Revoke the device's credentials; it may activate again (status ``reprovision``)."""
    _revoke(device)
    device.save(update_fields=list(REVOKED))
    return device


@transaction.atomic
def device_tags_replace(*, device: Device, tags) -> None:
    pairs = tags_clean(tags)
    DeviceTag.objects.filter(device=device).delete()
    DeviceTag.objects.bulk_create([DeviceTag.of(device, n, v) for n, v in pairs])


def devices_tag_set(*, connector: Connector, name: str, value: str, devices: set[int]) -> tuple[int, int]:
    """Exactly the connector's ``devices`` (ids) carry the tag ``name=value`` afterwards: it is
    added where missing and removed from the others. Returns ``(added, removed)``."""
    tagged = set(
        DeviceTag.objects.filter(connector=connector, name=name, value=value).values_list(
            "device_id", flat=True
        )
    )
    add, remove = devices - tagged, tagged - devices
    with transaction.atomic():
        for start in range(0, len(remove), 1000):
            chunk = sorted(remove)[start : start + 1000]
            DeviceTag.objects.filter(
                connector=connector, name=name, value=value, device_id__in=chunk
            ).delete()
        rows = Device.objects.filter(connector=connector, pk__in=sorted(add)).only(
            "id", "connector_id", "identity"
        )
        DeviceTag.objects.bulk_create(
            [DeviceTag.of(device, name, value) for device in rows.iterator(chunk_size=2000)],
            batch_size=2000,
            ignore_conflicts=True,
        )
    return len(add), len(remove)


def devices_lock(*, connector: Connector) -> None:
    """Lock every device of ``connector`` until the transaction ends, as a delete of the
    connector does first: a change to one of them in flight (``device_row_lock``) then commits before
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
    """Remove a device with its state (a ``deleted`` event in Logs); its history points follow
    in the background (``history_forget_devices``)."""
    connector_id, identity = device.connector_id, device.identity
    with transaction.atomic():
        device_row_lock(device)
        history_forget_devices([device.pk])
        device.delete()
    event_emit(connector_id=connector_id, type=EventType.DELETED, identity=identity)
