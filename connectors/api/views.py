"""Management API: connectors and resources."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Business
from accounts.selectors import businesses_for_user, role_can_write, role_in_business
from connectors import services
from connectors.api.serializers import ConnectorSerializer, ResourceSerializer, ResourceUpdateSerializer
from connectors.models import Resource
from connectors.selectors import connectors_for_user, resource_list
from murano.api import action_for_method, connector_for_request


def _business_for_new_connector(request, business_id) -> Business:
    if business_id is None:
        writable = [
            b for b in businesses_for_user(request.user)
            if role_can_write(role_in_business(user=request.user, business_id=b.pk))
        ]  # fmt: skip
        if len(writable) != 1:
            raise exceptions.ValidationError({"business": ["Say which business owns the connector."]})
        return writable[0]
    business = businesses_for_user(request.user).filter(pk=business_id).first()
    if business is None:
        raise exceptions.ValidationError({"business": ["No such business."]})
    if not role_can_write(role_in_business(user=request.user, business_id=business.pk)):
        raise exceptions.PermissionDenied("Your role in this business is read-only.")
    return business


class ConnectorListView(APIView):
    """List the connectors you can see, or create one (``{"name": ...}`` is enough)."""

    @extend_schema(responses=ConnectorSerializer(many=True))
    def get(self, request):
        connectors = connectors_for_user(request.user).prefetch_related("hostname_set")
        return Response(ConnectorSerializer(connectors, many=True).data)

    @extend_schema(request=ConnectorSerializer, responses={201: ConnectorSerializer})
    def post(self, request):
        serializer = ConnectorSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        business = _business_for_new_connector(request, data.pop("business_id", None))
        name = data.pop("name")
        connector = services.connector_create(business=business, name=name, settings=data)
        return Response(ConnectorSerializer(connector).data, status=status.HTTP_201_CREATED)


class ConnectorDetailView(APIView):
    """Read, change (nested keys merged) or delete one connector."""

    @extend_schema(responses=ConnectorSerializer)
    def get(self, request, connector_id):
        connector = connector_for_request(request, connector_id)
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(request=ConnectorSerializer, responses=ConnectorSerializer)
    def patch(self, request, connector_id):
        connector = connector_for_request(request, connector_id, action="write")
        serializer = ConnectorSerializer(connector, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "business_id" in changes:
            raise exceptions.ValidationError({"business": ["A connector cannot change business."]})
        services.connector_update(connector=connector, changes=changes)
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id):
        connector = connector_for_request(request, connector_id, action="admin")
        services.connector_delete(connector=connector)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResourceListView(APIView):
    """The connector's resources; POST defines a new alias."""

    @extend_schema(responses=ResourceSerializer(many=True))
    def get(self, request, connector_id):
        connector = connector_for_request(request, connector_id)
        return Response(ResourceSerializer(resource_list(connector=connector), many=True).data)

    @extend_schema(request=ResourceSerializer, responses={201: ResourceSerializer})
    def post(self, request, connector_id):
        connector = connector_for_request(request, connector_id, action="write")
        serializer = ResourceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        resource = services.resource_create(connector=connector, **serializer.validated_data)
        return Response(ResourceSerializer(resource).data, status=status.HTTP_201_CREATED)


class ResourceDetailView(APIView):
    """One resource by alias."""

    def _resource(self, request, connector_id, alias):
        connector = connector_for_request(request, connector_id, action=action_for_method(request.method))
        return get_object_or_404(Resource, connector=connector, alias=alias)

    @extend_schema(responses=ResourceSerializer)
    def get(self, request, connector_id, alias):
        return Response(ResourceSerializer(self._resource(request, connector_id, alias)).data)

    @extend_schema(request=ResourceUpdateSerializer, responses=ResourceSerializer)
    def patch(self, request, connector_id, alias):
        resource = self._resource(request, connector_id, alias)
        serializer = ResourceUpdateSerializer(resource, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.resource_update(resource=resource, **serializer.validated_data)
        return Response(ResourceSerializer(resource).data)

    @extend_schema(request=ResourceUpdateSerializer, responses=ResourceSerializer)
    def put(self, request, connector_id, alias):
        return self.patch(request, connector_id, alias)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id, alias):
        services.resource_delete(resource=self._resource(request, connector_id, alias))
        return Response(status=status.HTTP_204_NO_CONTENT)
