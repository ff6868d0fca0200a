"""Connectors (one per device model), their extra hostnames and their resources."""

import secrets
import string

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

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

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.id})"

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


class ConnectorHostname(models.Model):
    """An extra host name that routes device requests to a connector."""

    hostname = models.CharField(max_length=253, unique=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="hostname_set")

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname


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
