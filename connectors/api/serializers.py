"""Connector and resource representations of the management API (shared/docs/management-api.md)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.identity import IdentityCasing, IdentityType
from connectors.models import (
    HISTORY_RETENTION_MAX_DAYS,
    AuthType,
    Connector,
    Resource,
    ResourceFormat,
    Transport,
)
from connectors.selectors import connector_hostnames, portal_url
from connectors.services import LINK_PATTERN
from connectors.values import FORMATS, cloud_value_to_text
from core.api import StrictTypes
from core.openapi import NONBLANK_TEXT_PATTERN, TEXT_PATTERN, WHITESPACE, documented


class ProtocolSerializer(serializers.Serializer):
    devmode = serializers.BooleanField(required=False)
    transports = documented(
        serializers.ListField(
            child=serializers.ChoiceField(choices=Transport.choices), required=False, allow_empty=False,
            max_length=len(Transport),
            help_text="the transports the connector's devices may use (default: all); at least one",
        ),
        {"type": "array", "items": {"type": "string", "enum": Transport.values}, "minItems": 1,
         "maxItems": len(Transport), "uniqueItems": True},
    )  # fmt: skip


class IdentityFormatSerializer(serializers.Serializer):
    prefix = documented(
        # Not trimmed here: the service trims it, and the length counts what was sent.
        serializers.CharField(
            source="identity_prefix", required=False, allow_blank=True, max_length=64, trim_whitespace=False
        ),
        {"type": "string", "pattern": rf"^[{WHITESPACE}]*[A-Za-z0-9._~:@+\-]*[{WHITESPACE}]*$"},
    )
    type = serializers.ChoiceField(source="identity_type", choices=IdentityType.choices, required=False)
    length = serializers.IntegerField(
        source="identity_length", required=False, allow_null=True, min_value=1, max_value=128
    )
    casing = serializers.ChoiceField(source="identity_casing", choices=IdentityCasing.choices, required=False)


class IpWhitelistingSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(source="ip_whitelisting_enabled", required=False)
    allowed = serializers.ListField(
        source="ip_whitelist", child=serializers.CharField(max_length=64), required=False, max_length=1000
    )


class ProvisioningSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(source="provisioning_enabled", required=False)
    auth_type = serializers.ChoiceField(choices=AuthType.choices, required=False)
    presenter_identity = serializers.BooleanField(required=False)
    generate_identity = serializers.BooleanField(required=False)
    activation_window_hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 365)
    ip_whitelisting = IpWhitelistingSerializer(source="*", required=False)


class PkiSerializer(serializers.Serializer):
    """Client certificates of devices (docs/tls.md): the CA they must chain to, CSR signing."""

    enabled = serializers.BooleanField(
        source="pki_enabled", required=False,
        help_text="device certificates must chain to ca_certificate (needs one)",
    )  # fmt: skip
    ca_certificate = serializers.CharField(
        source="pki_ca_certificate", required=False, allow_blank=True, max_length=64 * 1024,
        help_text="PEM of the client CA: a CA certificate (basicConstraints CA=true), not expired",
    )  # fmt: skip
    ca_private_key = serializers.CharField(
        source="pki_ca_private_key", write_only=True, required=False, allow_blank=True,
        max_length=64 * 1024,
        help_text="write-only PEM of the CA's key (no passphrase), encrypted at rest; needed by sign_csr",
    )  # fmt: skip
    sign_csr = serializers.BooleanField(
        source="pki_sign_csr", required=False,
        help_text='sign CSRs given when whitelisting ({"auth": {"type": "csr", "key": "<CSR PEM>"}})',
    )  # fmt: skip


class FirmwareSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(
        source="firmware_update_enabled", required=False,
        help_text="firmware updates (OTAU) through the config_otau and otau_in resources",
    )  # fmt: skip


class HistorySettingsSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField(
        source="history_retention_days", required=False, allow_null=True, min_value=0,
        max_value=HISTORY_RETENTION_MAX_DAYS,
        help_text="days of value history kept; 0 keeps it forever; null follows the platform's "
        "HISTORY_RETENTION_DAYS",
    )  # fmt: skip
    effective_retention_days = serializers.IntegerField(
        source="history_retention_effective_days", read_only=True,
        help_text="the retention that applies (retention_days, else the platform's); 0 = forever",
    )  # fmt: skip


class ManagedAppSerializer(StrictTypes, serializers.Serializer):
    """An application end users may route their devices' data to (the seed's managed apps)."""

    id = documented(
        serializers.CharField(max_length=64), {"type": "string", "pattern": NONBLANK_TEXT_PATTERN}
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    url = documented(
        serializers.CharField(max_length=2000, required=False, allow_blank=True, default=""),
        {"type": "string", "pattern": f"^({LINK_PATTERN})?$", "description": "an http(s) link"},
    )
    logo = documented(
        serializers.CharField(max_length=2000, required=False, allow_blank=True, default=""),
        {"type": "string", "pattern": f"^({LINK_PATTERN})?$", "description": "an http(s) link to an image"},
    )


class ClaimingSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(
        source="claiming_enabled", required=False,
        help_text="end users claim devices with claim codes on the connector's portal; defines the "
        "pdaas_claim_code, pdaas_user_email and pdaas_reset resources",
    )  # fmt: skip
    portal_subdomain = documented(
        serializers.CharField(
            max_length=63, required=False, allow_null=True,
            help_text="the portal's host is <portal_subdomain>.<PORTAL_DOMAIN>; default: the connector id",
        ),
        {"type": "string", "nullable": True, "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"},
    )  # fmt: skip
    managed_apps = ManagedAppSerializer(many=True, required=False, max_length=50)
    portal_url = serializers.SerializerMethodField(help_text="the portal's base URL")

    def get_portal_url(self, connector) -> str | None:
        if not connector.claiming_enabled:
            return None
        return portal_url(connector, self.context.get("request"))


class ConnectorSerializer(StrictTypes, serializers.ModelSerializer):
    """A connector with its settings grouped as in Murano; PATCH merges nested keys."""

    business = serializers.IntegerField(
        source="business_id", required=False, help_text="Id of the owning business (set on creation)."
    )
    device_host = serializers.CharField(read_only=True)
    hostnames = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, max_length=100
    )
    protocol = ProtocolSerializer(source="*", required=False)
    identity_format = IdentityFormatSerializer(source="*", required=False)
    provisioning = ProvisioningSerializer(source="*", required=False)
    pki = PkiSerializer(source="*", required=False)
    firmware = FirmwareSettingsSerializer(source="*", required=False)
    claiming = ClaimingSettingsSerializer(source="*", required=False)
    history = HistorySettingsSerializer(source="*", required=False)

    class Meta:
        model = Connector
        fields = [
            "id", "name", "description", "business", "device_host", "hostnames", "protocol",
            "identity_format", "provisioning", "pki", "firmware", "claiming", "history", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["hostnames"] = connector_hostnames(instance)
        return data

    @classmethod
    def api_errors(cls, message_dict: dict) -> dict:
        """Service errors keyed by model field, re-keyed as the API spells the field:
        ``{"ip_whitelist": [...]}`` becomes ``{"provisioning": {"ip_whitelisting": {"allowed": [...]}}}``."""
        paths = _api_paths(cls().fields)
        errors: dict = {}
        for key, messages in message_dict.items():
            *parents, leaf = paths.get(key, (key,))
            node = errors
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = messages
        return errors


class SettingsWarningSerializer(serializers.Serializer):
    """A consequence of the change that was made (``connectors.services.SettingsWarning``)."""

    code = serializers.CharField(help_text="what kind of warning, e.g. identity_format_mismatch")
    field = serializers.CharField(help_text="the settings it concerns, e.g. identity_format")
    message = serializers.CharField(help_text="the warning in a sentence, for people")
    count = serializers.IntegerField(help_text="how many devices it concerns")


class ConnectorChangeSerializer(ConnectorSerializer):
    """A connector as a PATCH left it, with ``warnings``: what the change means for existing
    devices (say, identities that do not fit a new identity format). The change was made; the
    list is empty when there is nothing to say."""

    warnings = SettingsWarningSerializer(many=True, read_only=True)

    class Meta(ConnectorSerializer.Meta):
        fields = [*ConnectorSerializer.Meta.fields, "warnings"]

    def to_representation(self, instance):
        # ``instance``: a ``connectors.services.SettingsChange``.
        data = ConnectorSerializer(instance.connector).data
        data["warnings"] = SettingsWarningSerializer(instance.warnings, many=True).data
        return data


def _api_paths(fields, prefix=()) -> dict[str, tuple[str, ...]]:
    """Model field name → path of names in the API representation."""
    paths = {}
    for name, field in fields.items():
        if isinstance(field, serializers.Serializer) and field.source == "*":
            paths.update(_api_paths(field.fields, (*prefix, name)))
        else:
            paths[field.source] = (*prefix, name)
    return paths


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]})
class CloudValueField(serializers.CharField):
    """A value as devices write it: text, or a JSON number or boolean taken as its text form."""

    json_types = (str, int, float, bool)

    def to_internal_value(self, data):
        if isinstance(data, (bool, int, float)):
            try:
                data = cloud_value_to_text(data)
            except ValueError as exc:  # 1e999: infinity
                raise serializers.ValidationError(str(exc)) from None
        return super().to_internal_value(data)


# What connectors.services refuses in an alias: ".", "$", whitespace, control characters.
ALIAS_PATTERN = rf"^[^.${WHITESPACE}\u0000-\u001f]+$"


class ResourceSerializer(StrictTypes, serializers.ModelSerializer):
    alias = documented(
        serializers.CharField(max_length=100, trim_whitespace=False),
        {"type": "string", "pattern": ALIAS_PATTERN},
    )
    format = serializers.ChoiceField(choices=ResourceFormat.choices)
    allowed = documented(
        serializers.ListField(child=serializers.JSONField(), required=False),
        {
            "type": "array",
            "items": {"oneOf": [{"type": "string", "pattern": TEXT_PATTERN}, {"type": "number"}]},
            "description": 'values, or ranges like "0-100" for numbers; empty: any value',
        },
    )
    initial = CloudValueField(required=False, allow_null=True, max_length=65536)

    class Meta:
        model = Resource
        fields = ["alias", "format", "unit", "allowed", "settable", "initial", "sync"]


class ResourceUpdateSerializer(ResourceSerializer):
    alias = serializers.CharField(read_only=True)
    format = serializers.ChoiceField(choices=[(f, f) for f in FORMATS], required=False)

    class Meta(ResourceSerializer.Meta):
        read_only_fields = ["alias"]


def connector_change(change, **kwargs):
    """Run a connector service (``change(**kwargs)``); its field errors come back keyed as the
    API spells the fields (``ConnectorSerializer.api_errors``)."""
    try:
        return change(**kwargs)
    except DjangoValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise serializers.ValidationError(ConnectorSerializer.api_errors(exc.message_dict)) from None
