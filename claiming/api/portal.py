"""The portal's JSON API (shared/docs/claiming-and-portal.md, "The portal"): thin views over
``claiming.services`` and ``claiming.selectors``, served on portal hosts only
(``portal.middleware``). Every call but ``POST /api/session`` needs an end user's session
(``claiming.authentication``); another user's device is a 404. Errors are ``{"detail": ...}``
(``core.api.exception_handler``); refusals carry their status (and ``Retry-After`` for 429)."""

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.backends import request_address
from claiming import selectors, services
from claiming.api.serializers_portal import (
    ClaimSerializer,
    FirmwarePackageSerializer,
    FirmwareUpdateSerializer,
    HistoryPointSerializer,
    PortalDeviceSerializer,
    SessionStartSerializer,
)
from claiming.authentication import EndUserAuthentication, IsEndUser
from connectors.runtime import connector_rules
from devices.selectors import device_history, device_state
from firmware.selectors import package_list
from firmware.services import FirmwareDisabled

HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 1000


def refused(exc: services.Refused) -> Response:
    response = Response({"detail": exc.message}, status=exc.status)
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


class PortalView(APIView):
    """A call of the portal's API by an end user of the portal host's connector."""

    authentication_classes = [EndUserAuthentication]
    permission_classes = [IsEndUser]
    schema = None  # not part of the management API's schema

    @property
    def end_user(self):
        return self.request._request.end_user

    @property
    def connector(self):
        return self.request._request.portal_connector


class SessionView(PortalView):
    """``POST``: log in (``{"email", "password"}`` → ``{"token"}``); ``DELETE``: log out."""

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else super().get_permissions()

    def perform_authentication(self, request):
        # Logging in ignores whatever stale key the client still sends.
        if request.method != "POST":
            super().perform_authentication(request)

    def post(self, request):
        data = SessionStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            key = services.session_start(
                connector=self.connector, email=data.validated_data["email"],
                password=data.validated_data["password"], ip=request_address(request) or "",
            )  # fmt: skip
        except services.SessionRefused as exc:
            return refused(exc)
        return Response({"token": key})

    def delete(self, request):
        services.session_end(key=request._request.end_user_session_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceListView(PortalView):
    """The user's devices with their current values."""

    def get(self, request):
        devices = list(selectors.devices_of_end_user(self.end_user).prefetch_related("states")[:1000])
        rules = connector_rules(self.connector)
        states = {device.pk: device_state(device=device, rules=rules) for device in devices}
        return Response(PortalDeviceSerializer(devices, many=True, context={"states": states}).data)


class ClaimView(PortalView):
    """Claim the devices of a code: ``{"claim_code"}`` → ``{"claimed": [identities]}``."""

    def post(self, request):
        data = ClaimSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            claimed = services.claim(
                user=self.end_user,
                claim_code=data.validated_data["claim_code"],
                ip=request_address(request) or "",
            )
        except services.ClaimRefused as exc:
            return refused(exc)
        return Response({"claimed": claimed})


class DeviceView(PortalView):
    """``DELETE``: the user releases the device (no longer one of its owners)."""

    def delete(self, request, identity):
        device = selectors.device_of_end_user(self.end_user, identity)
        services.release(user=self.end_user, device=device, ip=request_address(request) or "")
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceStateView(PortalView):
    """``PATCH {alias: value}``: set settable values of the user's device."""

    def patch(self, request, identity):
        device = selectors.device_of_end_user(self.end_user, identity)
        services.owner_state_set(device=device, values=request.data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceHistoryView(PortalView):
    """The recorded points of the user's device, newest first (``?alias=``, ``?limit=``)."""

    def get(self, request, identity):
        device = selectors.device_of_end_user(self.end_user, identity)
        limit = request.query_params.get("limit", str(HISTORY_DEFAULT_LIMIT))
        if not limit.isdigit() or not 1 <= int(limit) <= HISTORY_MAX_LIMIT:
            raise ValidationError({"limit": f"a whole number from 1 to {HISTORY_MAX_LIMIT}"})
        points = device_history(
            device=device, alias=request.query_params.get("alias") or None, since_us=None, until_us=None,
            limit=int(limit),
        )  # fmt: skip
        return Response(HistoryPointSerializer(points, many=True).data)


class FirmwareListView(PortalView):
    """The firmware versions available to the user's devices (none while updates are off)."""

    def get(self, request):
        if not self.connector.firmware_update_enabled:
            return Response([])
        return Response(FirmwarePackageSerializer(package_list(connector=self.connector), many=True).data)


class FirmwareUpdateView(PortalView):
    """The seed's ``POST /api/firmware/update`` ``{"message", "devices"}``: only the caller's
    own devices (404 for any other)."""

    def post(self, request):
        data = FirmwareUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            rollout = services.owner_firmware_update(
                user=self.end_user,
                message=data.validated_data["message"],
                devices=data.validated_data["devices"],
            )
        except FirmwareDisabled:
            return Response({"detail": FirmwareDisabled.message}, status=status.HTTP_409_CONFLICT)
        return Response(
            {"id": rollout.pk, "version": rollout.version, "devices": rollout.device_count},
            status=status.HTTP_201_CREATED,
        )
