"""Connectors (one per device model), their extra hostnames and their resources."""

import secrets
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from connectors.identity import IdentityCasing, IdentityFormat, IdentityType

_ID_ALPHABET = string.ascii_lowercase + string.digits
CONNECTOR_ID_LENGTH = 17


def new_connector_id() -> str:
    """A Murano-style id: 17 lowercase letters and digits, starting with a letter (DNS-safe)."""
    first = secrets.choice(string.ascii_lowercase)
    return first + "".join(secrets.choice(_ID_ALPHABET) for _ in range(CONNECTOR_ID_LENGTH - 1))


class AuthType(models.TextChoices):
    TOKEN = "token", "Token"
    PASSWORD = "password", "Password"
    CERTIFICATE = "certificate", "TLS client certificate"


# The longest retention a connector may ask for (100 years: "forever" is 0).
HISTORY_RETENTION_MAX_DAYS = 36_500


class Transport(models.TextChoices):
    """How devices may reach a connector (its ``transports`` setting, ``protocol.transports``)."""

    HTTP = "http", "HTTP"
    MQTT = "mqtt", "MQTT"


def default_transports() -> list[str]:
    """Every transport: a connector's devices may use any of them unless it says otherwise."""
    return list(Transport.values)


def transports_clean(value) -> list[str]:
    """``value`` as a connector's ``transports``: a non-empty list of known transports, each
    once, stored in the order ``Transport`` lists them. Raises ``ValidationError``."""
    known = ", ".join(Transport.values)
    if not isinstance(value, list) or not value:
        raise ValidationError(f"must be a non-empty list of transports ({known})")
    for item in value:
        if not isinstance(item, str) or item not in Transport.values:
            shown = repr(item)[:40]
            raise ValidationError(f"{shown} is not a transport ({known})")
    if len(set(value)) != len(value):
        raise ValidationError("each transport may be listed once")
    return [transport for transport in Transport.values if transport in value]


class Connector(models.Model):
    """An IoT connector: the device gateway of one product, with its settings.

    Devices reach it at ``<id>.<DEVICE_API_DOMAIN>`` or at one of its extra hostnames.
    ``updated_at`` moves whenever a setting or a resource changes, so device API processes can
    tell when their cached copy is stale.
    """

    id = models.CharField(primary_key=True, max_length=CONNECTOR_ID_LENGTH, default=new_connector_id)
    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="connectors")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    # protocol
    devmode = models.BooleanField(
        default=False, help_text="Accept plain HTTP (credentials are then not secure)."
    )
    transports = models.JSONField(
        default=default_transports, validators=[transports_clean],
        help_text="The transports the connector's devices may use: http, mqtt (at least one).",
    )  # fmt: skip
    # identity format
    identity_prefix = models.CharField(max_length=64, blank=True)
    identity_type = models.CharField(max_length=16, choices=IdentityType.choices, default=IdentityType.OPAQUE)
    identity_length = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(128)]
    )
    identity_casing = models.CharField(
        max_length=8, choices=IdentityCasing.choices, default=IdentityCasing.MIXED
    )
    # provisioning
    provisioning_enabled = models.BooleanField(default=True)
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.TOKEN)
    presenter_identity = models.BooleanField(default=True)
    generate_identity = models.BooleanField(default=False)
    activation_window_hours = models.PositiveIntegerField(
        default=48, validators=[MinValueValidator(1), MaxValueValidator(24 * 365)]
    )
    ip_whitelisting_enabled = models.BooleanField(default=False)
    ip_whitelist = models.JSONField(default=list, blank=True)
    # public key infrastructure (used by certificate authentication)
    pki_enabled = models.BooleanField(default=False)
    pki_ca_certificate = models.TextField(blank=True)
    pki_ca_private_key_encrypted = models.TextField(blank=True, editable=False)
    pki_sign_csr = models.BooleanField(default=False)
    # firmware updates (OTAU): the seeds' EnableFirmwareUpdate; see firmware/
    firmware_update_enabled = models.BooleanField(
        default=False,
        help_text="Deliver firmware updates through the config_otau resource; devices report on otau_in.",
    )
    # claiming by end users and their portal (claiming/, portal/): the seeds' EveryCloud
    claiming_enabled = models.BooleanField(
        default=False, help_text="End users claim devices with claim codes, on the connector's portal."
    )
    # A DNS label, unique across the platform (NULL: never chosen; the connector id once enabled).
    portal_subdomain = models.CharField(max_length=63, null=True, blank=True, unique=True)
    # [{"id", "name", "description", "url", "logo"}]: applications end users may route data to.
    managed_apps = models.JSONField(default=list, blank=True)
    # value history (devices.history): how long points are kept; NULL follows the platform's
    # HISTORY_RETENTION_DAYS, 0 keeps them forever
    history_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(HISTORY_RETENTION_MAX_DAYS)],
        help_text="Days of value history kept (0: forever; empty: the platform's default).",
    )  # fmt: skip

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.id})"

    @property
    def history_retention_effective_days(self) -> int:
        """Days of value history kept (0: forever): the connector's own choice, else the
        platform's ``HISTORY_RETENTION_DAYS``."""
        if self.history_retention_days is not None:
            return self.history_retention_days
        return settings.HISTORY_RETENTION_DAYS

    @property
    def identity_format(self) -> IdentityFormat:
        return IdentityFormat(
            prefix=self.identity_prefix,
            type=self.identity_type,
            length=self.identity_length,
            casing=self.identity_casing,
        )

    @property
    def device_host(self) -> str:
        from django.conf import settings

        return f"{self.id}.{settings.DEVICE_API_DOMAIN}"

    @property
    def portal_host(self) -> str:
        """The end users' portal's host name (``<portal_subdomain>.<PORTAL_DOMAIN>``)."""
        from django.conf import settings

        return f"{self.portal_subdomain or self.id}.{settings.PORTAL_DOMAIN}"


class ConnectorHostname(models.Model):
    """An extra host name that routes device requests to a connector, stored in its one spelling
    (``connectors.hostnames``); the platform's own names are never one."""

    hostname = models.CharField(max_length=253, unique=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="hostname_set")

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname

    def clean(self):
        # The admin's forms come through here; the services check names the same way.
        from connectors.hostnames import HostnameRefused, hostname_clean

        try:
            self.hostname = hostname_clean(self.hostname)
        except HostnameRefused as exc:
            raise ValidationError({"hostname": f"{self.hostname!r} {exc.message}"}) from None


class ResourceFormat(models.TextChoices):
    NUMBER = "number", "Number"
    INTEGER = "integer", "Integer"
    FLOAT = "float", "Float"
    STRING = "string", "String"
    BOOLEAN = "boolean", "Boolean"


class Resource(models.Model):
    """One alias of the connector's data model (the device's digital twin).

    ``settable`` resources take values from the cloud (``set``) that devices read or long-poll;
    with ``sync`` off, ``set`` and ``reported`` stay equal and nothing is pushed.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="resources")
    alias = models.CharField(max_length=100)
    format = models.CharField(max_length=8, choices=ResourceFormat.choices)
    unit = models.CharField(max_length=32, blank=True)
    allowed = models.JSONField(default=list, blank=True)
    settable = models.BooleanField(default=False)
    initial = models.TextField(null=True, blank=True)
    sync = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(fields=["connector", "alias"], name="resource_unique_alias")]

    def __str__(self):
        return f"{self.alias} ({self.format})"


# Ids that devices name in ``/provision/download?id=``: URL- and CSV-safe, no path separators.
CONTENT_ID_MAX_LENGTH = 128


class ContentItem(models.Model):
    """A file in a connector's content store (firmware, configuration, media), which devices
    list, inspect and download through the device API (``/provision/download``).

    The bytes live in Django's storage (local files or S3) under ``storage_name``, a key of our
    own making and never derived from ``content_id``: an id cannot reach outside the store, and
    replacing an item writes a new object that one row update swaps in. ``package`` holds the
    validated metadata of a firmware package (ids starting with ``package_``), so packages are
    listed without reading their files. ``uploaded_by_device`` names the device that uploaded
    the item through the device API (empty for people's uploads): devices may replace only
    their own uploads.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="content_items")
    content_id = models.CharField(max_length=CONTENT_ID_MAX_LENGTH)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=1000, blank=True)
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    package = models.JSONField(null=True, blank=True, editable=False)
    uploaded_by_device = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["content_id"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "content_id"], name="content_unique_id"),
        ]

    def __str__(self):
        return f"{self.content_id} ({self.size} bytes)"

    @property
    def is_package(self) -> bool:
        return self.package is not None
