"""Management API: a connector's own client CA (``POST .../pki/generate-ca/``)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors import pki, services
from connectors.api.serializers import PkiSerializer
from connectors.selectors import connector_access
from core.api import StrictTypes
from core.openapi import ErrorSerializer


class CaGenerateSerializer(StrictTypes, serializers.Serializer):
    common_name = serializers.CharField(
        required=False, allow_blank=True, max_length=64,
        help_text="subject CN of the CA, at most 64 bytes in UTF-8; by default the connector's name "
        "(shortened to fit) and id",
    )  # fmt: skip
    validity_days = serializers.IntegerField(
        required=False, min_value=1, max_value=36500, default=pki.CA_DAYS,
        help_text="how long the CA is valid, in days",
    )  # fmt: skip
    replace = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "replace the connector's current CA: certificates it issued stop being accepted once PKI is on"
        ),
    )


class CaGenerateView(APIView):
    """Make a new client CA for the connector (ECDSA P-256; its private key is kept encrypted and
    never shown) instead of uploading one, and answer the connector's ``pki`` settings with the
    new CA certificate. ``pki.enabled`` and ``pki.sign_csr`` are left as they were."""

    @extend_schema(
        request=CaGenerateSerializer,
        responses={
            201: PkiSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The connector has a CA; send replace: true."),
        },
    )
    def post(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = CaGenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            connector = services.connector_ca_generate(
                connector=connector,
                common_name=data.get("common_name", ""),
                days=data["validity_days"],
                replace=data["replace"],
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        except services.CaAlreadyExists:
            return Response(
                {"detail": 'The connector already has a CA. Send {"replace": true} to replace it.'},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(PkiSerializer(connector).data, status=status.HTTP_201_CREATED)
