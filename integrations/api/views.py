"""Management API of a connector's integration: ``/api/v1/connectors/<id>/integration/…``.

``PUT`` creates or replaces it (every problem of the spec, the configuration and the sync
settings answered at once), ``GET`` shows it (secrets as ``{"set": true}``), ``DELETE`` removes
it (its devices stay); ``sync/`` starts a run (a job, like the CSV import); ``health/`` shows or
(POST) checks the third party's health now; ``operations/`` lists the spec's operations and
``operations/<id>/call/`` calls one.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors.selectors import connector_access
from core.api import api_validation_error
from core.openapi import ErrorSerializer
from integrations import operations, selectors, services
from integrations.api.serializers import (
    INTEGRATION_PUT_SCHEMA,
    OPERATION_CALL_SCHEMA,
    HealthSerializer,
    IntegrationSerializer,
    OperationAnswerSerializer,
    OperationSerializer,
)
from integrations.client import CallFailed
from jobs.api.serializers import JobSerializer


class ThirdPartyUnreachable(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The third party's API could not be reached."
    default_code = "third_party_unreachable"


def _connector(request, connector_id):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    ).connector


def _integration(request, connector_id):
    return selectors.integration_get(connector=_connector(request, connector_id))


class IntegrationView(APIView):
    """The connector's integration: another cloud's API feeding it (docs/integrations.md)."""

    @extend_schema(responses=IntegrationSerializer)
    def get(self, request, connector_id):
        return Response(selectors.integration_json(_integration(request, connector_id)))

    @extend_schema(request={"application/json": INTEGRATION_PUT_SCHEMA}, responses=IntegrationSerializer)
    def put(self, request, connector_id):
        connector = _connector(request, connector_id)
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"detail": "send a JSON object"})
        try:
            integration = services.integration_put(
                connector=connector, data=dict(request.data), user=request.user
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from None
        return Response(selectors.integration_json(integration))

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id):
        services.integration_delete(integration=_integration(request, connector_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SyncView(APIView):
    """Run the sync now: a job with counts (``/api/v1/jobs/<id>/``). While a run is queued or
    under way, that run is answered (200) instead of a new one (202)."""

    @extend_schema(request=None, responses={202: JobSerializer, 200: JobSerializer})
    def post(self, request, connector_id):
        integration = _integration(request, connector_id)
        job, started = services.sync_start(integration=integration, user=request.user)
        location = reverse("jobs-api:job-detail", kwargs={"job_id": str(job.pk)})
        return Response(
            JobSerializer(job).data,
            status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK,
            headers={"Location": location},
        )


class HealthView(APIView):
    """The third party's health as last checked; ``POST`` checks it now."""

    @extend_schema(responses=HealthSerializer)
    def get(self, request, connector_id):
        return Response(selectors.health_json(_integration(request, connector_id)))

    @extend_schema(request=None, responses=HealthSerializer)
    def post(self, request, connector_id):
        integration = _integration(request, connector_id)
        services.health_check(integration=integration)
        return Response(selectors.health_json(integration))


class OperationListView(APIView):
    """The operations of the integration's spec, with their parameters."""

    @extend_schema(responses=OperationSerializer(many=True))
    def get(self, request, connector_id):
        integration = _integration(request, connector_id)
        return Response(operations.operations_list(services.integration_spec(integration)))


class OperationCallView(APIView):
    """Call one operation: ``{"params": {…}, "body": {…}}`` → the third party's status and JSON."""

    @extend_schema(
        request={"application/json": OPERATION_CALL_SCHEMA},
        responses={
            200: OperationAnswerSerializer,
            502: OpenApiResponse(ErrorSerializer, description="The third party could not be reached."),
        },
    )
    def post(self, request, connector_id, operation_id):
        integration = _integration(request, connector_id)
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise exceptions.ValidationError({"detail": "send a JSON object"})
        unknown = sorted(set(data) - {"params", "body"})
        if unknown:
            raise exceptions.ValidationError({name: ["unknown field"] for name in unknown})
        try:
            answer = operations.operation_call(
                integration=integration,
                operation_id=operation_id,
                params=data.get("params"),
                body=data.get("body"),
            )
        except operations.NoSuchOperation:
            raise exceptions.NotFound(f"The spec has no operation {operation_id}.") from None
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from None
        except CallFailed as exc:
            raise ThirdPartyUnreachable(exc.reason) from None
        return Response({"status": answer.status, "body": answer.body})
