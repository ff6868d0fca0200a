"""Management API of claiming (business members; viewers read only, outsiders 404): a
connector's end users, a device's claim codes, links and QR codes, and claim codes in bulk.

- ``GET/POST /api/v1/connectors/<id>/end-users/`` (``?q=``: e-mail or name; cursor pages),
  ``GET/PATCH/DELETE …/end-users/<user id>/``, ``POST …/end-users/<user id>/password/``;
- ``GET …/devices/<identity>/claim/``, ``…/claim/qr.svg``, ``…/claim/qr.png`` (``?code=``);
- ``POST …/claim-codes/`` (the device list's filters; ``{"generate": true}``) → a job,
  ``GET …/claim-codes.csv`` (same filters).

Contract: shared/docs/claiming-and-portal.md.
"""

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from claiming import codes
from claiming.api.serializers import (
    ClaimCodesGenerateSerializer,
    ClaimInfoSerializer,
    EndUserCreateSerializer,
    EndUserPageSerializer,
    EndUserPasswordSerializer,
    EndUserSerializer,
    EndUserUpdateSerializer,
)
from claiming.paging import MAX_CURSOR_LENGTH, end_user_page
from claiming.selectors import end_user_get, end_users_for_connector, end_users_with_device_count
from claiming.services import end_user_create, end_user_delete, end_user_password_set, end_user_update
from connectors.selectors import connector_access, portal_url
from core.csv_safety import LineEcho, csv_writer
from core.openapi import conflict, integer_schema, query, text_schema
from devices.api.views import FILTER_PARAMETERS
from devices.filters import DeviceFilter
from devices.selectors import device_get
from jobs.api.serializers import JobSerializer

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_Q_LENGTH = 254


def _connector(request, connector_id, action=None):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action or action_for_method(request.method)
    ).connector


# --- end users -----------------------------------------------------------------------------------


def _param(request, name: str, max_length: int) -> str | None:
    value = request.query_params.get(name)
    if value is not None and ("\x00" in value or len(value) > max_length):
        raise exceptions.ValidationError({name: [f"at most {max_length} characters, no NUL"]})
    return value


def _limit(request) -> int:
    raw = request.query_params.get("limit")
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({"limit": ["must be an integer"]}) from None
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise exceptions.ValidationError({"limit": [f"must be between 1 and {MAX_PAGE_SIZE}"]})
    return value


def _page_url(url: str, cursor: str | None) -> str | None:
    return replace_query_param(url, "cursor", cursor) if cursor else None


class EndUserListView(APIView):
    """The connector's end users (e-mail order, cursor pages); POST creates one."""

    @extend_schema(
        parameters=[
            query(
                "q", text_schema(max_length=MAX_Q_LENGTH), "a part of the e-mail address or name, any case"
            ),
            query("limit", integer_schema(1, MAX_PAGE_SIZE, blank=True), f"default {DEFAULT_PAGE_SIZE}"),
            query("cursor", text_schema(max_length=MAX_CURSOR_LENGTH, format="cursor"), "from next/previous"),
        ],
        responses=EndUserPageSerializer,
        operation_id="api_v1_connectors_end_users_list",
    )
    def get(self, request, connector_id):
        connector = _connector(request, connector_id)
        q = _param(request, "q", MAX_Q_LENGTH)
        cursor = _param(request, "cursor", MAX_CURSOR_LENGTH) or None
        limit = _limit(request)
        users, next_cursor, previous_cursor = end_user_page(
            end_users_with_device_count(end_users_for_connector(connector, q)), cursor=cursor, limit=limit
        )
        url = request.build_absolute_uri()
        return Response(
            {
                "next": _page_url(url, next_cursor),
                "previous": _page_url(url, previous_cursor),
                "results": EndUserSerializer(users, many=True).data,
            }
        )

    @extend_schema(
        request=EndUserCreateSerializer,
        responses={201: EndUserSerializer, 409: conflict("An end user with this e-mail address exists.")},
    )
    def post(self, request, connector_id):
        connector = _connector(request, connector_id)
        serializer = EndUserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = end_user_create(connector=connector, **serializer.validated_data)
        return Response(EndUserSerializer(user).data, status=status.HTTP_201_CREATED)


class EndUserDetailView(APIView):
    """One end user: read, change, delete (they no longer own any device)."""

    def _user(self, request, connector_id, user_id):
        return end_user_get(_connector(request, connector_id), user_id)

    @extend_schema(responses=EndUserSerializer)
    def get(self, request, connector_id, user_id):
        connector = _connector(request, connector_id)
        user = end_users_with_device_count(end_users_for_connector(connector)).filter(
            pk=end_user_get(connector, user_id).pk
        )
        return Response(EndUserSerializer(user.get()).data)

    @extend_schema(
        request=EndUserUpdateSerializer,
        responses={200: EndUserSerializer, 409: conflict("An end user with this e-mail address exists.")},
    )
    def patch(self, request, connector_id, user_id):
        connector = _connector(request, connector_id)
        user = end_user_get(connector, user_id)
        serializer = EndUserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        end_user_update(user=user, **serializer.validated_data)
        fresh = end_users_with_device_count(end_users_for_connector(connector)).get(pk=user.pk)
        return Response(EndUserSerializer(fresh).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id, user_id):
        end_user_delete(user=self._user(request, connector_id, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndUserPasswordView(APIView):
    """Set an end user's password (the platform's password rules apply); their sessions end."""

    @extend_schema(request=EndUserPasswordSerializer, responses={204: None})
    def post(self, request, connector_id, user_id):
        user = end_user_get(_connector(request, connector_id, "write"), user_id)
        serializer = EndUserPasswordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        end_user_password_set(user=user, password=serializer.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- one device's claim codes --------------------------------------------------------------------


class ClaimInfoView(APIView):
    """A device's claim codes, their standard and ExoSense links, ``expires`` and owners."""

    @extend_schema(responses=ClaimInfoSerializer)
    def get(self, request, connector_id, identity):
        connector = _connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        info = codes.device_claim_info(device=device, portal_url=portal_url(connector, request))
        return Response(info.as_dict())


CODE_PARAMETER = query(
    "code", text_schema(max_length=255), "one of the device's claim codes (default: its first)"
)


class _QrView(APIView):
    kind = "svg"

    def perform_content_negotiation(self, request, force=False):
        # The image goes as it is whatever Accept asks; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request, connector_id, identity):
        connector = _connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        code = codes.device_claim_code_pick(device, _param(request, "code", 255))
        if code is None:
            raise exceptions.NotFound("The device has no such claim code.")
        link = codes.claim_url(
            portal_url=portal_url(connector, request), connector_id=connector.pk, code=code
        )
        if self.kind == "svg":
            return HttpResponse(codes.qr_svg(link), content_type="image/svg+xml")
        return HttpResponse(codes.qr_png(link), content_type="image/png")


class ClaimQrSvgView(_QrView):
    """A QR code of the device's standard claim link, as SVG; 404 when ``code`` is not one of
    the device's (or it has none)."""

    kind = "svg"

    @extend_schema(
        parameters=[CODE_PARAMETER],
        responses={(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The QR code.")},
    )
    def get(self, request, connector_id, identity):
        return super().get(request, connector_id, identity)


class ClaimQrPngView(_QrView):
    """A QR code of the device's standard claim link, as PNG; 404 when ``code`` is not one of
    the device's (or it has none)."""

    kind = "png"

    @extend_schema(
        parameters=[CODE_PARAMETER],
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The QR code.")},
    )
    def get(self, request, connector_id, identity):
        return super().get(request, connector_id, identity)


# --- claim codes in bulk -------------------------------------------------------------------------

# The device list's filters, without its paging: the codes of every matching device.
_FILTERS = [FILTER_PARAMETERS[name] for name in ("status", "identity", "q", "tag", "ip")]


class ClaimCodesView(APIView):
    """``{"generate": true}`` with the device list's filters as query parameters: every matching
    device gets a fresh random code (12 characters without look-alikes) instead of its
    ``claim_code`` tags. Answers ``202`` with the job, which ``GET /api/v1/jobs/<id>/`` follows
    (``total``, ``done``; ``updated``: devices given a code)."""

    @extend_schema(
        parameters=_FILTERS,
        request=ClaimCodesGenerateSerializer,
        responses={202: JobSerializer},
        operation_id="api_v1_connectors_claim_codes_generate",
    )
    def post(self, request, connector_id):
        connector = _connector(request, connector_id, "write")
        serializer = ClaimCodesGenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data["generate"]:
            raise exceptions.ValidationError({"generate": ["must be true: what else should happen?"]})
        job = codes.claim_codes_generate_start(
            connector=connector, user=request.user, params=request.query_params
        )
        location = reverse("jobs-api:job-detail", kwargs={"job_id": str(job.pk)})
        return Response(
            JobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class ClaimCodesCsvView(APIView):
    """``identity,claim_code,claim_url`` for every claim code of the matching devices (the
    device list's filters), streamed; cells a spreadsheet would run as a formula are quoted."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=_FILTERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file.")},
        operation_id="api_v1_connectors_claim_codes_csv",
    )
    def get(self, request, connector_id):
        connector = _connector(request, connector_id)
        device_filter = DeviceFilter.from_params(
            request.query_params, accept=("status", "identity", "q", "tag", "ip")
        )
        rows = codes.claim_code_rows(
            connector=connector, device_filter=device_filter, portal_url=portal_url(connector, request)
        )
        writer = csv_writer(LineEcho())
        response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{connector.pk}-claim-codes.csv"'
        return response
