"""Management API: connectors and resources."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors import services
from connectors.api.serializers import (
    ConnectorChangeSerializer,
    ConnectorSerializer,
    ResourceSerializer,
    ResourceUpdateSerializer,
    connector_change,
)
from connectors.selectors import (
    business_for_new_connector,
    connector_access,
    connectors_for_user,
    resource_get,
    resource_list,
)
from core.api import Conflict
from core.openapi import conflict


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
        business = business_for_new_connector(user=request.user, business_id=data.pop("business_id", None))
        name = data.pop("name")
        connector = connector_change(services.connector_create, business=business, name=name, settings=data)
        return Response(ConnectorSerializer(connector).data, status=status.HTTP_201_CREATED)


class ConnectorDetailView(APIView):
    """Read, change (nested keys merged) or delete one connector."""

    @extend_schema(responses=ConnectorSerializer)
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(ConnectorSerializer(connector).data)

    @extend_schema(
        request=ConnectorSerializer,
        responses={200: ConnectorChangeSerializer, 409: conflict("A connector cannot change business.")},
    )
    def patch(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = ConnectorSerializer(connector, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if changes.pop("business_id", connector.business_id) != connector.business_id:
            raise Conflict({"business": ["A connector cannot change business."]})
        change = connector_change(services.connector_settings_change, connector=connector, changes=changes)
        return Response(ConnectorChangeSerializer(change).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="admin").connector
        services.connector_delete(connector=connector)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResourceListView(APIView):
    """The connector's resources; POST defines a new alias."""

    @extend_schema(responses=ResourceSerializer(many=True))
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(ResourceSerializer(resource_list(connector=connector), many=True).data)

    @extend_schema(
        request=ResourceSerializer,
        responses={201: ResourceSerializer, 409: conflict("The alias is defined already.")},
    )
    def post(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = ResourceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        resource = services.resource_create(connector=connector, **serializer.validated_data)
        return Response(ResourceSerializer(resource).data, status=status.HTTP_201_CREATED)


class ResourceDetailView(APIView):
    """One resource by alias."""

    def _resource(self, request, connector_id, alias):
        connector = connector_access(
            user=request.user, connector_id=connector_id, action=action_for_method(request.method)
        ).connector
        return resource_get(connector=connector, alias=alias)

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
