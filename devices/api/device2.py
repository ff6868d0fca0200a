"""Murano Device2 compatibility routes (``/api:1/service/<connector-id>/device2/...``).

Thin adapters over the same services and selectors as the ``/api/v1`` routes, answering with
Murano's shapes and status codes (204 on whitelist/update, 205 on delete).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices import services
from devices.api.serializers import (
    AuthInputSerializer,
    Device2Serializer,
    DeviceState,
    DeviceUpdateSerializer,
    TagSerializer,
)
from devices.api.views import connector_rules, update_from_payload, whitelist_from_payload
from devices.models import Device
from devices.selectors import datetime_to_us, device_get, device_is_online, device_state
from murano.api import action_for_method, connector_for_request


class Device2WhitelistSerializer(serializers.Serializer):
    auth = AuthInputSerializer(required=False)
    locked = serializers.BooleanField(required=False, default=False)
    tags = TagSerializer(many=True, required=False)


def device2_representation(device: Device, rules) -> dict:
    return {
        "identity": device.identity,
        "auth": {"type": device.auth_type or None},
        "state": device_state(device=device, rules=rules),
        "locked": device.locked,
        "reprovision": device.reprovision,
        "devmode": device.devmode,
        "lastip": device.last_ip,
        "lastseen": datetime_to_us(device.last_seen),
        "status": device.status,
        "online": device_is_online(device),
        "tags": [{"name": t.name, "value": t.value} for t in device.tags.order_by("name", "value")],
    }


class Device2IdentityView(APIView):
    """Whitelist (PUT), read (GET), change (PATCH) or remove (DELETE) one identity."""

    def _connector(self, request, connector_id):
        return connector_for_request(request, connector_id, action=action_for_method(request.method))

    @extend_schema(request=Device2WhitelistSerializer, responses={204: None})
    def put(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        serializer = Device2WhitelistSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if Device.objects.filter(connector=connector, identity=identity).exists():
            raise exceptions.ValidationError({"identity": ["this identity is already whitelisted"]})
        whitelist_from_payload(connector, {**serializer.validated_data, "identity": identity})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=Device2Serializer)
    def get(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        return Response(device2_representation(device, connector_rules(connector)))

    @extend_schema(request=DeviceUpdateSerializer, responses={204: None})
    def patch(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        serializer = DeviceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update_from_payload(device, serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={205: None})
    def delete(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        services.device_delete(device=device_get(connector=connector, identity=identity))
        return Response(status=status.HTTP_205_RESET_CONTENT)


class Device2StateView(APIView):
    """Read the identity's state, or set cloud values (``{alias: value}``)."""

    @extend_schema(responses={200: DeviceState})
    def get(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        return Response(device_state(device=device, rules=connector_rules(connector)))

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={204: None},
    )
    def patch(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id, action="write")
        device = device_get(connector=connector, identity=identity)
        services.device_state_set(device=device, values=request.data, rules=connector_rules(connector))
        return Response(status=status.HTTP_204_NO_CONTENT)
