"""What the portal's JSON API reads and answers (shared/docs/claiming-and-portal.md)."""

from rest_framework import serializers

from core.api import StrictTypes
from devices.selectors import device_is_online


class SessionStartSerializer(StrictTypes, serializers.Serializer):
    email = serializers.CharField(max_length=254, trim_whitespace=True)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class ClaimSerializer(StrictTypes, serializers.Serializer):
    claim_code = serializers.CharField(max_length=255)


class FirmwareUpdateSerializer(StrictTypes, serializers.Serializer):
    """The seed's call: ``message`` is the ``config_otau`` JSON (text, or the object itself)."""

    message = serializers.JSONField()
    devices = serializers.ListField(
        child=serializers.CharField(max_length=255), min_length=1, max_length=1000
    )


class PortalDeviceSerializer(serializers.Serializer):
    """One of the user's devices: ``state`` is ``{alias: {"reported", "set", "timestamp"}}``
    (``context["states"]``: the states by device id)."""

    identity = serializers.CharField()
    status = serializers.CharField()
    online = serializers.SerializerMethodField()
    last_seen = serializers.DateTimeField()
    state = serializers.SerializerMethodField()

    def get_online(self, device) -> bool:
        return device_is_online(device)

    def get_state(self, device) -> dict:
        return self.context["states"].get(device.pk, {})


class HistoryPointSerializer(serializers.Serializer):
    alias = serializers.CharField()
    timestamp = serializers.IntegerField(help_text="µs since the epoch")
    value = serializers.CharField()


class FirmwarePackageSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    type = serializers.CharField()
    config_otau = serializers.JSONField()
    updated_at = serializers.DateTimeField()
