"""Every change to connectors and resources goes through these functions."""

import ipaddress
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Business
from connectors import hooks, pki, runtime
from connectors.content.services import content_purge_connector_on_commit
from connectors.hostnames import NOT_AVAILABLE, HostnameRefused, hostname_clean
from connectors.identity import IdentityType
from connectors.models import Connector, ConnectorHostname, Resource, ResourceFormat, transports_clean
from connectors.values import ResourceRules, parse_allowed
from core import realtime
from core.crypto import decrypt_secret, encrypt_secret
from core.db import row_lock

_ALIAS_FORBIDDEN = re.compile(r"[.$\s\x00-\x1f]")
_FIXED_LENGTH_TYPES = {
    IdentityType.MAC_COLON,
    IdentityType.MAC_DASH,
    IdentityType.MAC_NONE,
    IdentityType.UUID_V4,
}

# Settings a product manager may change, by model field name.
CONNECTOR_FIELDS = (
    "name", "description", "devmode", "transports", "identity_prefix", "identity_type",
    "identity_length", "identity_casing", "provisioning_enabled", "auth_type", "presenter_identity",
    "generate_identity", "activation_window_hours", "ip_whitelisting_enabled", "ip_whitelist",
    "pki_enabled", "pki_ca_certificate", "pki_sign_csr", "firmware_update_enabled",
    "claiming_enabled", "portal_subdomain", "managed_apps", "history_retention_days",
)  # fmt: skip
# A portal sub-domain is one DNS label (RFC 1123), stored in lower case.
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# An application's link: http(s), printable ASCII without spaces (the API's schema says the same).
LINK_PATTERN = "https?://[!-~]+"
_MAX_MANAGED_APPS = 50
_APP_TEXT_FIELDS = {"id": 64, "name": 100, "description": 1000, "url": 2000, "logo": 2000}


def _clean_ip_whitelist(value) -> list[str]:
    if not isinstance(value, list):
        raise ValidationError({"ip_whitelist": "must be a list of CIDRs"})
    networks = []
    for item in value:
        try:
            networks.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            raise ValidationError({"ip_whitelist": f"{item!r} is not an IP address or CIDR"}) from None
    return networks


def _clean_hostnames(connector: Connector, hostnames) -> list[str]:
    """The names in their stored spelling (``connectors.hostnames``). A name the platform keeps
    for itself and a name another connector uses get the same answer, "not available", so that
    nobody learns other tenants' names by trying them."""
    if not isinstance(hostnames, list):
        raise ValidationError({"hostnames": "must be a list of host names"})
    cleaned = []
    for name in hostnames:
        shown = str(name).strip()[:255]  # as given (a host name has at most 253 characters)
        try:
            host = hostname_clean(name)
        except HostnameRefused as exc:
            raise ValidationError({"hostnames": f"{shown!r} {exc.message}"}) from None
        taken = ConnectorHostname.objects.filter(hostname=host).exclude(connector=connector)
        if taken.exists():
            raise ValidationError({"hostnames": f"{shown!r} {NOT_AVAILABLE}"})
        cleaned.append(host)
    return sorted(set(cleaned))


def _clean_ca_certificate(pem: str) -> str:
    if not pem.strip():
        return ""
    try:
        return pki.ca_certificate_clean(pem)
    except pki.CertificateProblem as exc:
        raise ValidationError({"pki_ca_certificate": exc.message}) from None


def _apply_ca_private_key(connector: Connector, changes: dict) -> list[str]:
    """The CA private key: checked against the CA certificate and encrypted at rest. A new CA
    certificate without a key drops a stored key that belongs to the old one."""
    if "pki_ca_private_key" in changes:
        key_pem = (changes["pki_ca_private_key"] or "").strip()
        if key_pem:
            try:
                key_pem = pki.ca_private_key_clean(key_pem, ca_certificate=connector.pki_ca_certificate)
            except pki.CertificateProblem as exc:
                raise ValidationError({"pki_ca_private_key": exc.message}) from None
        connector.pki_ca_private_key_encrypted = encrypt_secret(key_pem) if key_pem else ""
        return ["pki_ca_private_key_encrypted"]
    if "pki_ca_certificate" in changes and connector.pki_ca_private_key_encrypted:
        try:
            key = pki.private_key_load(decrypt_secret(connector.pki_ca_private_key_encrypted))
            matches = pki.key_matches_certificate(key, connector.pki_ca_certificate)
        except (ValueError, pki.CertificateProblem):
            matches = False
        if not matches:
            connector.pki_ca_private_key_encrypted = ""
            return ["pki_ca_private_key_encrypted"]
    return []


def _check_ip_whitelisting(connector: Connector) -> None:
    # Checked when one of the two changes (as PKI's settings are): whitelisting with no address
    # at all refuses every new device, which nobody means.
    if connector.ip_whitelisting_enabled and not connector.ip_whitelist:
        raise ValidationError(
            {"ip_whitelist": "must name at least one address or network while IP whitelisting is on "
             "(an empty list would refuse every new device)"}
        )  # fmt: skip


def _check_pki(connector: Connector) -> None:
    # Checked when a PKI setting changes only: an older inconsistent row must not block saving
    # unrelated settings.
    if connector.pki_enabled and not connector.pki_ca_certificate:
        raise ValidationError({"pki_ca_certificate": "is required to enable PKI (upload or generate one)"})
    if connector.pki_sign_csr and not connector.pki_enabled:
        raise ValidationError({"pki_sign_csr": "needs PKI enabled"})
    if connector.pki_sign_csr and not connector.pki_ca_private_key_encrypted:
        raise ValidationError({"pki_ca_private_key": "is required to sign CSRs"})


class CaAlreadyExists(Exception):
    """The connector has a CA: replacing it must be asked for (devices it verifies would fail)."""


@transaction.atomic
def connector_ca_generate(
    *, connector: Connector, common_name: str = "", days: int = pki.CA_DAYS, replace: bool = False
) -> Connector:
    """Give the connector a new client CA of its own (certificate and encrypted private key),
    instead of uploading one. PKI and CSR signing stay as they were: turning them on is a
    separate, deliberate change. A connector that has a CA keeps it unless ``replace``."""
    common_name = (common_name or "").strip()
    size = pki.utf8_bytes(common_name)
    if size is None:
        raise ValidationError({"common_name": "is not valid text"})
    if size > pki.CN_MAX_BYTES:
        limit = pki.CN_MAX_BYTES
        raise ValidationError(
            {"common_name": f"takes {size} bytes in UTF-8; a certificate's CN holds at most {limit}"}
        )
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    if connector.pki_ca_certificate and not replace:
        raise CaAlreadyExists(connector.pk)
    # By default the connector's name (any length, any script: cut to fit) and its id.
    if not common_name:
        common_name = pki.ca_default_common_name(connector_name=connector.name, connector_id=connector.pk)
    certificate, key = pki.ca_generate(common_name=common_name, days=days)
    connector.pki_ca_certificate = certificate
    connector.pki_ca_private_key_encrypted = encrypt_secret(key)
    connector.save(update_fields=["pki_ca_certificate", "pki_ca_private_key_encrypted", "updated_at"])
    return connector


def _clean_portal_subdomain(connector: Connector, value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DNS_LABEL.match(value.strip().lower()):
        raise ValidationError(
            {"portal_subdomain": "must be one DNS label: letters, digits and hyphens, at most 63, "
                                 "not starting or ending with a hyphen"}
        )  # fmt: skip
    value = value.strip().lower()
    if Connector.objects.filter(portal_subdomain=value).exclude(pk=connector.pk).exists():
        raise _portal_subdomain_taken()
    return value


def _portal_subdomain_taken() -> ValidationError:
    message = "this portal sub-domain is taken"
    return ValidationError({"portal_subdomain": ValidationError(message, code="conflict")})


def _clean_managed_apps(value) -> list[dict]:
    """``[{"id", "name", "description", "url", "logo"}]``: ids unique, links http(s)."""
    if not isinstance(value, list) or len(value) > _MAX_MANAGED_APPS:
        raise ValidationError({"managed_apps": f"must be a list of at most {_MAX_MANAGED_APPS} applications"})
    apps, ids = [], set()
    for app in value:
        if not isinstance(app, dict) or not isinstance(app.get("id"), str) or not app["id"].strip():
            raise ValidationError({"managed_apps": 'each application needs an "id"'})
        unknown = set(app) - set(_APP_TEXT_FIELDS)
        if unknown:
            raise ValidationError({"managed_apps": f"unknown field {sorted(unknown)[0]!r}"})
        cleaned = {}
        for name, limit in _APP_TEXT_FIELDS.items():
            text = app.get(name, "")
            if not isinstance(text, str) or len(text) > limit or "\x00" in text:
                raise ValidationError({"managed_apps": f"{name} must be text of at most {limit} characters"})
            cleaned[name] = text.strip()
        for name in ("url", "logo"):
            if cleaned[name] and not re.fullmatch(LINK_PATTERN, cleaned[name]):
                raise ValidationError({"managed_apps": f"{name} must be an http(s) link"})
        if cleaned["id"] in ids:
            raise ValidationError({"managed_apps": f"application {cleaned['id']!r} is listed twice"})
        ids.add(cleaned["id"])
        apps.append(cleaned)
    return apps


def _apply_settings(connector: Connector, changes: dict) -> list[str]:
    unknown = set(changes) - set(CONNECTOR_FIELDS) - {"hostnames", "pki_ca_private_key"}
    if unknown:
        raise ValidationError({key: "unknown setting" for key in sorted(unknown)})
    changed = []
    for key in CONNECTOR_FIELDS:
        if key not in changes:
            continue
        value = changes[key]
        if key == "ip_whitelist":
            value = _clean_ip_whitelist(value)
        elif key == "pki_ca_certificate":
            value = _clean_ca_certificate(value or "")
        elif key == "identity_prefix":
            value = (value or "").strip()
        elif key == "portal_subdomain":
            value = _clean_portal_subdomain(connector, value)
        elif key == "managed_apps":
            value = _clean_managed_apps(value)
        elif key == "transports":
            try:
                value = transports_clean(value)
            except ValidationError as exc:
                raise ValidationError({"transports": exc.messages}) from None
        setattr(connector, key, value)
        changed.append(key)
    changed += _apply_ca_private_key(connector, changes)
    if connector.claiming_enabled and not connector.portal_subdomain:
        # The portal's default sub-domain is the connector's id (a DNS label already).
        connector.portal_subdomain = _clean_portal_subdomain(connector, connector.pk)
        changed.append("portal_subdomain")
    if {"pki_enabled", "pki_ca_certificate", "pki_sign_csr", "pki_ca_private_key"} & set(changes):
        _check_pki(connector)
    if {"ip_whitelisting_enabled", "ip_whitelist"} & set(changes):
        _check_ip_whitelisting(connector)
    if connector.identity_type in _FIXED_LENGTH_TYPES:
        connector.identity_length = None
    connector.full_clean(exclude=["business", "id"], validate_unique=False)
    if (
        connector.identity_prefix
        and (problem := connector.identity_format.problem(connector.identity_prefix + "0"))
        and problem.reason == "characters"
    ):
        raise ValidationError({"identity_prefix": "contains characters that are not allowed"})
    return changed


def _set_hostnames(connector: Connector, hostnames: list[str]) -> None:
    ConnectorHostname.objects.filter(connector=connector).exclude(hostname__in=hostnames).delete()
    existing = set(connector.hostname_set.values_list("hostname", flat=True))
    try:
        with transaction.atomic():
            ConnectorHostname.objects.bulk_create(
                [ConnectorHostname(connector=connector, hostname=h) for h in hostnames if h not in existing]
            )
    except IntegrityError:
        raise ValidationError({"hostnames": f"one of these host names {NOT_AVAILABLE}"}) from None
    runtime.forget_hosts()


@transaction.atomic
def connector_create(*, business: Business, name: str, settings: dict | None = None) -> Connector:
    """Create a connector with default settings, overridden by ``settings``."""
    connector = Connector(business=business, name=name)
    changes = dict(settings or {})
    changes["name"] = name
    hostnames = changes.pop("hostnames", None)
    _apply_settings(connector, changes)
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError:
        raise _portal_subdomain_taken() from None
    if hostnames:
        _set_hostnames(connector, _clean_hostnames(connector, hostnames))
    hooks.settings_changed.send(connector=connector, fields={f.name for f in Connector._meta.concrete_fields},
                                created=True)  # fmt: skip
    return connector


@dataclass(frozen=True)
class SettingsWarning:
    """A consequence of a saved change that people should hear about: the change was made.
    ``field`` is the group of settings it concerns, as the API names it; ``count`` how many
    devices it concerns."""

    code: str
    field: str
    message: str
    count: int


@dataclass(frozen=True)
class SettingsChange:
    """What ``connector_settings_change`` did: the changed connector, and its warnings."""

    connector: Connector
    warnings: list[SettingsWarning]


@transaction.atomic
def connector_settings_change(*, connector: Connector, changes: dict) -> SettingsChange:
    """Change some settings (the others stay as they were), and say what the change means for
    existing devices: a new identity format that some of them do not fit is saved, with a
    warning counting them."""
    before = connector.identity_format
    changes = dict(changes)
    hostnames = changes.pop("hostnames", None)
    fields = _apply_settings(connector, changes)
    try:
        with transaction.atomic():
            connector.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise _portal_subdomain_taken() from None  # the one unique setting: a racing change took it
    if hostnames is not None:
        _set_hostnames(connector, _clean_hostnames(connector, hostnames))
    hooks.settings_changed.send(connector=connector, fields=set(fields), created=False)
    warnings = []
    if connector.identity_format != before:
        for found in hooks.identity_format_changed.send(connector=connector):
            warnings += found
    return SettingsChange(connector, warnings)


def connector_update(*, connector: Connector, changes: dict) -> Connector:
    """Change some settings; the others stay as they were (``connector_settings_change``
    without its warnings)."""
    return connector_settings_change(connector=connector, changes=changes).connector


@transaction.atomic
def connector_delete(*, connector: Connector) -> None:
    """Delete a connector with its devices, content and jobs, and drop its buffer of recent
    events. The deletion stands even when Redis is down: the buffer is then left behind (logged),
    unreadable by anyone since its connector is gone."""
    connector_id = connector.pk
    hooks.connector_deleting.send(connector=connector)
    connector.delete()
    runtime.forget_hosts()
    # Its content rows went with it; their stored files go once that is committed.
    content_purge_connector_on_commit(connector_id)
    transaction.on_commit(lambda: realtime.forget(connector_id))


def _touch(connector: Connector) -> None:
    # Device API processes compare this stamp to their cached resource rules.
    Connector.objects.filter(pk=connector.pk).update(updated_at=timezone.now())


def _validate_resource(resource: Resource) -> None:
    if not resource.alias or _ALIAS_FORBIDDEN.search(resource.alias):
        raise ValidationError({"alias": "must be non-empty, without '.', '$', spaces or control characters"})
    if resource.format not in ResourceFormat.values:
        raise ValidationError({"format": f"must be one of {', '.join(ResourceFormat.values)}"})
    try:
        parse_allowed(resource.format, resource.allowed)
    except ValueError as exc:
        raise ValidationError({"allowed": str(exc)}) from None
    if any("\x00" in str(entry) for entry in resource.allowed or []):
        # Not text, and PostgreSQL cannot store it (not even inside JSON).
        raise ValidationError({"allowed": "values must not contain NUL characters"})
    if resource.initial is not None:
        problem = ResourceRules.of(resource).check(resource.initial)
        if problem:
            raise ValidationError({"initial": problem})
    resource.full_clean(exclude=["connector"], validate_unique=False)


_RESOURCE_FIELDS = ("format", "unit", "allowed", "settable", "initial", "sync")


@transaction.atomic
def resource_create(*, connector: Connector, alias: str, **fields) -> Resource:
    """Define an alias on the connector's data model."""
    resource = Resource(connector=connector, alias=alias)
    for key in _RESOURCE_FIELDS:
        if key in fields:
            setattr(resource, key, fields[key])
    if resource.allowed is None:
        resource.allowed = []
    _validate_resource(resource)
    if Resource.objects.filter(connector=connector, alias=alias).exists():
        # A conflict with what exists, not bad input: the APIs answer 409.
        message = "a resource with this alias already exists"
        raise ValidationError({"alias": ValidationError(message, code="conflict")})
    resource.save()
    _touch(connector)
    return resource


@transaction.atomic
def resource_update(*, resource: Resource, **fields) -> Resource:
    """Change some of a resource's fields; the others stay as they were."""
    row_lock(resource, missing="No such resource.")
    changed = []
    for key in _RESOURCE_FIELDS:
        if key in fields:
            setattr(resource, key, fields[key] if key != "allowed" else (fields[key] or []))
            changed.append(key)
    _validate_resource(resource)
    if changed:
        resource.save(update_fields=changed)
        _touch(resource.connector)
    return resource


@transaction.atomic
def resource_delete(*, resource: Resource) -> None:
    connector = resource.connector
    resource.delete()
    _touch(connector)


@dataclass(frozen=True)
class ResourceChange:
    """One alias of a gateway settings change: define it (``resource`` None), change it, or
    remove it (``fields`` None); ``fields`` are the resource's validated fields."""

    alias: str
    resource: Resource | None
    fields: dict | None


class ResourceChangeRefused(Exception):
    """A resource change of ``connector_gateway_change`` was refused: ``alias`` and the
    service's ``error`` (nothing of the whole change was saved)."""

    def __init__(self, alias: str, error: ValidationError):
        super().__init__(alias)
        self.alias, self.error = alias, error


@transaction.atomic
def connector_gateway_change(
    *, connector: Connector, settings: dict, resources: list[ResourceChange]
) -> None:
    """Murano's gateway settings: some settings and resource definitions changed together, all
    or nothing (the settings first, then the resources in order)."""
    if settings:
        connector_update(connector=connector, changes=settings)
    for change in resources:
        try:
            if change.fields is None:
                if change.resource is not None:
                    resource_delete(resource=change.resource)
            elif change.resource is None:
                resource_create(connector=connector, **change.fields)
            else:
                resource_update(resource=change.resource, **change.fields)
        except ValidationError as exc:
            raise ResourceChangeRefused(change.alias, exc) from None
