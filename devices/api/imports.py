"""Bulk whitelisting from CSV over the API: ``POST /api/v1/connectors/<id>/devices/import/`` and
Murano's ``POST /api:1/service/<id>/device2/identities``. Both store the upload and answer
``202`` with the queued job; a Celery worker imports it (``devices.imports``)."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors.selectors import connector_access
from core.openapi import ErrorSerializer
from devices.api.views import DeviceDetailView
from devices.imports import ImportFileError, ImportFileTooLarge, device_import_start
from jobs.api.serializers import JobSerializer


class FileTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The file is too large."
    default_code = "too_large"


class DeviceImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV: a header row (ID, TLS Client Certificate or Certificate, Tags), then a row per device"
    )


class Device2IdentitiesSerializer(serializers.Serializer):
    identities = serializers.FileField(help_text="the identities.csv of Murano's bulk whitelisting")


def _refuse_large_body(request) -> None:
    # Refused from Content-Length, before the body is read: no point receiving 2 GB to say no.
    # (A body without one is measured once received, by device_import_start.)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    # Allow for the multipart envelope around the file.
    if length > settings.DEVICE_IMPORT_MAX_BYTES + 64 * 1024:
        raise FileTooLarge(ImportFileTooLarge().message)


def import_upload(request, connector_id: str, field: str, serializer_class) -> Response:
    """Check access and the upload, queue the import job, answer ``202`` with it."""
    connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
    _refuse_large_body(request)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    upload = serializer.validated_data[field]
    try:
        job = device_import_start(connector=connector, user=request.user, upload=upload)
    except ImportFileTooLarge as exc:
        raise FileTooLarge(exc.message) from None
    except ImportFileError as exc:
        raise exceptions.ValidationError({field: [exc.message]}) from None
    location = reverse("jobs-api:job-detail", kwargs={"job_id": str(job.pk)})
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class DeviceImportView(APIView):
    """Whitelist devices in bulk from a CSV file (multipart ``file``); answers ``202`` with the
    job, which ``GET /api/v1/jobs/<id>/`` follows to its end. Developer or admin role."""

    def dispatch(self, request, *args, **kwargs):
        # ``devices/import/`` is also the path of a device whose identity is "import": every
        # method but POST is about that device.
        if request.method != "POST":
            return DeviceDetailView.as_view()(request, connector_id=kwargs["connector_id"], identity="import")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": DeviceImportSerializer},
        responses={202: JobSerializer, 413: OpenApiResponse(ErrorSerializer, "The file is too large.")},
        operation_id="api_v1_connectors_devices_import",
    )
    def post(self, request, connector_id):
        return import_upload(request, connector_id, "file", DeviceImportSerializer)


class Device2IdentitiesView(APIView):
    """Murano's bulk whitelisting (``curl -F identities=@identities.csv``): the same import as
    ``POST /api/v1/connectors/<id>/devices/import/``, answering ``202`` with the job."""

    @extend_schema(
        request={"multipart/form-data": Device2IdentitiesSerializer},
        responses={202: JobSerializer, 413: OpenApiResponse(ErrorSerializer, "The file is too large.")},
    )
    def post(self, request, connector_id):
        return import_upload(request, connector_id, "identities", Device2IdentitiesSerializer)
