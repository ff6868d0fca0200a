"""Management API of firmware updates: ``/api/v1/connectors/<id>/firmware/…``.

``POST update/`` starts an update (the seed's ``POST /api/firmware/update`` with
``{"message", "devices"}``, plus packages, tag filters, waves, a success threshold and a device
timeout); ``rollouts/`` follows them with counts per status; ``packages/`` lists the firmware
packages of the content store; ``devices/<identity>/`` is one device's update status and history.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors.selectors import connector_access
from core.api import api_validation_error
from core.openapi import ErrorSerializer, conflict, integer_schema, query, text_schema
from devices.selectors import device_get
from firmware import selectors, services
from firmware.api.serializers import (
    DeviceFirmwareSerializer,
    FirmwareUpdateSerializer,
    PackageSerializer,
    RolloutDeviceSerializer,
    RolloutSerializer,
    RolloutUpdateSerializer,
)


class FirmwareDisabledError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = services.FirmwareDisabled.message
    default_code = "firmware_disabled"


def _rollout_data(rollouts, many=False):
    counts = selectors.rollout_counts(rollouts if many else [rollouts])
    return RolloutSerializer(rollouts, many=many, context={"counts": counts}).data


class FirmwareUpdateView(APIView):
    """Start a firmware update (a rollout); developer or admin role."""

    @extend_schema(
        request=FirmwareUpdateSerializer,
        responses={
            201: RolloutSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Firmware updates are off on this connector."),
        },
    )
    def post(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = FirmwareUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            rollout = services.rollout_start(
                connector=connector,
                config_otau=data.get("message"),
                package_id=data.get("package"),
                devices=data.get("devices"),
                device_filter=data.get("filter"),
                wave_size=data.get("wave_size"),
                success_threshold=data.get("success_threshold"),
                device_timeout=data.get("device_timeout"),
                created_by=request.user,
            )
        except services.FirmwareDisabled:
            raise FirmwareDisabledError() from None
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from None
        rollout.refresh_from_db()  # the first wave may have gone out already
        return Response(_rollout_data(rollout), status=status.HTTP_201_CREATED)


class PackageListView(APIView):
    """The connector's firmware packages (content items ``package_…``) with their versions."""

    @extend_schema(responses=PackageSerializer(many=True))
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(PackageSerializer(selectors.package_list(connector=connector), many=True).data)


class RolloutListView(APIView):
    """The connector's rollouts, newest first, with counts per status."""

    @extend_schema(responses=RolloutSerializer(many=True))
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(_rollout_data(list(selectors.rollout_list(connector=connector)[:100]), many=True))


class RolloutDetailView(APIView):
    """One rollout; ``PATCH {"state": "paused" | "running" | "cancelled"}`` pauses, resumes or
    cancels it."""

    @extend_schema(responses=RolloutSerializer)
    def get(self, request, connector_id, rollout_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(_rollout_data(selectors.rollout_get(connector=connector, rollout_id=rollout_id)))

    @extend_schema(
        request=RolloutUpdateSerializer,
        responses={200: RolloutSerializer, 409: conflict("The rollout's state does not allow it.")},
    )
    def patch(self, request, connector_id, rollout_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        rollout = selectors.rollout_get(connector=connector, rollout_id=rollout_id)
        serializer = RolloutUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        state = serializer.validated_data.get("state")
        if state is not None:  # a PATCH of nothing changes nothing
            rollout = services.rollout_set_state(rollout=rollout, state=state)
        rollout.refresh_from_db()
        return Response(_rollout_data(rollout))


class RolloutDeviceListView(APIView):
    """The devices of a rollout with their update status (``?status=``, ``?limit=`` ≤ 1000)."""

    @extend_schema(
        parameters=[
            query("status", text_schema(max_length=32), "one status, e.g. INSTALL_ERROR"),
            query("limit", integer_schema(1, 1000), "default 100"),
        ],
        responses=RolloutDeviceSerializer(many=True),
    )
    def get(self, request, connector_id, rollout_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        rollout = selectors.rollout_get(connector=connector, rollout_id=rollout_id)
        raw_limit = request.query_params.get("limit", "100")
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise exceptions.ValidationError({"limit": ["must be a whole number from 1 to 1000"]})
        wanted = request.query_params.get("status") or None
        if wanted is not None and (len(wanted) > 32 or "\x00" in wanted):
            raise exceptions.ValidationError({"status": ["not a status"]})
        updates = selectors.rollout_devices(rollout=rollout, status=wanted, limit=int(raw_limit))
        return Response(RolloutDeviceSerializer(updates, many=True).data)


class DeviceFirmwareView(APIView):
    """One device's firmware: the version it installed last, its updates and its otau_in reports."""

    @extend_schema(responses=DeviceFirmwareSerializer)
    def get(self, request, connector_id, identity):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        device = device_get(connector=connector, identity=identity)
        firmware = selectors.device_firmware(device=device)
        latest = firmware["updates"][0].status if firmware["updates"] else None
        data = {"identity": device.identity, "status": latest, **firmware}
        return Response(DeviceFirmwareSerializer(data).data)
