"""Management API of the content store: ``/api/v1/connectors/<id>/content/``.

``GET`` lists the items, ``POST`` uploads one (multipart ``id``, ``file``, ``description``,
optional ``content_type``; an existing id is replaced), ``GET/PATCH/DELETE .../content/<id>/``
read, describe and delete one, ``GET .../content/<id>/download/`` streams its bytes (one
``Range`` honoured: ``206``/``416``). Uploads are held to ``CONTENT_MAX_BYTES`` while they
stream in: ``413`` with nothing stored.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors.content import services
from connectors.content.errors import ContentForbidden, ContentTooLarge, UploadInterrupted
from connectors.content.ranges import RangeNotSatisfiable, content_range
from connectors.content.selectors import content_get, content_list, content_open
from connectors.content.uploads import content_upload_handlers
from connectors.models import CONTENT_ID_MAX_LENGTH, ContentItem
from connectors.selectors import connector_access
from core.api import StrictTypes, api_validation_error
from core.openapi import WHITESPACE, ErrorSerializer, documented
from core.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


class RangeNotSatisfiableError(exceptions.APIException):
    status_code = status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE
    default_detail = "Range not satisfiable."
    default_code = "range_not_satisfiable"


class ContentItemSerializer(serializers.ModelSerializer):
    """A content item as people see it; ``package`` is a firmware package's metadata."""

    id = serializers.CharField(source="content_id", read_only=True)
    package = serializers.JSONField(read_only=True, allow_null=True)
    download = serializers.SerializerMethodField(help_text="where to download the item's bytes")

    class Meta:
        model = ContentItem
        fields = [
            "id", "content_type", "size", "sha256", "description", "package", "uploaded_by_device",
            "created_at", "updated_at", "download",
        ]  # fmt: skip
        read_only_fields = fields

    def get_download(self, item) -> str:
        return reverse(
            "connectors-api:content-download",
            kwargs={"connector_id": item.connector_id, "content_id": item.content_id},
        )


# What the content service takes (connectors/content/services.py), as patterns: an id, a MIME
# type (around whitespace it trims), a description of one line.
CONTENT_ID_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9._\-]{{0,{CONTENT_ID_MAX_LENGTH - 1}}}$"
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}"
_SPACES = f"[{WHITESPACE}]*"
_MIME_PARAMETERS = rf"({_SPACES};{_SPACES}[^,\u0000-\u001f\u007f]*)?"
MIME_PATTERN = rf"^{_SPACES}{_MIME_TOKEN}/{_MIME_TOKEN}{_MIME_PARAMETERS}{_SPACES}$"
DESCRIPTION_PATTERN = rf"^{_SPACES}[^\u0000-\u001f\u007f]*{_SPACES}$"


class ContentUploadSerializer(serializers.Serializer):
    """The multipart form of an upload (validated by the content service)."""

    id = documented(
        serializers.CharField(
            required=False, allow_blank=True, trim_whitespace=False, max_length=CONTENT_ID_MAX_LENGTH,
            help_text="letters, digits, '.', '_', '-'; empty or absent: the file's name. "
            "Ids starting with package_ are firmware packages (JSON metadata).",
        ),
        {"type": "string", "pattern": f"{CONTENT_ID_PATTERN}|^$"},
    )  # fmt: skip
    file = serializers.FileField(allow_empty_file=True, help_text="the item's bytes (under 64 MB)")
    description = documented(
        serializers.CharField(required=False, allow_blank=True, max_length=1000),
        {"type": "string", "pattern": DESCRIPTION_PATTERN},
    )
    content_type = documented(
        serializers.CharField(
            required=False, allow_blank=True, max_length=255,
            help_text="MIME type; default: the upload's, else guessed from the id",
        ),
        {"type": "string", "pattern": rf"{MIME_PATTERN}|^{_SPACES}$"},
    )  # fmt: skip


class ContentUpdateSerializer(StrictTypes, serializers.Serializer):
    description = documented(
        serializers.CharField(required=False, allow_blank=True, max_length=1000),
        {"type": "string", "pattern": DESCRIPTION_PATTERN},
    )
    content_type = documented(
        serializers.CharField(required=False, max_length=255), {"type": "string", "pattern": MIME_PATTERN}
    )


class ContentErrorsMixin:
    """The content store's own errors as API answers."""

    def handle_exception(self, exc):
        if isinstance(exc, ContentTooLarge):
            exc = PayloadTooLarge(exc.message)
        elif isinstance(exc, UploadInterrupted):
            exc = exceptions.ValidationError({"file": [str(exc)]})
        elif isinstance(exc, ContentForbidden):
            exc = exceptions.PermissionDenied(exc.message)
        elif isinstance(exc, RangeNotSatisfiable):
            response = super().handle_exception(RangeNotSatisfiableError(exc.message))
            response["Content-Range"] = exc.content_range
            return response
        return super().handle_exception(exc)


class ContentListView(ContentErrorsMixin, APIView):
    """The connector's content items; ``POST`` uploads one (multipart)."""

    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything (authentication's CSRF check included) reads the body.
        if request.method == "POST":
            content_upload_handlers(request, limit=settings.CONTENT_MAX_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=ContentItemSerializer(many=True))
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(ContentItemSerializer(content_list(connector=connector), many=True).data)

    @extend_schema(
        request={"multipart/form-data": ContentUploadSerializer},
        responses={
            201: ContentItemSerializer,
            200: OpenApiResponse(ContentItemSerializer, description="The item of that id, replaced."),
            413: OpenApiResponse(ErrorSerializer, description="The file is 64 MB or more."),
        },
        description="Upload an item; an existing id is replaced (its description kept unless given). "
        "Answers 201 for a new item, 200 for a replaced one.",
    )
    def post(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = ContentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        content_type = data.get("content_type") or None
        if content_type is None and upload.content_type not in (None, "", "application/octet-stream"):
            content_type = upload.content_type
        try:
            item, created = services.content_upload(
                connector=connector,
                content_id=data.get("id") or upload.name,
                stream=upload,
                content_type=content_type,
                description=data.get("description"),
                length=upload.size,
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from None
        finally:
            upload.close()
        return Response(
            ContentItemSerializer(item).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ContentDetailView(ContentErrorsMixin, APIView):
    """One content item: its description, MIME type, size, checksum and package metadata."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def _item(self, request, connector_id, content_id):
        connector = connector_access(
            user=request.user, connector_id=connector_id, action=action_for_method(request.method)
        ).connector
        return content_get(connector=connector, content_id=content_id)

    @extend_schema(responses=ContentItemSerializer)
    def get(self, request, connector_id, content_id):
        return Response(ContentItemSerializer(self._item(request, connector_id, content_id)).data)

    @extend_schema(request=ContentUpdateSerializer, responses=ContentItemSerializer)
    def patch(self, request, connector_id, content_id):
        item = self._item(request, connector_id, content_id)
        serializer = ContentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.content_update(item=item, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from None
        return Response(ContentItemSerializer(item).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id, content_id):
        services.content_delete(item=self._item(request, connector_id, content_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContentDownloadView(ContentErrorsMixin, APIView):
    """The item's bytes, streamed; a ``Range: bytes=a-b`` header gets ``206`` with that part."""

    def perform_content_negotiation(self, request, force=False):
        # The bytes go with the item's own type whatever Accept asks (application/octet-stream
        # would find no renderer: 406); errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Range",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="one byte range (bytes=a-b, bytes=a-, bytes=-n): answered 206 with "
                "Content-Range, or 416 when it starts past the end",
            )  # fmt: skip
        ],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The item's bytes, with its own Content-Type."
            ),
            (206, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The range asked, with Content-Range."
            ),
            416: OpenApiResponse(ErrorSerializer, description="The range starts past the end."),
        },
    )
    def get(self, request, connector_id, content_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        item = content_get(connector=connector, content_id=content_id)
        return content_response(item, request.headers.get("Range"))


def content_response(item: ContentItem, range_header: str | None) -> StreamingHttpResponse:
    """A streaming download of ``item`` (whole, or the one range asked)."""
    try:
        stream, byte_range = content_open(item=item, range_header=range_header)
    except FileNotFoundError:
        raise exceptions.NotFound("The item's file is missing from storage.") from None
    response = StreamingHttpResponse(
        stream, content_type=item.content_type, status=206 if byte_range else 200
    )
    start, end = byte_range if byte_range else (0, item.size - 1)
    response["Content-Length"] = str(max(0, end - start + 1))
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = f'"{item.sha256}"'
    response["Content-Disposition"] = f'attachment; filename="{item.content_id}"'
    if byte_range:
        response["Content-Range"] = content_range(start, end, item.size)
    return response
