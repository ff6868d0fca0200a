"""Management API of a connector's portal (business members; viewers read only, outsiders 404):

- ``GET/PUT/DELETE /api/v1/connectors/<id>/portal/branding/``: the seed's ``branding.json``
  (PUT: the whole document, defaults for what is missing; DELETE: the defaults again);
- ``GET/PUT/DELETE …/portal/assets/<brandlogo.png|device.png|favicon.ico>``: an image as the raw
  body, any Content-Type (≤ 1 MB: 413 past it; decoded to check it is PNG, or ICO or PNG for the
  favicon) → 204; DELETE → 204, the default again; GET: the image served now;
- ``GET/PUT …/portal/email-template/``: the welcome e-mail ``{"subject", "html"}``.

Contract: shared/docs/claiming-and-portal.md, "Branding and the welcome e-mail".
"""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors.selectors import connector_access
from core.parsers import JSONParser
from portal import services
from portal.api.serializers import EmailTemplateSerializer, branding_schema
from portal.branding import ASSET_NAMES, assets_of, branding_of


def _connector(request, connector_id):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    ).connector


class BrandingView(APIView):
    """The portal's ``branding.json``: what ``/vendor/branding.json`` serves on the portal host."""

    parser_classes = [JSONParser]

    @extend_schema(responses={200: branding_schema(complete=True)}, operation_id="api_v1_portal_branding_get")
    def get(self, request, connector_id):
        return Response(branding_of(_connector(request, connector_id)))

    @extend_schema(
        request={"application/json": branding_schema(complete=False)},
        responses={200: branding_schema(complete=True)},
        operation_id="api_v1_portal_branding_put",
        description="The whole document: fields left out take the defaults. 400 names each wrong "
        "field by its path (`theme.primary`, `landingPage.deviceSpecs.2`).",
    )
    def put(self, request, connector_id):
        connector = _connector(request, connector_id)
        return Response(services.branding_set(connector=connector, document=request.data))

    @extend_schema(responses={204: None}, operation_id="api_v1_portal_branding_reset")
    def delete(self, request, connector_id):
        services.branding_reset(connector=_connector(request, connector_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


ASSET_NAME = OpenApiParameter(
    "asset_name", {"type": "string", "enum": list(ASSET_NAMES)}, OpenApiParameter.PATH, description="an image"
)
_IMAGE_TYPES = ("image/png", services.ICO_TYPE, "application/octet-stream")


def _read_capped(request) -> bytes:
    """The raw body, refused (413) past ``ASSET_MAX_BYTES`` before it is all read."""
    limit = services.ASSET_MAX_BYTES
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit:
        raise RequestDataTooBig("The image is larger than 1 MB.")
    stream = request.stream
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise RequestDataTooBig("The image is larger than 1 MB.")
    return data


class AssetView(APIView):
    """One of the portal's three images."""

    def perform_content_negotiation(self, request, force=False):
        # The image goes as it is whatever Accept asks; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[ASSET_NAME],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The image."),
            (200, services.ICO_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The favicon."),
        },
        operation_id="api_v1_portal_asset_get",
    )
    def get(self, request, connector_id, asset_name):
        connector = _connector(request, connector_id)
        name = services.asset_name_check(asset_name)
        asset = assets_of(connector).get(name)
        if asset is None:
            data, _ = services.asset_default(name)
            return HttpResponse(data, content_type=services.DEFAULT_ASSET_TYPES[name])
        with services.asset_storage().open(asset.storage_name, "rb") as file:
            return HttpResponse(file.read(), content_type=asset.content_type)

    @extend_schema(
        parameters=[ASSET_NAME],
        request={media_type: OpenApiTypes.BINARY for media_type in _IMAGE_TYPES},
        responses={204: None},
        operation_id="api_v1_portal_asset_put",
        description="The raw image as the body (any Content-Type), at most 1 MB (413 past it). "
        "PNG for brandlogo.png and device.png, ICO or PNG for favicon.ico, checked by decoding it.",
    )
    def put(self, request, connector_id, asset_name):
        connector = _connector(request, connector_id)
        name = services.asset_name_check(asset_name)
        services.asset_put(connector=connector, name=name, data=_read_capped(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[ASSET_NAME], responses={204: None}, operation_id="api_v1_portal_asset_delete")
    def delete(self, request, connector_id, asset_name):
        connector = _connector(request, connector_id)
        services.asset_delete(connector=connector, name=services.asset_name_check(asset_name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailTemplateView(APIView):
    """The welcome e-mail's template (the built-in one until one is saved)."""

    parser_classes = [JSONParser]

    @extend_schema(responses=EmailTemplateSerializer, operation_id="api_v1_portal_email_template_get")
    def get(self, request, connector_id):
        connector = _connector(request, connector_id)
        return Response(services.email_template_of(connector).as_dict())

    @extend_schema(
        request=EmailTemplateSerializer,
        responses=EmailTemplateSerializer,
        operation_id="api_v1_portal_email_template_put",
        description="Refused (400, “cannot render: …”) when a variable is unknown, a `<%` is not "
        "closed, the subject is empty or the html has no `<%LINK%>`.",
    )
    def put(self, request, connector_id):
        connector = _connector(request, connector_id)
        serializer = EmailTemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = services.email_template_set(connector=connector, **serializer.validated_data)
        return Response(template.as_dict())
