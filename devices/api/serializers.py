"""Device representations of the management API and of the Murano Device2 routes."""

from typing import TypedDict

from rest_framework import serializers

from connectors.api.serializers import (
    IdentityFormatSerializer,
    ProtocolSerializer,
    ProvisioningSerializer,
    ResourceSerializer,
    ResourceUpdateSerializer,
)
from connectors.identity import IDENTITY_MAX_LENGTH
from connectors.models import AuthType, Connector
from connectors.selectors import resource_list
from core.api import StrictTypes
from core.openapi import documented
from devices.models import Device, Status, ValuePoint
from devices.selectors import datetime_to_us, device_is_online
from devices.services import MAX_TIMESTAMP_US

# The characters every identity format allows (connectors.identity); a connector's own format
# (prefix, type, length, casing) may ask for more.
IDENTITY_PATTERN = r"^[A-Za-z0-9._~:@+\-]+$"
IDENTITY_SCHEMA = {"type": "string", "pattern": IDENTITY_PATTERN, "maxLength": IDENTITY_MAX_LENGTH}


class TagSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    value = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")


class AuthInputSerializer(serializers.Serializer):
    """A new device's credentials: ``type`` (default: the connector's), and a known ``key`` (a
    40-hex token, a password of at least 20 bytes, the PEM of a certificate whose CN is the
    identity, or a CSR the connector signs), or ``expire``, the activation deadline."""

    type = serializers.ChoiceField(choices=[*AuthType.values, "csr"], required=False)
    key = serializers.CharField(required=False, allow_blank=True, max_length=64 * 1024, trim_whitespace=False)
    expire = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_TIMESTAMP_US, help_text="µs timestamp; 0 revokes"
    )


class AuthChangeSerializer(serializers.Serializer):
    """A device's credentials change only by revoking them (``expire``: 0; another value moves
    the activation deadline of a device not provisioned yet) or by pinning a certificate
    (``type`` certificate with ``key``: its PEM, or "" to clear the pinned one)."""

    type = documented(serializers.CharField(required=False), {"type": "string", "enum": ["certificate"]})
    key = serializers.CharField(required=False, allow_blank=True, max_length=64 * 1024, trim_whitespace=False)
    expire = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_TIMESTAMP_US, help_text="µs timestamp; 0 revokes"
    )


class DeviceCreateSerializer(StrictTypes, serializers.Serializer):
    identity = documented(
        serializers.CharField(max_length=IDENTITY_MAX_LENGTH, trim_whitespace=False), IDENTITY_SCHEMA
    )
    auth = AuthInputSerializer(required=False)
    locked = serializers.BooleanField(required=False, default=False)
    tags = TagSerializer(many=True, required=False)


class DeviceUpdateSerializer(StrictTypes, serializers.Serializer):
    locked = serializers.BooleanField(required=False)
    auth = AuthChangeSerializer(required=False)
    tags = TagSerializer(many=True, required=False)


class DeviceSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    auth = serializers.SerializerMethodField()
    reprovision = serializers.BooleanField(read_only=True)
    online = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    activation_deadline = serializers.SerializerMethodField(help_text="µs timestamp")

    class Meta:
        model = Device
        fields = [
            "identity", "status", "auth", "locked", "reprovision", "devmode", "last_ip",
            "last_seen", "online", "activation_deadline", "provisioned_at", "created_at", "tags",
        ]  # fmt: skip
        read_only_fields = fields

    def get_auth(self, device) -> dict:
        return {"type": device.auth_type or None}

    def get_online(self, device) -> bool:
        return device_is_online(device)

    def get_tags(self, device) -> list[dict]:
        loaded = self.context.get("tags")  # a list page loads its tags in one query
        if loaded is not None:
            return loaded[device.pk]
        return [{"name": t.name, "value": t.value} for t in device.tags.all()]

    def get_activation_deadline(self, device) -> int | None:
        return datetime_to_us(device.activation_deadline)


class DevicePageSerializer(serializers.Serializer):
    """One page of the device list; follow ``next`` (a cursor URL) for the following one."""

    next = serializers.URLField(allow_null=True, help_text="the following page, null on the last")
    previous = serializers.URLField(allow_null=True, help_text="the page before, null on the first")
    count = serializers.IntegerField(
        allow_null=True,
        help_text="devices matching the filters, on the first page only (null on later pages)",
    )
    count_is_estimate = serializers.BooleanField(
        allow_null=True,
        help_text="true when count is the database's estimate (past 10,000 matches), not exact",
    )
    results = DeviceSerializer(many=True)


class Device2Serializer(serializers.Serializer):
    """The Murano Device2 ``getIdentity`` shape."""

    identity = serializers.CharField()
    auth = serializers.DictField()
    state = serializers.DictField()
    locked = serializers.BooleanField()
    reprovision = serializers.BooleanField()
    devmode = serializers.BooleanField()
    lastip = serializers.CharField(allow_null=True)
    lastseen = serializers.IntegerField(allow_null=True, help_text="µs timestamp")
    status = serializers.CharField()
    online = serializers.BooleanField()
    tags = TagSerializer(many=True)


class Device2PageSerializer(serializers.Serializer):
    """Murano's ``listIdentities`` answer: a page of identities and whether more follow."""

    devices = Device2Serializer(many=True)
    mayLoadMore = serializers.BooleanField()  # noqa: N815  (Murano's spelling)


class _ResourcesByAlias(serializers.DictField):
    """The connector's resources as ``{alias: resource}``."""

    def get_attribute(self, connector):
        return {resource.alias: resource for resource in resource_list(connector=connector)}


class Device2GatewaySerializer(StrictTypes, serializers.ModelSerializer):
    """Murano's gateway settings: the connector's device-facing settings (validated by the
    connector's own serializers) and its resources by alias."""

    fqdn = serializers.CharField(source="device_host", read_only=True, help_text="where devices connect")
    protocol = ProtocolSerializer(source="*", required=False)
    identity_format = IdentityFormatSerializer(source="*", required=False)
    provisioning = ProvisioningSerializer(source="*", required=False)
    resources = _ResourcesByAlias(
        child=ResourceSerializer(allow_null=True),
        required=False,
        help_text="alias → resource (as in /api/v1/connectors/<id>/resources/); in a PATCH, null removes it",
    )

    class Meta:
        model = Connector
        fields = ["fqdn", "protocol", "identity_format", "provisioning", "resources"]

    def to_internal_value(self, data):
        # Resources are checked alias by alias by the view: whether an alias is created or
        # changed depends on what exists (Device2GatewayUpdateSerializer documents them).
        if not isinstance(data, dict) or "resources" not in data:
            return super().to_internal_value(data)
        validated = super().to_internal_value({k: v for k, v in data.items() if k != "resources"})
        validated["resources"] = data["resources"]
        return validated


class Device2GatewayUpdateSerializer(Device2GatewaySerializer):
    """A gateway settings change: ``resources`` maps aliases to the fields to set (``format`` is
    needed for a new alias), or to null to remove one."""

    resources = serializers.DictField(
        child=ResourceUpdateSerializer(allow_null=True),
        required=False,
        help_text="alias → resource fields to set (a new alias needs a format); null removes it",
    )

    class Meta(Device2GatewaySerializer.Meta):
        pass


class StateEntry(TypedDict):
    """One alias of a device's state: last reported value, cloud value, µs timestamp."""

    reported: str | None
    set: str | None
    timestamp: int | None


# ``{alias: StateEntry}``, for the OpenAPI schema.
DeviceState = dict[str, StateEntry]


class ValuePointSerializer(serializers.ModelSerializer):
    class Meta:
        model = ValuePoint
        fields = ["alias", "timestamp", "value"]


class IssuedCertificateSerializer(serializers.Serializer):
    """The answer to a whitelisting with a CSR (``auth.type = "csr"``), as the Murano CLI prints it."""

    certificate = serializers.CharField(help_text="PEM of the device certificate the connector issued")
