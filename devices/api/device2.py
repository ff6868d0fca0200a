"""Murano Device2 compatibility routes (``/api:1/service/<connector-id>/device2/...``).

Thin adapters over the same services and selectors as the ``/api/v1`` routes, answering with
Murano's shapes and status codes (204 on whitelist/update, 205 on delete).
"""

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors import services as connector_services
from connectors.api.serializers import ResourceSerializer, ResourceUpdateSerializer, connector_change
from connectors.models import Connector
from connectors.runtime import connector_rules
from connectors.selectors import connector_access, resources_by_alias
from core.api import StrictTypes
from core.openapi import conflict, integer_schema, query
from devices import services
from devices.api.serializers import (
    IDENTITY_SCHEMA,
    AuthInputSerializer,
    Device2GatewaySerializer,
    Device2GatewayUpdateSerializer,
    Device2PageSerializer,
    Device2Serializer,
    DeviceState,
    DeviceUpdateSerializer,
    IssuedCertificateSerializer,
    TagSerializer,
)
from devices.api.views import (
    FILTER_PARAMETERS,
    STATE_CHANGE_SCHEMA,
    DeviceStateBase,
    issued_certificate,
    update_from_payload,
    whitelist_from_payload,
)
from devices.filters import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    device_list_query,
    device_offset_page,
    device_tags,
    parse_int,
    parse_limit,
)
from devices.models import Device
from devices.selectors import datetime_to_us, device_get, device_is_online, device_state

# Offsets past this are refused: a client paging that deep wants the cursor list of /api/v1.
MAX_OFFSET = 10_000_000
_ABSENT = object()
# Resources one gateway PATCH may define, change or remove.
MAX_RESOURCE_CHANGES = 1000


class Device2WhitelistSerializer(StrictTypes, serializers.Serializer):
    auth = AuthInputSerializer(required=False)
    locked = serializers.BooleanField(required=False, default=False)
    tags = TagSerializer(many=True, required=False)


def device2_representation(device: Device, rules, tags: list[dict] | None = None) -> dict:
    """Murano's ``getIdentity`` shape. ``tags``: the device's tags when a list loaded them."""
    if tags is None:
        tags = [{"name": t.name, "value": t.value} for t in device.tags.order_by("name", "value")]
    return {
        "identity": device.identity,
        "auth": {"type": device.auth_type or None},
        "state": device_state(device=device, rules=rules),
        "locked": device.locked,
        "reprovision": device.reprovision,
        "devmode": device.devmode,
        "lastip": device.last_ip,
        "lastseen": datetime_to_us(device.last_seen),
        "status": device.status,
        "online": device_is_online(device),
        "tags": tags,
    }


class Device2IdentityView(APIView):
    """Whitelist (PUT), read (GET), change (PATCH) or remove (DELETE) one identity."""

    def _connector(self, request, connector_id):
        return connector_access(
            user=request.user, connector_id=connector_id, action=action_for_method(request.method)
        ).connector

    @extend_schema(
        request=Device2WhitelistSerializer,
        parameters=[OpenApiParameter("identity", IDENTITY_SCHEMA, OpenApiParameter.PATH)],
        responses={
            204: None,
            200: IssuedCertificateSerializer,
            409: conflict("The identity is whitelisted already."),
        },
        description="Whitelist the identity (204). With a CSR (`auth.type` `csr`, `auth.key` its PEM) "
        'the connector signs it and answers 200 with `{"certificate": "<PEM>"}`.',
    )
    def put(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        serializer = Device2WhitelistSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = whitelist_from_payload(connector, {**serializer.validated_data, "identity": identity})
        issued = issued_certificate(device, serializer.validated_data)
        if issued is not None:
            return Response(issued, status=status.HTTP_200_OK)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=Device2Serializer)
    def get(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        return Response(device2_representation(device, connector_rules(connector)))

    @extend_schema(request=DeviceUpdateSerializer, responses={204: None})
    def patch(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        device = device_get(connector=connector, identity=identity)
        serializer = DeviceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update_from_payload(device, serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={205: None})
    def delete(self, request, connector_id, identity):
        connector = self._connector(request, connector_id)
        services.device_delete(device=device_get(connector=connector, identity=identity))
        return Response(status=status.HTTP_205_RESET_CONTENT)


class Device2StateView(DeviceStateBase):
    """Read the identity's state, or set cloud values (``{alias: value}``)."""

    @extend_schema(responses={200: DeviceState})
    def get(self, request, connector_id, identity):
        return Response(self.state_read(request, connector_id, identity))

    @extend_schema(
        request={"application/json": STATE_CHANGE_SCHEMA},
        responses={204: None},
    )
    def patch(self, request, connector_id, identity):
        self.state_set(request, connector_id, identity)
        return Response(status=status.HTTP_204_NO_CONTENT)


class Device2IdentityListView(APIView):
    """Murano's ``listIdentities``: a page of identities by offset, in identity order."""

    @extend_schema(
        description=(
            "Identities of the connector in identity order, `offset`/`limit` paged as in Murano; "
            "`mayLoadMore` tells whether another page follows. Filters as on "
            "`GET /api/v1/connectors/<id>/devices/`: `status`, `identity` (prefix), `tag` (`name` or "
            "`name:value`, repeat for AND), and also `q` and `ip`. For deep paging through large "
            "fleets use that cursor-paginated list instead."
        ),
        parameters=[
            query("limit", integer_schema(1, MAX_PAGE_SIZE, blank=True), f"default {DEFAULT_PAGE_SIZE}"),
            query("offset", integer_schema(0, MAX_OFFSET, blank=True), "default 0"),
            *FILTER_PARAMETERS.values(),
        ],
        responses=Device2PageSerializer,
        operation_id="api1_service_device2_identity_list",
    )  # fmt: skip
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        params = request.query_params
        _, devices = device_list_query(connector, params, accept=("status", "identity", "q", "tag", "ip"))
        limit = parse_limit(params)
        offset = parse_int(params, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
        page, more = device_offset_page(devices, offset=offset, limit=limit)
        prefetch_related_objects(page, "states")
        rules, tags = connector_rules(connector), device_tags(page)
        return Response(
            {
                "devices": [device2_representation(d, rules, tags[d.pk]) for d in page],
                "mayLoadMore": more,
            }
        )


def gateway_settings(connector: Connector) -> dict:
    """Murano's ``getGatewaySettings``: the connector's device-facing settings and resources."""
    return Device2GatewaySerializer(connector).data


def _resource_changes(connector: Connector, changes) -> list[connector_services.ResourceChange]:
    """The gateway PATCH's ``resources``, each validated by the resource serializers (an error
    names its alias): a new alias is defined, an existing one changed, ``null`` removes it."""
    if not isinstance(changes, dict):
        raise exceptions.ValidationError({"resources": ["must be an object of alias: resource (or null)"]})
    if len(changes) > MAX_RESOURCE_CHANGES:
        raise exceptions.ValidationError({"resources": [f"at most {MAX_RESOURCE_CHANGES} aliases at once"]})
    existing = resources_by_alias(connector=connector, aliases=list(changes))
    validated = []
    for alias, fields in changes.items():
        resource = existing.get(alias)
        if fields is not None and not isinstance(fields, dict):
            problem = ["must be an object, or null to remove the resource"]
            raise exceptions.ValidationError({"resources": {alias: problem}})
        if fields is not None:
            if resource is None:
                serializer = ResourceSerializer(data={**fields, "alias": alias})
            else:
                serializer = ResourceUpdateSerializer(resource, data=fields, partial=True)
            try:
                serializer.is_valid(raise_exception=True)
            except exceptions.ValidationError as exc:
                raise exceptions.ValidationError({"resources": {alias: exc.detail}}) from None
            fields = dict(serializer.validated_data)
        validated.append(connector_services.ResourceChange(alias, resource, fields))
    return validated


class Device2GatewayView(APIView):
    """Murano's gateway settings: ``protocol``, ``identity_format``, ``provisioning`` and
    ``resources`` of the connector (the same settings as ``/api/v1/connectors/<id>/``)."""

    @extend_schema(responses=Device2GatewaySerializer)
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        return Response(gateway_settings(connector))

    @extend_schema(
        description=(
            "Change settings key by key, as `PATCH /api/v1/connectors/<id>/` does. `resources` maps "
            "aliases to resource fields: a new alias is defined, an existing one changed, `null` "
            "removes it; aliases not named stay as they are. All or nothing: on any error nothing "
            "changes."
        ),
        request=Device2GatewayUpdateSerializer,
        responses=Device2GatewaySerializer,
    )
    def patch(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = Device2GatewayUpdateSerializer(connector, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        resources = changes.pop("resources", _ABSENT)
        try:
            connector_change(
                connector_services.connector_gateway_change,
                connector=connector,
                settings=changes,
                resources=[] if resources is _ABSENT else _resource_changes(connector, resources),
            )
        except connector_services.ResourceChangeRefused as exc:
            error = exc.error
            detail = error.message_dict if hasattr(error, "error_dict") else error.messages
            raise exceptions.ValidationError({"resources": {exc.alias: detail}}) from None
        connector.refresh_from_db()
        return Response(gateway_settings(connector))
