"""Device representations of the management API and of the Murano Device2 routes."""

from typing import TypedDict

from rest_framework import serializers

from connectors.models import AuthType
from devices.models import Device, Status, ValuePoint
from devices.selectors import datetime_to_us, device_is_online
from devices.services import MAX_TIMESTAMP_US


class TagSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    value = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")


class AuthInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[*AuthType.values, "csr"], required=False)
    key = serializers.CharField(required=False, allow_blank=True, max_length=64 * 1024, trim_whitespace=False)
    expire = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_TIMESTAMP_US, help_text="µs timestamp; 0 revokes"
    )


class DeviceCreateSerializer(serializers.Serializer):
    identity = serializers.CharField(max_length=128)
    auth = AuthInputSerializer(required=False)
    locked = serializers.BooleanField(required=False, default=False)
    tags = TagSerializer(many=True, required=False)


class DeviceUpdateSerializer(serializers.Serializer):
    locked = serializers.BooleanField(required=False)
    auth = AuthInputSerializer(required=False)
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
        return [{"name": t.name, "value": t.value} for t in device.tags.all()]

    def get_activation_deadline(self, device) -> int | None:
        return datetime_to_us(device.activation_deadline)


class DevicePageSerializer(serializers.Serializer):
    """One page of the device list; follow ``next`` (a cursor URL) for the following one."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
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
