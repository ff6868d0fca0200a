"""Firmware update representations of the management API."""

from rest_framework import serializers

from connectors.identity import IDENTITY_MAX_LENGTH
from core.api import StrictTypes
from core.openapi import documented
from devices.filters import MAX_Q_LENGTH, MAX_TAG_FILTERS, MAX_TAG_NAME_LENGTH, MAX_TAG_VALUE_LENGTH
from devices.models import Status
from firmware.models import DeviceUpdate, OtauReport, Rollout, RolloutState
from firmware.services import MAX_DEVICE_TIMEOUT, MAX_EXPLICIT_DEVICES

TAG_FILTER_MAX_LENGTH = MAX_TAG_NAME_LENGTH + 1 + MAX_TAG_VALUE_LENGTH


class DeviceFilterSerializer(serializers.Serializer):
    """Devices to update, as the device list filters them (every filter must match)."""

    status = documented(
        serializers.CharField(required=False, allow_blank=True),
        {"type": "string", "enum": ["", *Status.values]},
    )
    identity = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=IDENTITY_MAX_LENGTH,
        help_text="identity prefix",
    )  # fmt: skip
    q = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_Q_LENGTH,
        help_text="substring of the identity",
    )  # fmt: skip
    tag = serializers.ListField(
        child=documented(
            serializers.CharField(
                max_length=MAX_TAG_NAME_LENGTH + 1 + MAX_TAG_VALUE_LENGTH, trim_whitespace=False
            ),
            {"type": "string", "format": "tag-filter"},
        ),
        required=False,
        max_length=MAX_TAG_FILTERS,
        help_text="name or name:value; all must match",
    )


class FirmwareUpdateSerializer(StrictTypes, serializers.Serializer):
    """Start an update: what to send (``message`` or ``package``) and to whom (``devices`` or
    ``filter``), optionally in waves with a success threshold."""

    message = documented(
        serializers.JSONField(
            required=False,
            help_text="the config_otau message: an object or its JSON text ({version, name, description, "
            "type, payload})",
        ),
        {"oneOf": [{"type": "object"}, {"type": "string"}]},
    )
    package = serializers.CharField(required=False, help_text="content id of a firmware package (package_…)")
    devices = serializers.ListField(
        child=serializers.CharField(max_length=IDENTITY_MAX_LENGTH),
        required=False, min_length=1, max_length=MAX_EXPLICIT_DEVICES, help_text="identities",
    )  # fmt: skip
    filter = DeviceFilterSerializer(required=False)
    wave_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1_000_000, help_text="devices per wave"
    )
    success_threshold = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1,
        help_text="the share of a wave that must succeed, else the rollout pauses",
    )  # fmt: skip
    device_timeout = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=10,
        max_value=MAX_DEVICE_TIMEOUT,
        help_text="seconds a device may stay silent before it counts as failed",
    )

    def to_internal_value(self, data):
        # The service validates values (and says which); only the shape is checked here, and a
        # filter's parameters pass as they came so unknown ones are reported, not dropped.
        result = super().to_internal_value(data)
        if isinstance(data, dict) and isinstance(data.get("filter"), dict):
            result["filter"] = dict(data["filter"])
        return result


class RolloutSerializer(serializers.ModelSerializer):
    """A rollout with how many of its devices are in each status, overall and per wave."""

    package = serializers.CharField(source="package_id")
    state = serializers.CharField(help_text="running, paused, completed or cancelled")
    counts = serializers.SerializerMethodField()
    waves = serializers.SerializerMethodField()

    class Meta:
        model = Rollout
        fields = [
            "id", "state", "state_reason", "version", "package", "config_otau", "target", "device_count",
            "wave_size", "wave_count", "current_wave", "success_threshold", "device_timeout", "counts",
            "waves", "created_at", "updated_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _counts(self, rollout) -> dict:
        return (self.context.get("counts") or {}).get(rollout.pk, {"total": {}, "waves": []})

    def get_counts(self, rollout) -> dict[str, int]:
        return self._counts(rollout)["total"]

    def get_waves(self, rollout) -> list[dict[str, int]]:
        return self._counts(rollout)["waves"]


class RolloutUpdateSerializer(StrictTypes, serializers.Serializer):
    # A plain string with its values listed, not a ChoiceField: drf-spectacular would name the
    # enum after the field, and jobs have a "state" of their own.
    state = documented(
        serializers.CharField(
            max_length=16,
            help_text="paused (pause), running (resume, accepting the current wave's failures) or cancelled",
        ),
        {"type": "string", "enum": [RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.CANCELLED]},
    )

    def validate_state(self, value):
        allowed = (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.CANCELLED)
        if value not in allowed:
            raise serializers.ValidationError(f"must be one of {', '.join(allowed)}")
        return value


class DeviceUpdateSerializer(serializers.ModelSerializer):
    identity = serializers.CharField(source="device.identity")
    rollout = serializers.IntegerField(source="rollout_id")
    version = serializers.CharField(source="rollout.version")

    class Meta:
        model = DeviceUpdate
        fields = [
            "identity", "rollout", "version", "wave", "status", "message", "sent_at", "reported_at",
            "deadline", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class RolloutDeviceSerializer(DeviceUpdateSerializer):
    class Meta(DeviceUpdateSerializer.Meta):
        fields = [f for f in DeviceUpdateSerializer.Meta.fields if f not in ("rollout", "version")]
        read_only_fields = fields


class OtauReportSerializer(serializers.ModelSerializer):
    update = serializers.IntegerField(source="device_update_id", allow_null=True)

    class Meta:
        model = OtauReport
        fields = ["version", "status", "message", "raw", "update", "created_at"]
        read_only_fields = fields


class DeviceFirmwareSerializer(serializers.Serializer):
    """A device's firmware: the version it last reported installed, its updates and reports."""

    identity = serializers.CharField()
    installed_version = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="status of its latest update")
    updates = DeviceUpdateSerializer(many=True)
    reports = OtauReportSerializer(many=True)


class PackageSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    type = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    product = serializers.CharField(allow_null=True)
    config_otau = serializers.JSONField()
    updated_at = serializers.DateTimeField()
