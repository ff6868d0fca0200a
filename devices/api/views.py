"""Management API: devices of a connector, their state and history."""

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors import runtime
from devices import services
from devices.api.serializers import (
    MAX_TIMESTAMP_US,
    DeviceCreateSerializer,
    DevicePageSerializer,
    DeviceSerializer,
    DeviceState,
    DeviceUpdateSerializer,
    ValuePointSerializer,
)
from devices.models import Device, DeviceTag, Status
from devices.selectors import device_get, device_history, device_state, status_q
from murano.api import action_for_method, connector_for_request


def connector_rules(connector):
    return runtime.resource_rules(connector.pk, connector.updated_at)


def whitelist_from_payload(connector, data) -> Device:
    """Shared by ``POST .../devices/`` and Device2 ``PUT .../identity/<id>``."""
    auth = data.get("auth") or {}
    if auth.get("type") == "csr":
        raise exceptions.ValidationError({"auth": ["CSR signing is not available on this connector."]})
    return services.device_whitelist(
        connector=connector,
        identity=data["identity"],
        auth_type=auth.get("type"),
        key=auth.get("key") or None,
        expire_us=auth.get("expire"),
        locked=data.get("locked", False),
        tags=data.get("tags"),
    )


def update_from_payload(device, data) -> Device:
    """Shared by ``PATCH .../devices/<id>/`` and Device2 ``PATCH .../identity/<id>``."""
    auth = data.get("auth") or {}
    return services.device_update(
        device=device, locked=data.get("locked"), expire_us=auth.get("expire"), tags=data.get("tags")
    )


class DevicePagination(CursorPagination):
    ordering = "identity"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class DeviceListView(APIView):
    """Devices of a connector (cursor-paginated by identity); POST whitelists one."""

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Status.values),
            OpenApiParameter("identity", OpenApiTypes.STR, description="identity prefix"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="page size, 1–1000 (default 100)"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from a page's next/previous URL"),
        ],
        responses=DevicePageSerializer,
        operation_id="api_v1_connectors_devices_list",
    )
    def get(self, request, connector_id):
        connector = connector_for_request(request, connector_id)
        devices = Device.objects.filter(connector=connector).prefetch_related(
            Prefetch("tags", queryset=DeviceTag.objects.order_by("name", "value"))
        )
        prefix = _text_param(request, "identity")
        if prefix:
            devices = devices.filter(identity__startswith=prefix)
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Status.values:
                raise exceptions.ValidationError({"status": [f"must be one of {', '.join(Status.values)}"]})
            devices = devices.filter(status_q(wanted))
        paginator = DevicePagination()
        page = paginator.paginate_queryset(devices, request, view=self)
        return paginator.get_paginated_response(DeviceSerializer(page, many=True).data)

    @extend_schema(request=DeviceCreateSerializer, responses={201: DeviceSerializer})
    def post(self, request, connector_id):
        connector = connector_for_request(request, connector_id, action="write")
        serializer = DeviceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = whitelist_from_payload(connector, serializer.validated_data)
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(APIView):
    """One device: read, change (``locked``, ``tags``, ``auth.expire``; 0 revokes), delete."""

    def _device(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id, action=action_for_method(request.method))
        return device_get(connector=connector, identity=identity)

    @extend_schema(responses=DeviceSerializer)
    def get(self, request, connector_id, identity):
        return Response(DeviceSerializer(self._device(request, connector_id, identity)).data)

    @extend_schema(request=DeviceUpdateSerializer, responses=DeviceSerializer)
    def patch(self, request, connector_id, identity):
        device = self._device(request, connector_id, identity)
        serializer = DeviceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update_from_payload(device, serializer.validated_data)
        return Response(DeviceSerializer(device).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id, identity):
        services.device_delete(device=self._device(request, connector_id, identity))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceStateView(APIView):
    """``{alias: {"reported", "set", "timestamp"}}``; PATCH ``{alias: value}`` sets cloud values."""

    @extend_schema(responses={200: DeviceState})
    def get(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        return Response(device_state(device=device, rules=connector_rules(connector)))

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={200: DeviceState},
    )
    def patch(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id, action="write")
        device = device_get(connector=connector, identity=identity)
        rules = connector_rules(connector)
        services.device_state_set(device=device, values=request.data, rules=rules)
        return Response(device_state(device=device, rules=rules))


def _text_param(request, name) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise exceptions.ValidationError({name: ["must not contain NUL characters"]})
    return value


def _int_param(request, name, default=None, minimum=0, maximum=MAX_TIMESTAMP_US):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["must be an integer"]}) from None
    if value < minimum or value > maximum:
        raise exceptions.ValidationError({name: [f"must be between {minimum} and {maximum}"]})
    return value


class DeviceHistoryView(APIView):
    """Recorded points, newest first; ``since``/``until`` are µs timestamps."""

    @extend_schema(
        parameters=[
            OpenApiParameter("alias", OpenApiTypes.STR),
            OpenApiParameter("since", OpenApiTypes.INT, description="µs timestamp (inclusive)"),
            OpenApiParameter("until", OpenApiTypes.INT, description="µs timestamp (inclusive)"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–10000, default 100"),
        ],
        responses=ValuePointSerializer(many=True),
    )
    def get(self, request, connector_id, identity):
        connector = connector_for_request(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        points = device_history(
            device=device,
            alias=_text_param(request, "alias") or None,
            since_us=_int_param(request, "since"),
            until_us=_int_param(request, "until"),
            limit=_int_param(request, "limit", 100, 1, 10_000),
        )
        return Response(ValuePointSerializer(points, many=True).data)
